"""The server is SIGKILLed mid-job and restarted on the same port: the job completes with every
row, thanks to the client's retries (local[2] Spark has no task retries of its own)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from checks import check_struct_rows
from eaos_testing import EaosServer, local_spark_session

from eaos_client import Client, ClientOptions
from eaos_client import spark as eaos_spark
from eaos_client.results import error_dict, prediction_dicts


class Crash:
    """Kills the server once it has answered ``after`` items, restarts it on the same port."""

    def __init__(self, server: EaosServer, after: int) -> None:
        self.first, self.after = server, after
        self.second: EaosServer | None = None
        self.served_before_kill = 0
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            deadline = time.monotonic() + 300
            while self.first.items("ok") < self.after:
                if time.monotonic() > deadline:
                    raise TimeoutError("the job never reached the kill point")
                time.sleep(0.02)
            self.served_before_kill = self.first.items("ok")
            self.first.kill()
            time.sleep(1.0)  # clients see UNAVAILABLE and back off meanwhile
            self.second = EaosServer(listen=f"127.0.0.1:{self.first.port}")
        except BaseException as error:
            self.error = error

    def __enter__(self) -> "Crash":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.thread.join(timeout=120)
        self.first.stop()
        if self.second is not None:
            self.second.stop()


def _run_with_crash(rows: list[dict], job: Callable[[str], list[Any]]) -> tuple[list[Any], Crash]:
    server = EaosServer()
    with Crash(server, after=len(rows) // 5) as crash:
        out = job(server.target)
        crash.thread.join(timeout=120)
        assert crash.error is None, crash.error
        assert crash.second is not None, "the server was never restarted"
        # Checked before the servers stop: both halves of the job were really served.
        assert 0 < crash.served_before_kill < len(rows)
        assert crash.second.items("ok") > 0
    return out, crash


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    session = local_spark_session()
    yield session
    session.stop()


def test_spark_job_survives_a_server_restart(spark: Any, rows: list[dict], direct: dict) -> None:
    frame = spark.createDataFrame(rows, "id string, text string").cache()
    frame.count()
    out, crash = _run_with_crash(
        rows,
        lambda target: eaos_spark.annotate(frame, "text", endpoint=target, concurrency=4).collect(),
    )
    check_struct_rows(out, rows, direct)


def test_direct_streams_survive_a_server_restart(rows: list[dict], direct: dict) -> None:
    def job(target: str) -> list[Any]:
        with Client(ClientOptions(target=target)) as client:
            return list(client.predict_stream(rows, streams=4, max_in_flight=256))

    out, _ = _run_with_crash(rows, job)
    assert sorted(r.index for r in out) == list(range(len(rows)))
    by_id = {
        r.result.id: {"predictions": prediction_dicts(r.result), "error": error_dict(r.result)}
        for r in out
    }
    assert by_id.keys() == direct.keys()
    from eaos_testing import same_predictions

    assert all(same_predictions(by_id[k]["predictions"], direct[k]["predictions"]) for k in direct)
    assert all(by_id[k]["error"] == direct[k]["error"] for k in direct)


@pytest.fixture(scope="module")
def direct(rows: list[dict], tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Reference answers from a server that is never killed."""
    from conftest import direct_annotate

    server = EaosServer()
    try:
        return direct_annotate(server.target, rows)
    finally:
        server.stop()
