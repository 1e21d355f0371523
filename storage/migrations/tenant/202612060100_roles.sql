-- Roles of end users (storage/roles.py): a role holds permission strings ('objects:*',
-- 'objects.contacts:read', ...) as a JSON list and inherits its parent's. The built-in 'anon'
-- (anonymous sessions) and 'authenticated' (every signed-in user) exist in every tenant and
-- cannot be deleted; 'authenticated' grants what end users could do before roles existed.
CREATE TABLE roles (
    id VARCHAR, name VARCHAR, description VARCHAR, parent_role_id VARCHAR, permissions VARCHAR,
    built_in BOOLEAN, created_at TIMESTAMP, updated_at TIMESTAMP
);
-- A role assigned to a user; id is '<user_id>:<role_id>'.
CREATE TABLE user_roles (id VARCHAR, user_id VARCHAR, role_id VARCHAR, created_at TIMESTAMP);
INSERT INTO roles VALUES
    ('role_anon', 'anon', 'Anonymous sessions', NULL, '[]', TRUE, now()::TIMESTAMP,
     now()::TIMESTAMP),
    ('role_authenticated', 'authenticated', 'Every signed-in end user', NULL,
     '["objects:*", "files:*", "comments:*"]', TRUE, now()::TIMESTAMP, now()::TIMESTAMP);
