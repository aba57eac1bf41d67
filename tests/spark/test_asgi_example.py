"""client/python/examples/asgi_app.py (the docs' asyncio example) served by uvicorn on loopback,
calling a real eaos-server; and the asyncio client's stream against that server."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from typing import Any

from eaos_testing import REPO

from eaos_client.aio import AsyncClient

EXAMPLES = REPO / "client" / "python" / "examples"


def _request(url: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_asgi_example_under_uvicorn_calls_the_server(server, tmp_path) -> None:
    log_path = tmp_path / "uvicorn.log"
    env = {**os.environ, "EAOS_ENDPOINT": server.target}
    with open(log_path, "wb") as log:
        app = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--app-dir", str(EXAMPLES), "asgi_app:app",
             "--host", "127.0.0.1", "--port", "0"],
            stdout=log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    try:
        port = None
        for _ in range(600):  # bounded: 600 x 0.05 s
            match = re.search(r"Uvicorn running on http://127\.0\.0\.1:(\d+)", log_path.read_text())
            if match or app.poll() is not None:
                port = match and int(match.group(1))
                break
            time.sleep(0.05)
        assert port, log_path.read_text()
        base = f"http://127.0.0.1:{port}"
        assert _request(f"{base}/healthz") == (200, {"status": "SERVING"})
        texts = [json.loads(line)["text"] for line in (EXAMPLES / "comments.jsonl").open()]
        status, payload = _request(f"{base}/annotate", {"texts": texts + [""]})
        assert status == 200, payload
        results = payload["results"]
        assert [r["text"] for r in results] == texts + [""]
        assert all("error" not in r for r in results[:-1])
        assert sum(len(r["predictions"]) for r in results) > 0
        assert results[-1]["error"]["code"] == 3  # empty text: the item's INVALID_ARGUMENT
        status, payload = _request(f"{base}/annotate", {"text": "x"})
        assert status == 400 and "texts" in payload["error"]
    finally:
        app.terminate()
        app.wait(timeout=30)


def test_async_stream_against_the_real_server(server) -> None:
    rows = [{"id": f"r{i}", "text": f"sản phẩm tốt {i}"} for i in range(500)]

    async def main() -> list[Any]:
        async with AsyncClient(target=server.target) as client:
            assert await client.health() == "SERVING"
            return [r async for r in client.predict_stream(rows, max_in_flight=64)]

    out = asyncio.run(main())
    assert Counter(r.index for r in out) == Counter(range(500))
    assert all(r.result.id == rows[r.index]["id"] for r in out)
    assert not any(r.result.HasField("error") for r in out)
