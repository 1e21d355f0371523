"""Builds the FastAPI app of a gateway replica, and the Ray Serve deployment around it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from ai import generation
from serve import envelope, idempotency, request_log, routing
from serve.auth import KeyCache
from serve.realtime.hub import Hub
from serve.request_meter import RequestMeter
from serve.routes import ROUTERS, admin, backups, cluster, files, forms, import_export
from serve.routes.public import VERSION
from serve.services import Services, ray_services
from serve.settings import Settings
from serve.user_tokens import UserTokens
from storage.vectors import VectorStore

DESCRIPTION = (
    "raybase: a multi-tenant backend-as-a-service. Authenticate with "
    "`Authorization: Bearer <api key>` or an end user's access token. Every JSON answer is an "
    'envelope `{"success", "data", "request_id"}`; errors carry `{"code", "message"}`.'
)


# Serve's per-request access log costs a few percent of a replica's CPU; errors are still logged.
LOGGING = {"enable_access_log": False}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The app's lifespan: on shutdown, realtime connections close and the request log is
    flushed."""
    async with request_log.lifespan(app):
        yield
        await app.state.realtime.shutdown()


def build_app(settings: Settings, services: Callable[[Settings], Services] = ray_services,
              under_serve: bool = False, embedder: Any = None, generator: Any = None) -> FastAPI:
    """The gateway app: routes, envelope, auth state. `services` picks Ray or in-process;
    `under_serve` leaves the X-Request-Id response header to Serve's own middleware;
    `embedder` is the embedding deployment's handle (None: the AI routes answer 503),
    `generator` the text generation deployment's (None: chat and generation answer 503)."""
    app = FastAPI(title="raybase", version=VERSION, description=DESCRIPTION,
                  openapi_url=None, docs_url=None, redoc_url=None,
                  default_response_class=envelope.Envelope, lifespan=lifespan)
    app.state.settings = settings
    app.state.services = services(settings)
    app.state.keys = KeyCache(app.state.services, settings.key_cache_ttl)
    app.state.user_tokens = UserTokens(app.state.services, settings.key_cache_ttl)
    app.state.request_log = request_log.RequestLog(app.state.services)
    app.state.request_meter = RequestMeter()
    app.state.realtime = Hub(app.state.services, settings.realtime_max_connections)
    app.state.embedder = embedder
    model = generation.served(settings)
    app.state.generator = generation.Local(generator, model["name"]) if generator and model \
        else None
    app.state.vectors = VectorStore(Path(settings.data_dir) / "vectors")
    app.state.started_at = {"monotonic": time.monotonic(),
                            "iso": datetime.now(UTC).isoformat().replace("+00:00", "Z")}
    for router in ROUTERS:
        app.include_router(router)
    if settings.admin_key:
        app.include_router(admin.router)
        app.include_router(backups.router)
        app.include_router(cluster.router)
        app.include_router(cluster.tenants_router)
    routing.install(app)  # a request tries only the routes its path could match
    app.add_middleware(request_log.RequestLogMiddleware, request_log=app.state.request_log)
    idempotency.install(app)
    envelope.install(app, settings.max_body_bytes, echo_id=not under_serve,
                     path_limits={import_export.IMPORT_PATH: settings.max_import_bytes,
                                  **files.body_limits()},
                     multipart_limits=forms.body_limits())
    return app


def deployment(settings: Settings) -> Any:
    """The Serve application: a FastAPI ingress built on each replica from the settings, and
    the embedding and text generation models' deployments it calls (ai/embeddings.py,
    ai/generation.py)."""
    from ray import serve as ray_serve

    from ai import embeddings

    embedder = (embeddings.deployment(settings.ai_embedding_replicas, LOGGING)
                if settings.ai_embedding_replicas else None)
    model = generation.served(settings)  # a bad RAYBASE_AI_GGUF_* stops here, before deploying
    if model:
        generation.verify(model)
    generator = (generation.deployment(model, settings.ai_generation_replicas, LOGGING)
                 if model else None)

    @ray_serve.deployment(
        name="gateway",
        num_replicas=settings.replicas,
        **({"max_replicas_per_node": settings.max_replicas_per_node}
           if settings.max_replicas_per_node else {}),
        # Each WebSocket and SSE stream holds one of Serve's request slots while it lasts.
        max_ongoing_requests=settings.max_ongoing_requests + settings.realtime_max_connections,
        ray_actor_options={"num_cpus": 0},
        logging_config=LOGGING,
    )
    @ray_serve.ingress()
    class Gateway:
        def __init__(self, values: dict[str, Any], embedder: Any = None,
                     generator: Any = None) -> None:
            self.settings = Settings(**values)
            self.embedder = embedder
            self.generator = generator

        def __serve_build_asgi_app__(self) -> FastAPI:
            return build_app(self.settings, under_serve=True, embedder=self.embedder,
                             generator=self.generator)

    return Gateway.bind(settings.model_dump(), embedder, generator)


def build(args: dict[str, Any]) -> Any:
    """The Serve application builder for `serve deploy` (`raybase serve-config` writes a config
    naming it): the settings are `args` over the replica's environment; the signing secret is
    read from (or made once in) the data directory, as `raybase up` does."""
    from serve.routes.file_content import signing_secret

    settings = Settings(**args)
    return deployment(settings.model_copy(update={"signing_secret": signing_secret(settings)}))
