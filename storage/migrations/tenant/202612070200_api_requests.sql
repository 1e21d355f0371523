-- The tenant's API requests a month (UTC; `month` is its first day), added to by the gateways'
-- request meters (serve/request_meter.py) and held against the plan's api_requests_per_month.
CREATE TABLE api_requests (month DATE, requests BIGINT);
