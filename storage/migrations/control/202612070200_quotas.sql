-- A tenant's own limits, set by the operator (admin API) over its plan's: a JSON object of
-- objects, seats and api_requests_per_month (storage/plans.py OVERRIDABLE); null: the plan's.
ALTER TABLE tenants ADD COLUMN quotas JSON DEFAULT NULL;
