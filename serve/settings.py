"""The one Settings object (environment prefix RAYBASE_), built by the CLI and the app builder."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every operator setting; the README's configuration table lists exactly these."""

    model_config = SettingsConfigDict(env_prefix="RAYBASE_", extra="ignore")

    # Service
    host: str = Field("127.0.0.1", description="Address the HTTP server binds.")
    port: int = Field(8000, description="HTTP port.")
    data_dir: str = Field(
        "./data", description="Where all state lives (DuckDB files, durable storage).")
    region: str = Field("local", description="Region name /health reports.")
    node_ip: str | None = Field(
        None, description="This machine's address in a Ray cluster that raybase joins "
        "(`RAY_ADDRESS`): the node the driver attaches to (unset: Ray's pick).")
    proxy_bind: Literal["host", "node"] = Field(
        "host", description="Where each node's HTTP proxy listens: `host` (the `host` setting, "
        "the same on every node) or `node` (each node's own address: several Ray nodes on one "
        "machine, such as the two-node loopback cluster).")
    admin_key: str | None = Field(None, description="Enables /admin/v1 when set (X-Admin-Key).")
    # Gateway (Ray Serve)
    replicas: int = Field(1, description="Gateway replicas.")
    max_replicas_per_node: int | None = Field(
        None, ge=1, description="At most this many gateway replicas on one Ray node (1 with "
        "`replicas` = nodes: one on every node, so losing a node leaves a gateway up).")
    max_ongoing_requests: int = Field(100, description="Concurrent requests per replica.")
    proxy: str = Field("haproxy", description="Serve proxy: `haproxy` (fast) or `default`.")
    haproxy_metrics_port: int = Field(
        0, description="HAProxy metrics port, loopback only (0: a free one at each start).")
    haproxy_stats_port: int = Field(
        0, description="HAProxy stats port, loopback only (0: a free one at each start).")
    haproxy_fallback_port: int = Field(
        0, description="Serve's fallback proxy port behind HAProxy (0: a free one at each start).")
    max_body_bytes: int = Field(1 << 20, description="Largest JSON request body, bytes.")
    max_import_bytes: int = Field(
        32 << 20, description="Largest `POST /v1/data/import` body (file or inline), bytes.")
    key_cache_ttl: float = Field(2.0, description="Seconds a gateway trusts a cached API key.")
    trust_forwarded_for: bool = Field(
        False, description="Take the client IP from X-Forwarded-For (behind a trusted proxy).")
    file_quota_bytes: int | None = Field(
        None, description="Caps every tenant's file storage quota (bytes) below its plan's.")
    signing_secret: str | None = Field(
        None, description="Server secret: key of file signed URLs and of the AI providers' "
        "API keys at rest (unset: made once in the data dir).")
    # Blob store (file bytes, exports)
    blob_backend: Literal["local", "s3"] = Field(
        "local", description="Where file bytes live: `local` (data dir) or `s3` (S3/MinIO bucket).")
    s3_endpoint: str | None = Field(
        None, description="S3 endpoint `host[:port]` (no scheme), for blob_backend=s3.")
    s3_access_key: str | None = Field(None, description="S3 access key.")
    s3_secret_key: str | None = Field(None, description="S3 secret key.")
    s3_bucket: str = Field("raybase", description="S3 bucket (created if missing).")
    s3_region: str | None = Field("us-east-1", description="S3 region.")
    s3_secure: bool = Field(True, description="Use HTTPS to the S3 endpoint.")
    stripe_webhook_secret: str | None = Field(
        None, description="Stripe webhook signing secret (`whsec_...`): enables "
        "`POST /webhooks/stripe`, which answers 503 without it.")
    smtp_url: str | None = Field(
        None, description="Mail server for end-user auth emails, `smtp://[user:password@]host:port"
        "[?starttls=true]` (unset: a local outbox under the data dir).")
    sms_url: str | None = Field(
        None, description="HTTP endpoint receiving end-user SMS as `POST {\"to\", \"body\"}` "
        "(unset: a local outbox under the data dir).")
    auth_limit_factor: float = Field(
        1.0, gt=0, description="Multiplies every end-user sign-in, email and token attempt "
        "limit (per account and per IP, a minute); e.g. 10 behind a NAT many users share.")
    allow_private_urls: bool = Field(
        False, validation_alias=AliasChoices(
            "RAYBASE_ALLOW_PRIVATE_URLS", "RAYBASE_WEBHOOKS_ALLOW_PRIVATE", "allow_private_urls"),
        description="Let tenant-configured outbound URLs (OAuth/OIDC, Turnstile, webhooks) "
        "reach loopback and private addresses (alias `RAYBASE_WEBHOOKS_ALLOW_PRIVATE`).")
    webhook_max_attempts: int = Field(
        8, ge=1, le=20, description="Attempts of a webhook delivery before it goes to the DLQ.")
    webhook_retry_base_s: float = Field(
        15.0, gt=0, description="Seconds before a webhook delivery's first retry; each next "
        "wait is 4 times longer (±20 % jitter): 8 attempts span about 23 hours.")
    sql_max_rows: int = Field(1000, description="Most rows one `POST /v1/sql` answers.")
    sql_timeout: float = Field(5.0, description="Seconds a `POST /v1/sql` query may run.")
    # AI
    ai_embedding_replicas: int = Field(
        1, ge=0, description="Replicas of the embedding model's Serve deployment (each loads "
        "all-MiniLM-L6-v2: about 0.5 GiB); 0 deploys none and the AI routes answer 503.")
    ai_generation_replicas: int = Field(
        1, ge=0, description="Replicas of the text generation model's Serve deployment (each "
        "loads the model: SmolLM2-135M about 0.6 GiB); 0 deploys none and chat and generation "
        "answer 503.")
    ai_gguf_path: str | None = Field(
        None, description="A GGUF chat model file that replaces the default generation model "
        "(SmolLM2-135M-Instruct); needs `RAYBASE_AI_GGUF_SHA256`.")
    ai_gguf_sha256: str | None = Field(
        None, description="The sha256 of `RAYBASE_AI_GGUF_PATH`, checked before it is loaded: "
        "a mismatch stops the generation deployment.")
    # Durable objects
    shard_hosts: int = Field(1, description="Ray actors hosting tenant shards (each runs its "
                             "tenants' DuckDB work in threads; more for a bigger machine).")
    shard_idle_timeout: float = Field(600.0, description="Seconds before an idle shard is evicted.")
    spread_hosts: bool = Field(
        True, description="Place the hosts of tenant shards (and of rate limits and channels "
        "with hosts of their own) round-robin over the cluster's nodes, preferred not pinned: "
        "a host whose node is lost restarts on another (actors/placement.py).")
    rate_limit_hosts: int = Field(0, ge=0, description="Ray actors hosting rate-limit buckets; "
                                  "0: inside the control plane's actor (one process fewer).")
    channel_hosts: int = Field(0, ge=0, description="Ray actors hosting realtime channels; 0: "
                               "inside the control plane's actor (one process fewer).")
    # Realtime (WebSocket and SSE)
    realtime_max_connections: int = Field(
        5000, ge=0, description="WebSocket and SSE connections one gateway replica holds; "
        "beyond, new ones are refused (503).")
    realtime_idle_timeout: float = Field(
        60.0, gt=0, description="Seconds a WebSocket may stay silent (send `ping`) before it is "
        "closed (code 4408).")
    # Ray
    ray_num_cpus: int = Field(4, description="Logical CPUs of a local Ray started by raybase.")
    ray_object_store_mb: int = Field(128, description="Object store of a local Ray, MiB.")
    run_dir: str | None = Field(
        None, description="Short per-instance directory for Ray's session files and HAProxy's "
        "config and sockets (unset: `/tmp/raybase-<hash of the data dir>`).")
