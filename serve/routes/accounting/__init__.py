"""Accounting routes (`/v1/accounting`): the tenant's double-entry books, one module per
sub-resource as in storage/accounting/. API keys with `read` read the books, `write` changes
them. `ROUTERS` is mounted in this order."""

from serve.routes.accounting import (
    accounts,
    bank_accounts,
    bank_transactions,
    currencies,
    exchange_rates,
    invoices,
    journal,
    payments,
    periods,
    recurring,
    reports,
    tax_codes,
)

ROUTERS = (
    accounts.router,
    journal.router,
    periods.router,
    currencies.router,
    exchange_rates.router,
    tax_codes.router,
    invoices.router,
    payments.router,
    bank_accounts.router,
    bank_transactions.router,
    recurring.router,
    reports.router,
)
