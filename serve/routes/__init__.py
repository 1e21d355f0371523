"""Route modules, one per API area, in the order they are mounted."""

from serve.routes import (
    analytics,
    api_keys,
    audit,
    error_reports,
    events,
    object_types,
    objects,
    properties,
    public,
    reports,
    search,
    sql,
    tenants,
)

ROUTERS = (
    public.router,
    tenants.router,
    api_keys.router,
    object_types.router,
    properties.router,
    search.router,
    objects.router,
    reports.router,
    sql.router,
    analytics.router,
    audit.router,
    events.router,
    error_reports.router,
)
