import grpc
import pytest

from eaos_client import Client, ClientOptions, EaosError, RetryPolicy
from eaos_client.client import to_item


def test_annotate_keeps_order_and_chunks_by_count(fake, script) -> None:
    options = ClientOptions(target=fake.target, max_items_per_call=100, concurrency=4)
    texts = [f"bình luận số {i}" for i in range(1050)]
    with Client(options) as client:
        results = client.annotate(texts)
    assert [r.tuples[0].opinion for r in results] == texts
    assert [r.id for r in results] == [str(i) for i in range(1050)]
    assert sorted(fake.fake.predict_calls) == [50] + [100] * 10


def test_chunks_respect_the_request_byte_budget(fake) -> None:
    options = ClientOptions(target=fake.target, max_request_bytes=64 * 1024)
    texts = ["x" * 10_000] * 40
    with Client(options) as client:
        results = client.annotate(texts)
    assert len(results) == 40
    assert max(fake.fake.request_bytes) <= 64 * 1024
    assert len(fake.fake.predict_calls) >= 7


def test_null_and_empty_texts_get_their_own_errors(client) -> None:
    empty, null, ok = client.predict([("a", ""), ("b", None), {"id": "c", "text": "hay"}])
    assert (empty.id, empty.error.code) == ("a", 3)
    assert (null.id, null.error.code, null.error.message) == ("b", 3, "text is null")
    assert ok.id == "c" and not ok.HasField("error")


@pytest.mark.parametrize("code", [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED])
def test_retryable_failures_are_retried(fake, script, client, code) -> None:
    script.fail_predict = [code] * 5  # more than gRPC's own attempts: the client retries too
    (result,) = client.annotate(["hay"])
    assert result.tuples[0].opinion == "hay"
    assert len(fake.fake.predict_calls) == 6


def test_gives_up_after_the_retry_budget_naming_the_code(fake, script) -> None:
    script.fail_every_predict = grpc.StatusCode.UNAVAILABLE
    retry = RetryPolicy(max_attempts=3, initial_backoff=0.01, max_backoff=0.02, grpc_max_attempts=2)
    with Client(ClientOptions(target=fake.target, retry=retry)) as client:
        with pytest.raises(EaosError) as failure:
            client.annotate(["hay"])
    assert failure.value.code == grpc.StatusCode.UNAVAILABLE
    assert failure.value.attempts == 3
    assert "UNAVAILABLE: scripted UNAVAILABLE (after 3 attempts)" in str(failure.value)
    # 3 client attempts, each made of 2 gRPC attempts (the service config's retry policy).
    assert len(fake.fake.predict_calls) == 6


def test_other_errors_are_not_retried(fake, script, client) -> None:
    script.fail_predict = [grpc.StatusCode.INVALID_ARGUMENT]
    with pytest.raises(EaosError) as failure:
        client.annotate(["hay"])
    assert failure.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert len(fake.fake.predict_calls) == 1


def test_nothing_listening_is_unavailable_after_retries() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    retry = RetryPolicy(max_attempts=2, initial_backoff=0.01, max_backoff=0.02)
    with Client(ClientOptions(target=f"127.0.0.1:{port}", retry=retry, timeout=5)) as client:
        with pytest.raises(EaosError) as failure:
            client.annotate(["hay"])
    assert failure.value.code == grpc.StatusCode.UNAVAILABLE


def test_threshold_is_checked_before_sending(client) -> None:
    with pytest.raises(ValueError):
        client.annotate(["hay"], threshold=1.5)


def test_to_item_accepts_pairs_mappings_and_bytes() -> None:
    item, problem = to_item(("7", b"\xff"))
    assert (item.id, item.text, problem) == ("7", b"\xff", None)
    item, problem = to_item({"id": 12, "text": "phở"})
    assert (item.id, item.text, problem) == ("12", "phở".encode(), None)
    assert to_item({"id": 1, "text": None})[1] == "text is null"
    assert to_item({"id": 2, "text": 123})[1] == "text must be a string, not int"


def test_health_and_model_info(client) -> None:
    assert client.get_model_info().name == "fake"
