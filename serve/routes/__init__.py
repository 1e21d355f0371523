"""Route modules, one per API area, in the order they are mounted."""

from serve.routes import (
    ai,
    ai_generation,
    analytics,
    api_keys,
    associations,
    audit,
    auth_config,
    comments,
    error_reports,
    events,
    file_content,
    files,
    import_export,
    notifications,
    object_types,
    objects,
    properties,
    public,
    realtime,
    reports,
    search,
    sql,
    tenants,
    views,
    webhooks,
)
from serve.routes.auth import account as auth_account
from serve.routes.auth import mfa as auth_mfa
from serve.routes.auth import oauth as auth_oauth
from serve.routes.auth import passkeys as auth_passkeys
from serve.routes.auth import portal as auth_portal
from serve.routes.auth import saml as auth_saml
from serve.routes.auth import signin as auth_signin
from serve.routes.auth import users as auth_users

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
    file_content.router,
    files.router,
    reports.router,
    import_export.router,
    sql.router,
    analytics.router,
    audit.router,
    auth_config.router,
    events.router,
    realtime.router,
    realtime.stream_router,
    error_reports.router,
    webhooks.router,
    webhooks.deliveries_router,
    webhooks.dlq_router,
    auth_signin.router,
    auth_oauth.router,
    auth_portal.router,
    auth_account.router,
    auth_account.sessions_router,
    auth_mfa.router,
    auth_passkeys.router,
    auth_users.router,
    auth_users.governance_router,
    auth_saml.router,
    notifications.router,
    notifications.service_router,
    ai.router,
    ai_generation.router,
)
