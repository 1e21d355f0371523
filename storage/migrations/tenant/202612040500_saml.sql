-- SAML sign-ins started and awaiting the IdP's answer (id: the SHA-256 of the RelayState token;
-- request_id: the AuthnRequest's ID, which the response's InResponseTo must name).
CREATE TABLE saml_requests (
    id VARCHAR, provider VARCHAR, request_id VARCHAR, redirect_to VARCHAR,
    created_at TIMESTAMP, expires_at TIMESTAMP, used_at TIMESTAMP
);
-- Assertions already consumed, remembered until they expire: the same assertion is refused.
CREATE TABLE saml_assertions (
    id VARCHAR, provider VARCHAR, assertion_id VARCHAR, user_id VARCHAR,
    created_at TIMESTAMP, expires_at TIMESTAMP
);
