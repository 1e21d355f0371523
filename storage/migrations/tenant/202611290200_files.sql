CREATE TABLE files (
    id VARCHAR, filename VARCHAR, mime_type VARCHAR, size_bytes BIGINT, sha256 VARCHAR,
    access VARCHAR, folder VARCHAR, meta JSON, object_type_id VARCHAR, object_id VARCHAR,
    status VARCHAR, version INTEGER, blob_key VARCHAR, is_deleted BOOLEAN, deleted_at TIMESTAMP,
    created_by VARCHAR, updated_by VARCHAR, created_at TIMESTAMP, updated_at TIMESTAMP
);
CREATE TABLE file_versions (
    id VARCHAR, file_id VARCHAR, version INTEGER, filename VARCHAR, mime_type VARCHAR,
    size_bytes BIGINT, sha256 VARCHAR, blob_key VARCHAR, created_by VARCHAR,
    created_at TIMESTAMP
);
CREATE TABLE blob_deletions (id VARCHAR, blob_key VARCHAR, created_at TIMESTAMP);
