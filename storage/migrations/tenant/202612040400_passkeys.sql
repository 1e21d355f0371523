-- End users' WebAuthn credentials (passkeys). credential_id: the authenticator's credential id,
-- base64url (unique in the tenant); public_key: its COSE public key, base64url; sign_count: the
-- last signature counter seen (a counter that does not grow reveals a cloned authenticator).
-- The ceremonies' challenges are single-use rows of auth_tokens (kinds passkey_*).
CREATE TABLE passkeys (
    id VARCHAR, user_id VARCHAR, credential_id VARCHAR, public_key VARCHAR, sign_count BIGINT,
    transports JSON, friendly_name VARCHAR, aaguid VARCHAR, device_type VARCHAR,
    backed_up BOOLEAN, created_at TIMESTAMP, last_used_at TIMESTAMP
);
