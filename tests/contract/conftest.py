"""Contract tests run against the session's deployed raybase, with tests/api's HTTP fixtures."""

from tests.api.conftest import admin_headers, client, tenant  # noqa: F401  (fixtures)
