"""File upload and download through the gateway vs the blob store itself.

    python -m benchmarks.files [--backend local|s3] [--runs 8] [--json out.json]

Starts a private raybase (as `benchmarks.load --start` does) and a tenant, then, for files of
1 MB and 10 MB of random bytes, one request at a time:

- `upload`: `POST /v1/files/upload` (multipart), then the file is deleted for good (untimed);
- `download`: `GET /v1/files/{id}/content` of an uploaded file, the whole body read;

and the same bytes straight through the deployment's `BlobStore` in this process (`put`, and
`iter` joined), without HTTP, Serve or Ray. Each figure is the median of --runs runs, shown as
MB/s; `ratio` is the gateway's throughput as a share of the direct one (target: 10 MB download
>= 70%). A phase whose endpoint this raybase does not have is reported as such, not measured.

`--backend s3` starts a moto S3 server in this process (moto is a dev dependency) and deploys
raybase with blob_backend=s3 on it; the default uses the local backend (the data directory).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.load import Started, _check, free_port, log

SIZES = {"1MB": 1 << 20, "10MB": 10 << 20}
TARGET_10MB_DOWNLOAD = 0.70


def median_s(fn, runs: int) -> float:
    fn()  # warm: connections, caches
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def mb_s(size: int, seconds: float) -> float:
    return round(size / seconds / 1e6, 1)


def gateway(client: httpx.Client, data: bytes, runs: int) -> dict[str, Any]:
    """Upload and download figures over HTTP (None for an endpoint not there)."""
    out: dict[str, Any] = {}

    def upload() -> str:
        r = client.post("/v1/files/upload", files={"file": ("bench.bin", data,
                                                            "application/octet-stream")})
        return _check(r, "upload")["id"]

    ids: list[str] = []
    out["upload_s"] = median_s(lambda: ids.append(upload()), runs)
    for file_id in ids[1:]:
        client.delete(f"/v1/files/{file_id}", params={"force": "true"})
    kept = ids[0]
    probe = client.get(f"/v1/files/{kept}/content")
    if probe.status_code == 200 and probe.content == data:
        out["download_s"] = median_s(
            lambda: client.get(f"/v1/files/{kept}/content").raise_for_status(), runs)
    else:
        log(f"  download: GET /v1/files/{{id}}/content answered {probe.status_code}; "
            "not measured")
        out["download_s"] = None
    client.delete(f"/v1/files/{kept}", params={"force": "true"})
    return out


def direct(store: Any, data: bytes, runs: int) -> dict[str, float]:
    key = f"bench/{secrets.token_hex(6)}"
    out = {"upload_s": median_s(lambda: store.put(key, data), runs),
           "download_s": median_s(lambda: b"".join(store.iter(key)), runs)}
    store.delete(key)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.files", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backend", choices=("local", "s3"), default="local")
    p.add_argument("--runs", type=int, default=8)
    p.add_argument("--json", dest="json_path")
    args = p.parse_args(argv)

    moto = None
    started = Started(None, None)
    if args.backend == "s3":
        from moto.server import ThreadedMotoServer

        port = free_port()
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        moto.start()
        started.settings = started.settings.model_copy(update={
            "blob_backend": "s3", "s3_endpoint": f"127.0.0.1:{port}", "s3_access_key": "bench",
            "s3_secret_key": "bench", "s3_bucket": "raybase-bench", "s3_secure": False})
    report: dict[str, Any] = {"backend": args.backend, "runs": args.runs, "sizes": {}}
    try:
        log(f"starting raybase at {started.base_url} ({args.backend} blobs) …")
        started.start()
        key = started.create_tenant()
        from storage.blobs import blob_store

        store = blob_store(started.settings)
        with httpx.Client(base_url=started.base_url, timeout=120,
                          headers={"Authorization": f"Bearer {key}"}) as client:
            for name, size in SIZES.items():
                data = os.urandom(size)
                log(f"{name}: gateway …")
                http = gateway(client, data, args.runs)
                log(f"{name}: direct …")
                report["sizes"][name] = {"bytes": size, "gateway": http,
                                         "direct": direct(store, data, args.runs)}
    finally:
        started.stop()
        if moto is not None:
            moto.stop()

    print(f"\n{args.backend} backend, median of {args.runs} runs, one request at a time")
    print(f"{'size':6} {'op':9} {'gateway MB/s':>13} {'direct MB/s':>12} {'ratio':>7}")
    for name, r in report["sizes"].items():
        for op in ("upload", "download"):
            g, d = r["gateway"][f"{op}_s"], r["direct"][f"{op}_s"]
            if g is None:
                print(f"{name:6} {op:9} {'(no endpoint)':>13} {mb_s(r['bytes'], d):12.1f}")
                continue
            ratio = d / g
            r[f"{op}_ratio"] = round(ratio, 3)
            verdict = ""
            if name == "10MB" and op == "download":
                verdict = "ok" if ratio >= TARGET_10MB_DOWNLOAD else "MISSED (target 70%)"
            print(f"{name:6} {op:9} {mb_s(r['bytes'], g):13.1f} {mb_s(r['bytes'], d):12.1f} "
                  f"{ratio:7.0%} {verdict}")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
