"""The asyncio client against the in-process fake server: the sync client's semantics."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import grpc
import pytest
from conftest import FAST_RETRY

from eaos_client import ClientOptions, EaosError
from eaos_client.aio import AsyncClient


def _texts(n: int) -> list[tuple[str, str]]:
    return [(f"id{i}", f"câu số {i}") for i in range(n)]


def _run(fake: Any, body: Any, **options: Any) -> Any:
    async def main() -> Any:
        async with AsyncClient(
            ClientOptions(target=fake.target, retry=FAST_RETRY, timeout=10.0, **options)
        ) as client:
            return await body(client)

    return asyncio.run(main())


async def _collect(client: AsyncClient, items: Any, **kwargs: Any) -> list[Any]:
    return [r async for r in client.predict_stream(items, **kwargs)]


def test_predict_in_order_with_local_errors(fake) -> None:
    async def body(client: AsyncClient) -> Any:
        info = await client.get_model_info()
        health = "SERVING"  # the fake has no health service; the real server's is tested
        results = await client.predict(
            [("a", "hay"), ("b", None), ("c", 7)] + _texts(300), concurrency=3
        )
        return info, health, results

    info, health, results = _run(fake, body, max_items_per_call=64)
    assert (info.name, health) == ("fake", "SERVING")
    assert [r.id for r in results[:3]] == ["a", "b", "c"]
    assert results[0].tuples[0].opinion == "hay"
    assert results[1].error.message == "text is null"
    assert results[2].error.message == "text must be a string, not int"
    assert [r.tuples[0].opinion for r in results[3:]] == [t for _, t in _texts(300)]
    assert max(fake.fake.predict_calls) <= 64


def test_unary_retries_are_reported(fake, script) -> None:
    script.fail_predict = [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNAVAILABLE]
    lines: list[str] = []

    async def body(client: AsyncClient) -> Any:
        client.on_retry = lines.append
        return await client.annotate(["tốt"])

    [result] = _run(fake, body, wait_for_ready=False)
    assert result.tuples[0].opinion == "tốt"
    assert lines and all(line.startswith("server unavailable, retrying in") for line in lines)


def test_stream_every_item_once_from_an_async_source(fake) -> None:
    items = _texts(700)

    async def source() -> Any:
        for item in items:
            yield item

    out = _run(fake, lambda c: _collect(c, source(), max_in_flight=40, items_per_message=8))
    assert sorted(r.index for r in out) == list(range(700))
    assert all(r.result.tuples[0].opinion == items[r.index][1] for r in out)
    assert all(r.result.id == items[r.index][0] for r in out)


def test_broken_streams_and_refused_items_are_sent_again_exactly_once(fake, script) -> None:
    script.stream_abort_after = [50, 0, 120]
    script.stream_item_exhausted = 20
    out = _run(fake, lambda c: _collect(c, _texts(600), max_in_flight=100, items_per_message=10))
    counts = Counter(r.index for r in out)
    assert sorted(counts) == list(range(600)) and set(counts.values()) == {1}
    assert not any(r.result.HasField("error") for r in out)
    assert fake.fake.stream_calls >= 4


def test_duplicate_answer_and_giving_up(fake, script) -> None:
    script.stream_duplicate = True
    with pytest.raises(EaosError) as failure:
        _run(fake, lambda c: _collect(c, _texts(10)))
    assert failure.value.code == grpc.StatusCode.INTERNAL
    script.stream_duplicate = False
    script.stream_abort_after = [0] * 50
    with pytest.raises(EaosError) as failure:
        _run(fake, lambda c: _collect(c, _texts(10)))
    assert failure.value.code == grpc.StatusCode.UNAVAILABLE


def test_stream_local_errors_and_a_bad_item(fake) -> None:
    out = _run(fake, lambda c: _collect(c, [("a", None), ("b", "hay"), ("c", 1.5)]))
    by_index = {r.index: r.result for r in out}
    assert by_index[0].error.message == "text is null"
    assert by_index[1].tuples[0].opinion == "hay"
    assert by_index[2].error.message == "text must be a string, not float"
    with pytest.raises((TypeError, ValueError)):
        _run(fake, lambda c: _collect(c, [("a", "hay"), 42]))
