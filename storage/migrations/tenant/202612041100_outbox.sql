-- The event outbox (storage/outbox.py): every change's typed event, written in the change's own
-- transaction. `seq` is the event's id, strictly increasing per tenant; the shard dispatches rows
-- after commit in `seq` order (actors/tenant_shard.py) and keeps them for the resume window.
CREATE TABLE outbox (
    seq BIGINT, event_type VARCHAR, resource_type VARCHAR, resource_id VARCHAR,
    actor_id VARCHAR, channels VARCHAR[], data JSON, previous JSON, created_at TIMESTAMP
);
