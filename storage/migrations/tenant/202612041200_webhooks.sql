-- Webhooks (storage/webhooks/): the tenant's endpoints, their messages and the attempt log.
-- A message is one event for one endpoint: its id is the delivery id (X-Raybase-Delivery, the
-- same on every attempt); `pos` orders an endpoint's messages (delivered strictly in order);
-- status pending | delivered | dead (in the DLQ) | discarded | failed (a test or replay send
-- that got no 2xx: never retried by itself). `dead_at` stays set while a DLQ retry is pending.
-- An endpoint gets the events after `since_event_id`, the tenant's last event when it was made.
CREATE TABLE webhooks (
    id VARCHAR, url VARCHAR, events VARCHAR[], object_types VARCHAR[], status VARCHAR,
    secret VARCHAR, description VARCHAR, created_by VARCHAR, created_at TIMESTAMP,
    updated_at TIMESTAMP, since_event_id BIGINT
);
CREATE TABLE webhook_messages (
    id VARCHAR, webhook_id VARCHAR, pos BIGINT, event_id BIGINT, event_type VARCHAR,
    body VARCHAR, status VARCHAR, attempts INTEGER, next_attempt_at TIMESTAMP,
    last_status_code INTEGER, last_error VARCHAR, created_at TIMESTAMP, updated_at TIMESTAMP,
    dead_at TIMESTAMP, finished_at TIMESTAMP
);
CREATE TABLE webhook_attempts (
    id VARCHAR, message_id VARCHAR, webhook_id VARCHAR, event_type VARCHAR, attempt INTEGER,
    status_code INTEGER, duration_ms DOUBLE, response_excerpt VARCHAR, error VARCHAR,
    attempted_at TIMESTAMP
);
-- The id of the last outbox event queued: a batch handed again after a crash is not queued twice.
CREATE TABLE webhook_cursor (id VARCHAR, last_event_id BIGINT);
INSERT INTO webhook_cursor VALUES ('enqueued', 0);
