-- Remote OpenAI-compatible AI providers (storage/ai_providers.py). The API key is stored sealed
-- (AES-GCM under a key derived from the server secret and the tenant: ai/providers.py), never
-- in clear; `api_key_last4` is what the API shows of it. `config_json`: base_url, models, and
-- the optional chat_model / embedding_model defaults, as JSON text.
CREATE TABLE ai_providers (
    id VARCHAR, name VARCHAR, provider_type VARCHAR, api_key_sealed VARCHAR,
    api_key_last4 VARCHAR, config_json VARCHAR, created_by VARCHAR, created_at TIMESTAMP,
    updated_at TIMESTAMP
);
-- What the tenant's AI calls used (storage/ai_usage.py): one row per UTC day, capability and
-- model, upserted by the gateways' meters; units are tokens for generation, items otherwise.
CREATE TABLE ai_usage (
    day DATE, capability VARCHAR, model VARCHAR, calls BIGINT, input_units BIGINT,
    output_units BIGINT, time_ms DOUBLE
);
