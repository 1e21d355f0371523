"""The hello-world baseline: a bare Ray Serve FastAPI app answering GET -> {"ok": true}.

Deployed next to raybase on the same Serve instance (so through the same proxy, HAProxy or
the default one) with the gateway's replica settings, it is the ceiling raybase's own routes
are compared with."""

from __future__ import annotations

from typing import Any

from serve.app import LOGGING

APP_NAME = "bench_hello"
ROUTE_PREFIX = "/hello"


def hello_app(replicas: int = 1, max_ongoing_requests: int = 100) -> Any:
    from fastapi import FastAPI
    from ray import serve as ray_serve

    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/")
    async def hello() -> dict[str, bool]:
        return {"ok": True}

    @ray_serve.deployment(name="hello", num_replicas=replicas,
                          max_ongoing_requests=max_ongoing_requests,
                          ray_actor_options={"num_cpus": 0}, logging_config=LOGGING)
    @ray_serve.ingress(app)
    class Hello:
        pass

    return Hello.bind()


def deploy_hello(replicas: int, max_ongoing_requests: int) -> None:
    from ray import serve as ray_serve

    ray_serve.run(hello_app(replicas, max_ongoing_requests), name=APP_NAME,
                  route_prefix=ROUTE_PREFIX, blocking=False)


def delete_hello(blocking: bool = False) -> None:
    """Remove the app. Not blocking by default: its replica drains for Serve's minimum
    direct-ingress draining period (30 s) after HAProxy has already stopped routing to it."""
    from ray import serve as ray_serve

    try:
        ray_serve.delete(APP_NAME, _blocking=blocking)
    except Exception:  # already gone, or Serve is shutting down
        pass
