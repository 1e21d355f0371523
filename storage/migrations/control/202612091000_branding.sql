CREATE TABLE tenant_branding (
    id VARCHAR, custom_domain VARCHAR, logo_url VARCHAR, favicon_url VARCHAR,
    primary_color VARCHAR, brand_name VARCHAR, footer_text VARCHAR, custom_css VARCHAR,
    updated_at TIMESTAMP
);
