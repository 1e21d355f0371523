CREATE TABLE object_types (
    id VARCHAR, name VARCHAR, display_name VARCHAR, description VARCHAR,
    created_at TIMESTAMP, updated_at TIMESTAMP
);
CREATE TABLE properties (
    id VARCHAR, object_type_id VARCHAR, name VARCHAR, data_type VARCHAR,
    is_indexed BOOLEAN, is_sortable BOOLEAN, is_unique BOOLEAN, is_required BOOLEAN,
    default_value JSON, enum_values JSON, reference_type_id VARCHAR, description VARCHAR,
    created_at TIMESTAMP, updated_at TIMESTAMP
);
CREATE TABLE objects (
    id VARCHAR, object_type_id VARCHAR, properties JSON,
    created_at TIMESTAMP, updated_at TIMESTAMP, created_by VARCHAR, updated_by VARCHAR,
    version INTEGER, is_deleted BOOLEAN, deleted_at TIMESTAMP
);
CREATE TABLE object_versions (
    id VARCHAR, object_id VARCHAR, object_type_id VARCHAR, version INTEGER, properties JSON,
    change VARCHAR, changed_by VARCHAR, created_at TIMESTAMP
);
