-- A tenant's AI calls a day, set by the operator (admin API) over its plan's; null: the plan's.
ALTER TABLE tenants ADD COLUMN ai_calls_per_day BIGINT DEFAULT NULL;
