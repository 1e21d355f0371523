"""Route modules, one per API area, in the order they are mounted."""

from serve.routes import (
    analytics,
    api_keys,
    associations,
    audit,
    comments,
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
    views,
)

ROUTERS = (
    public.router,
    tenants.router,
    api_keys.router,
    object_types.router,
    properties.router,
    views.router,
    search.router,
    associations.router,
    comments.router,
    objects.router,
    reports.router,
    sql.router,
    analytics.router,
    audit.router,
    events.router,
    error_reports.router,
)
