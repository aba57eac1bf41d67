"""Fixtures of the Spark / end-to-end tests: a real eaos-server, the comments, direct results."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from eaos_testing import EaosServer, comments  # noqa: E402

from eaos_client import Client, ClientOptions  # noqa: E402
from eaos_client.results import error_dict, prediction_dicts  # noqa: E402


@pytest.fixture(scope="session")
def rows() -> list[dict[str, Any]]:
    data = comments()
    assert len(data) >= 5000
    return data


@pytest.fixture(scope="module")
def server() -> Iterator[EaosServer]:
    process = EaosServer()
    yield process
    process.stop()


def direct_annotate(
    target: str, rows: list[dict[str, Any]], concurrency: int = 4, **options: Any
) -> dict[str, dict[str, Any]]:
    """{id: {"predictions": [...], "error": ...}} through the plain client."""
    with Client(ClientOptions(target=target, concurrency=concurrency, **options)) as client:
        results = client.annotate([r["text"] for r in rows], [r["id"] for r in rows])
    return {r.id: {"predictions": prediction_dicts(r), "error": error_dict(r)} for r in results}


@pytest.fixture(scope="module")
def direct(server: EaosServer, rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The reference: every comment through the direct client (unary, 4 calls in flight)."""
    started = time.monotonic()
    results = direct_annotate(server.target, rows)
    report("direct client (Predict, 4 in flight)", len(rows), time.monotonic() - started)
    return results


def report(path: str, count: int, seconds: float) -> None:
    """Prints a throughput line and appends it to $EAOS_SPARK_REPORT (JSON lines) when set."""
    line = {
        "path": path,
        "rows": count,
        "seconds": round(seconds, 2),
        "rows_per_s": round(count / seconds, 1),
    }
    print(f"\nTHROUGHPUT {json.dumps(line, ensure_ascii=False)}", flush=True)
    target = os.environ.get("EAOS_SPARK_REPORT")
    if target:
        with open(target, "a", encoding="utf-8") as out:
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
