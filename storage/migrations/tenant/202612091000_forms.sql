CREATE TABLE forms (
    id VARCHAR, name VARCHAR, description VARCHAR, object_type_id VARCHAR, fields JSON,
    settings JSON, status VARCHAR, created_by VARCHAR, created_at TIMESTAMP, updated_at TIMESTAMP
);
CREATE TABLE form_submissions (
    id VARCHAR, form_id VARCHAR, object_id VARCHAR, object_type_id VARCHAR, data JSON,
    ip VARCHAR, user_agent VARCHAR, created_at TIMESTAMP
);
CREATE TABLE form_views (id VARCHAR PRIMARY KEY, form_id VARCHAR, day DATE, views BIGINT);
