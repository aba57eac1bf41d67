"""A small ASGI backend calling eaos-serve with the asyncio client (what a FastAPI route does).

    EAOS_ENDPOINT=127.0.0.1:50051 uvicorn --app-dir client/python/examples asgi_app:app --port 8000
    curl -s localhost:8000/annotate -d '{"texts": ["Giao hàng nhanh, đóng gói cẩn thận"]}'

POST /annotate {"texts": [...]} -> {"results": [{"id","text","predictions"[, "error"]}]};
GET /healthz -> the server's health status. One AsyncClient per app, made in the lifespan
startup (inside the server's event loop) and closed at shutdown. With FastAPI the same client
goes in ``app.state`` and the route body is the ``annotate`` call below.
"""

from __future__ import annotations

import json
import os
from typing import Any

from eaos_client.aio import AsyncClient
from eaos_client.errors import EaosError
from eaos_client.results import result_record

state: dict[str, AsyncClient] = {}


async def _body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _reply(send: Any, status: int, payload: Any) -> None:
    data = json.dumps(payload, ensure_ascii=False).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            state["client"] = AsyncClient(target=os.environ.get("EAOS_ENDPOINT", "127.0.0.1:50051"))
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await state.pop("client").close()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        return await _lifespan(receive, send)
    client = state["client"]
    route = (scope["method"], scope["path"])
    if route == ("GET", "/healthz"):
        return await _reply(send, 200, {"status": await client.health()})
    if route != ("POST", "/annotate"):
        return await _reply(send, 404, {"error": f"no route {scope['method']} {scope['path']}"})
    try:
        texts = json.loads(await _body(receive))["texts"]
        if not isinstance(texts, list):
            raise TypeError("texts must be a list")
    except (ValueError, KeyError, TypeError) as error:
        return await _reply(send, 400, {"error": f'body must be {{"texts": [...]}}: {error}'})
    try:
        results = await client.annotate(texts)
    except EaosError as error:
        return await _reply(send, 503, {"error": str(error)})
    records = [result_record(r.id, t, r) for r, t in zip(results, texts)]
    return await _reply(send, 200, {"results": records})
