"""Contract rows kept beside their areas (shape rows as plain dicts and `ids(tenant)`, one record
of each kind for the hostile-input test): the books' areas,
forms, dashboards and saved reports."""

from tests.contract import (
    accounting_shapes_banking,
    accounting_shapes_invoices,
    accounting_shapes_ledger,
    accounting_shapes_reports,
    shapes_dashboards,
    shapes_forms,
)

AREAS = (accounting_shapes_ledger, accounting_shapes_invoices, accounting_shapes_banking,
         accounting_shapes_reports, shapes_forms, shapes_dashboards)
