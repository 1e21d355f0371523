-- TOTP factors remember the last time step a code was accepted for (a code is refused again
-- within its window) and when they were verified.
ALTER TABLE mfa_factors ADD COLUMN last_step BIGINT;
ALTER TABLE mfa_factors ADD COLUMN verified_at TIMESTAMP;
-- A user's single-use recovery codes (id: SHA-256 of `<user id>:<code>`), shown once.
CREATE TABLE mfa_recovery_codes (
    id VARCHAR, user_id VARCHAR, created_at TIMESTAMP, used_at TIMESTAMP
);
