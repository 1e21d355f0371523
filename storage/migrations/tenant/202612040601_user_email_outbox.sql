-- Emails whose presence in the tenant changed and that the control plane's email index
-- (portal-identify) has not yet acknowledged (storage/auth/email_index.py). Written in the same
-- transaction as the user change; the gateway drains it after the shard commits.
CREATE TABLE user_email_outbox (id VARCHAR, email VARCHAR, created_at TIMESTAMP);
-- Users that existed before the index: queued once, indexed at the tenant's first drain.
INSERT INTO user_email_outbox
SELECT 'ueo_' || id, email, now()::TIMESTAMP FROM users WHERE email IS NOT NULL;
