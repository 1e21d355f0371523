-- Row-level policies of object types (storage/policies.py): which rows an end user's roles see
-- (select) or change (insert, update, delete). condition_json is one node of the search filter
-- language, values possibly `{"$auth": ...}` references; role_id NULL targets every role.
CREATE TABLE object_policies (
    id VARCHAR, object_type_id VARCHAR, name VARCHAR, action VARCHAR, role_id VARCHAR,
    condition_json VARCHAR, enabled BOOLEAN, created_at TIMESTAMP, updated_at TIMESTAMP
);
