CREATE TABLE users (
    id VARCHAR, email VARCHAR, phone VARCHAR, password_hash VARCHAR, role VARCHAR,
    email_verified BOOLEAN, phone_verified BOOLEAN, is_anonymous BOOLEAN, user_metadata JSON,
    banned BOOLEAN, ban_reason VARCHAR, last_sign_in_at TIMESTAMP, last_export_at TIMESTAMP,
    created_at TIMESTAMP, updated_at TIMESTAMP
);
CREATE TABLE user_identities (
    id VARCHAR, user_id VARCHAR, provider VARCHAR, provider_user_id VARCHAR, email VARCHAR,
    data JSON, created_at TIMESTAMP, updated_at TIMESTAMP
);
CREATE TABLE sessions (
    id VARCHAR, user_id VARCHAR, refresh_hash VARCHAR, ip VARCHAR, user_agent VARCHAR,
    aal INTEGER, method VARCHAR, created_at TIMESTAMP, last_active_at TIMESTAMP,
    expires_at TIMESTAMP, revoked_at TIMESTAMP
);
-- Every refresh token a session was given (id: its SHA-256): a used one presented again
-- reveals a stolen token, and its session (the token family) is revoked.
CREATE TABLE refresh_tokens (
    id VARCHAR, session_id VARCHAR, created_at TIMESTAMP, rotated_at TIMESTAMP
);
-- Single-use emailed tokens (signup, magiclink, recovery, email_change, invite) and MFA tickets
-- (id: the token's SHA-256).
CREATE TABLE auth_tokens (
    id VARCHAR, kind VARCHAR, user_id VARCHAR, email VARCHAR, data JSON,
    created_at TIMESTAMP, expires_at TIMESTAMP, used_at TIMESTAMP
);
CREATE TABLE mfa_factors (
    id VARCHAR, user_id VARCHAR, factor_type VARCHAR, friendly_name VARCHAR, secret VARCHAR,
    status VARCHAR, created_at TIMESTAMP, updated_at TIMESTAMP, last_used_at TIMESTAMP
);
-- Access-token signing keys (id: the JWT `kid`); a retired key still verifies for a while.
CREATE TABLE auth_keys (id VARCHAR, secret VARCHAR, created_at TIMESTAMP, retired_at TIMESTAMP);
-- Small JSON documents of the tenant's auth: `governance`, the auth config, ...
CREATE TABLE auth_settings (id VARCHAR, value JSON, updated_at TIMESTAMP);
