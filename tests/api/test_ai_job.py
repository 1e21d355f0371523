"""The batch indexing job against the session's Ray: `raybase ai index` stopped after two
batches, then `python -m ai.jobs.index` (what `ray job submit` runs) resumes without redoing
them, and the index ends consistent with the objects (deletions meanwhile included)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from storage.vectors import VectorStore
from tests.api.builders import make_objects, make_type, poll
from tests.api.conftest import ok

pytestmark = pytest.mark.ray

ROOT = Path(__file__).resolve().parents[2]
TOPICS = ["gardening", "astronomy", "cooking", "football", "banking"]


def driver(args: list[str]) -> subprocess.CompletedProcess:
    """A Ray driver joining the session's cluster, as a job submitted to it runs."""
    import ray

    env = {**os.environ, "RAY_ADDRESS": ray.get_runtime_context().gcs_address,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


def lines(out: str, word: str) -> list[str]:
    return [line for line in out.splitlines() if word in line]


def test_the_job_indexes_in_batches_and_resumes_after_a_stop(tenant, service):
    t = make_type(tenant, "doc", [("title", "string")])
    ids = []
    for start in (0, 100, 200):
        ids += make_objects(tenant, "doc", [{"title": f"Note {i} on {TOPICS[i % 5]}"}
                                            for i in range(start, min(start + 100, 230))])
    first = driver(["-m", "serve.cli", "ai", "index", "--tenant", tenant.id, "--object-type",
                    "doc", "--batch-size", "50", "--parallel", "2", "--max-batches", "2",
                    "--data-dir", str(service["data_dir"])])
    assert first.returncode == 3, first.stdout + first.stderr
    assert len(lines(first.stdout, "batch ")) == 2 and "stopped early" in first.stdout
    store = VectorStore(Path(service["data_dir"]) / "vectors")
    assert len(store.entries(tenant.id, t["id"])) == 100
    ok(tenant.call("DELETE", f"/v1/objects/doc/{ids[0]}"))  # indexed: the outbox removes it
    ok(tenant.call("DELETE", f"/v1/objects/doc/{ids[150]}"))  # not indexed yet: never will be
    poll(lambda: None, lambda _: ids[0] not in store.entries(tenant.id, t["id"]), timeout=30,
         interval=0.5)
    assert ids[0] not in store.entries(tenant.id, t["id"])
    second = driver(["-m", "ai.jobs.index", "--tenant", tenant.id, "--object-type", t["id"],
                     "--batch-size", "10"])  # the plan saved keeps its 50
    assert second.returncode == 0, second.stdout + second.stderr
    assert "resuming, 2 of 5 batches already done" in second.stdout
    assert len(lines(second.stdout, "batch ")) == 3  # the finished two are not redone
    summary = json.loads(lines(second.stdout, '"complete": true')[0].split(" ", 1)[1])
    assert summary["indexed"] == 129 and summary["rows"] == 228
    assert set(store.entries(tenant.id, t["id"])) == set(ids) - {ids[0], ids[150]}
    found = ok(tenant.call("POST", "/v1/ai/search", json={"query": "plants and flowers",
                                                          "limit": 5}))["results"]
    assert all("gardening" in r["object"]["properties"]["title"] for r in found)
    again = driver(["-m", "ai.jobs.index", "--tenant", tenant.id, "--batch-size", "500"])
    assert again.returncode == 0 and "resuming" not in again.stdout  # a fresh, whole-tenant run
