"""Route modules, one per API area, in the order they are mounted."""

from serve.routes import (
    api_keys,
    object_types,
    objects,
    properties,
    public,
    reports,
    search,
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
)
