-- Dashboards and their widgets (storage/dashboards.py) and saved reports (storage/saved_reports.py).
-- JSON columns hold json.dumps text. `share_token` is set while a dashboard is public (NULL
-- revokes it). A saved report's `next_run_at` is the next time its cron `schedule` is due.
CREATE TABLE dashboards (
    id VARCHAR, name VARCHAR, description VARCHAR, layout_json VARCHAR, is_public BOOLEAN,
    share_token VARCHAR, created_at TIMESTAMP, updated_at TIMESTAMP
);
CREATE TABLE dashboard_widgets (
    id VARCHAR, dashboard_id VARCHAR, type VARCHAR, title VARCHAR, config_json VARCHAR,
    position_json VARCHAR, created_at TIMESTAMP, updated_at TIMESTAMP
);
CREATE TABLE saved_reports (
    id VARCHAR, name VARCHAR, description VARCHAR, type VARCHAR, config_json VARCHAR,
    schedule VARCHAR, recipients VARCHAR, next_run_at TIMESTAMP, last_run_at TIMESTAMP,
    last_result VARCHAR, last_error VARCHAR, created_at TIMESTAMP, updated_at TIMESTAMP
);
