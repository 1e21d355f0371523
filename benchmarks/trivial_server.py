"""A trivial HTTP/1.1 keep-alive server (fixed JSON answer) to measure the load generator's
own ceiling: `python -m benchmarks.trivial_server PORT`. Handles GET/HEAD without a body."""

from __future__ import annotations

import asyncio
import sys

BODY = b'{"ok":true}'
RESPONSE = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
            + str(len(BODY)).encode() + b"\r\n\r\n" + BODY)


class _Http(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data
        n = buf.count(b"\r\n\r\n")
        if n:
            self.transport.write(RESPONSE * n)  # type: ignore[attr-defined]
            buf = buf[buf.rfind(b"\r\n\r\n") + 4:]
        self.buf = buf


async def serve(port: int, host: str = "127.0.0.1") -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Http, host, port, backlog=1024)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
