"""Shape-contract rows for the accounting reports (serve/routes/accounting/reports.py), as plain
dicts for tests/contract/test_shapes.py to turn into `Shape` rows: `setup` posts one entry so
each report has a line to show; `params` are query parameters."""

from __future__ import annotations

import time
from typing import Any

R = "/v1/accounting/reports"


def _posted(t: Any, w: dict[str, Any]) -> dict[str, Any]:
    """A bank and a revenue account and one posted entry between them (codes unique per call:
    the world's tenant is shared). The reports' paths have no parameter to answer."""
    ids = []
    for kind, sub_type in (("asset", "bank"), ("revenue", None)):
        body = {"code": f"R{time.monotonic_ns()}", "name": f"Report {kind}", "type": kind,
                "sub_type": sub_type}
        r = t.call("POST", "/v1/accounting/accounts", json=body)
        assert r.status_code == 201, r.text
        ids.append(r.json()["data"]["id"])
    lines = [{"account_id": ids[0], "debit": "10"}, {"account_id": ids[1], "credit": "10"}]
    r = t.call("POST", "/v1/accounting/journal-entries",
               json={"date": "2026-01-15", "post": True, "lines": lines})
    assert r.status_code == 201, r.text
    return {}


RANGE = {"from": "2026-01-01", "to": "2026-12-31"}
SHAPES: dict[tuple[str, str], dict[str, Any]] = {
    ("GET", f"{R}/trial-balance"): {"setup": _posted, "params": {"as_of": "2026-12-31"}},
    ("GET", f"{R}/balance-sheet"): {"setup": _posted, "params": {"as_of": "2026-12-31"}},
    ("GET", f"{R}/profit-and-loss"): {"params": RANGE},
    ("GET", f"{R}/cash-flow"): {"params": RANGE},
    ("GET", f"{R}/general-ledger"): {"setup": _posted, "params": RANGE},
    ("GET", f"{R}/aged-receivables"): {"params": {"as_of": "2026-12-31"}},
    ("GET", f"{R}/aged-payables"): {"params": {"as_of": "2026-12-31"}},
    ("GET", f"{R}/tax"): {"params": RANGE},
}


def ids(tenant: Any) -> dict[str, str]:
    """The reports' routes have no path parameter: nothing to create for the hostile test."""
    return {}
