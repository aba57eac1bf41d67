from collections import Counter

import grpc
import pytest

from eaos_client import EaosError


def _texts(n: int) -> list[tuple[str, str]]:
    return [(f"id-{i}", f"câu {i}") for i in range(n)]


@pytest.mark.parametrize("streams", [1, 3])
def test_every_item_answered_once_out_of_order(client, streams) -> None:
    items = _texts(1000)
    out = list(
        client.predict_stream(items, streams=streams, max_in_flight=64, items_per_message=16)
    )
    assert sorted(r.index for r in out) == list(range(1000))
    for r in out:
        assert r.item == items[r.index]
        assert r.result.id == items[r.index][0]
        assert r.result.tuples[0].opinion == items[r.index][1]


def test_repeated_ids_pair_with_the_right_item(client) -> None:
    items = [("same", f"văn bản {i}") for i in range(200)]
    out = list(client.predict_stream(items, max_in_flight=32))
    assert all(r.result.tuples[0].opinion == items[r.index][1] for r in out)
    assert len(out) == 200


def test_broken_streams_are_resumed_without_loss_or_duplicates(fake, script, client) -> None:
    script.stream_abort_after = [50, 0, 120]  # three broken streams, then healthy ones
    out = list(client.predict_stream(_texts(600), max_in_flight=100, items_per_message=10))
    counts = Counter(r.index for r in out)
    assert sorted(counts) == list(range(600)) and set(counts.values()) == {1}
    assert fake.fake.stream_calls >= 4


def test_items_refused_with_queue_full_are_sent_again(fake, script, client) -> None:
    script.stream_item_exhausted = 30
    out = list(client.predict_stream(_texts(100), max_in_flight=50))
    assert len(out) == 100 and not any(r.result.HasField("error") for r in out)
    assert fake.fake.stream_items == 130


def test_a_duplicate_answer_is_an_internal_error(script, client) -> None:
    script.stream_duplicate = True
    with pytest.raises(EaosError) as failure:
        list(client.predict_stream(_texts(10)))
    assert failure.value.code == grpc.StatusCode.INTERNAL


def test_giving_up_on_a_server_that_keeps_breaking_streams(script, client) -> None:
    script.stream_abort_after = [0] * 50
    with pytest.raises(EaosError) as failure:
        list(client.predict_stream(_texts(10)))
    assert failure.value.code == grpc.StatusCode.UNAVAILABLE


def test_null_text_is_answered_locally(client) -> None:
    out = {r.index: r.result for r in client.predict_stream([("a", None), ("b", "hay")])}
    assert out[0].error.message == "text is null" and out[1].tuples[0].opinion == "hay"


def test_a_bad_input_item_fails_the_run(client) -> None:
    with pytest.raises((TypeError, ValueError)):
        list(client.predict_stream([("a", "hay"), 42]))


def test_abandoning_the_iterator_stops_the_streams(client) -> None:
    results = client.predict_stream(_texts(5000), streams=2, max_in_flight=16)
    first = next(results)
    results.close()
    assert first.result.tuples
