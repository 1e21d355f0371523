-- In-app notifications of end users (storage/notifications.py), newest first per user.
CREATE TABLE notifications (
    id VARCHAR, user_id VARCHAR, type VARCHAR, title VARCHAR, body VARCHAR, category VARCHAR,
    metadata JSON, is_read BOOLEAN, read_at TIMESTAMP, created_at TIMESTAMP
);
-- A user's choice for one delivery channel (in_app, email, sms, push); no row: the channel's
-- default. id is '<user_id>:<channel>'. categories: the categories the channel carries (empty:
-- all of them).
CREATE TABLE notification_preferences (
    id VARCHAR, user_id VARCHAR, channel VARCHAR, enabled BOOLEAN, categories VARCHAR[],
    updated_at TIMESTAMP
);
-- Notification emails waiting for the gateway, written with the notification: the gateway
-- claims rows (claimed_until: a lease, so two gateways do not both send one), sends them through
-- the email provider and deletes the sent ones; a failed send stays with its error and is tried
-- again at a later claim, up to a number of attempts.
CREATE TABLE notification_emails (
    id VARCHAR, notification_id VARCHAR, user_id VARCHAR, message JSON, attempts INTEGER,
    claimed_until TIMESTAMP, last_error VARCHAR, created_at TIMESTAMP
);
