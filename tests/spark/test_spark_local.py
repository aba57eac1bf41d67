"""A classic local[2] Spark session annotates ≥ 5,000 comments through a real eaos-server."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from checks import check_json_lines, check_struct_rows
from conftest import report
from eaos_testing import EaosServer, local_spark_session, row_dict, same_predictions

from eaos_client import spark as eaos_spark
from eaos_client.batch import JobConfig, read_rows, run_job


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    session = local_spark_session()
    yield session
    session.stop()


@pytest.fixture(scope="module")
def frame(spark: Any, rows: list[dict[str, Any]]) -> Any:
    return spark.createDataFrame(rows, "id string, text string").cache()


def test_map_in_pandas_struct_output_equals_the_direct_client(
    frame: Any, server: EaosServer, rows: list[dict], direct: dict
) -> None:
    frame.count()  # cached input: the timing below is the annotation
    started = time.monotonic()
    out = eaos_spark.annotate(frame, "text", endpoint=server.target, concurrency=4).collect()
    report(
        "Spark local[2] mapInPandas (2 tasks x 4 in flight)", len(out), time.monotonic() - started
    )
    check_struct_rows(out, rows, direct)
    assert out[0]["text"] == rows[0]["text"]


def test_map_in_arrow_json_output_equals_the_direct_client(
    frame: Any, server: EaosServer, rows: list[dict], direct: dict
) -> None:
    started = time.monotonic()
    annotated = eaos_spark.annotate(
        frame, "text", endpoint=server.target, id_col="id", output="json", engine="arrow"
    )
    assert annotated.columns == ["id", "text", "json"]
    out = annotated.collect()
    report("Spark local[2] mapInArrow, JSON output", len(out), time.monotonic() - started)
    assert [r["id"] for r in out] == [r["id"] for r in rows]
    check_json_lines([r["json"] for r in out], rows, direct)


def test_predict_batch_udf_factory(frame: Any, server: EaosServer, direct: dict) -> None:
    udf = eaos_spark.predict_udf(server.target, batch_size=200)
    out = frame.limit(1000).withColumn("eaos", udf("text")).collect()
    assert len(out) == 1000
    for row in out:
        value = json.loads(row["eaos"])
        assert same_predictions(value["predictions"], direct[row["id"]]["predictions"])
        assert value.get("error") == direct[row["id"]]["error"]


def test_threshold_option_reaches_the_server(frame: Any, server: EaosServer) -> None:
    loose = eaos_spark.annotate(frame.limit(300), "text", endpoint=server.target, threshold=0.0)
    strict = eaos_spark.annotate(frame.limit(300), "text", endpoint=server.target, threshold=0.99)
    count = lambda df: sum(len(r["predictions"] or []) for r in df.collect())  # noqa: E731
    assert count(loose) > count(strict)
    for row in strict.collect():
        assert all(t["confidence"] >= 0.99 for t in row["predictions"] or [])


def test_an_unreachable_endpoint_fails_the_job_with_unavailable(frame: Any) -> None:
    from eaos_client import RetryPolicy

    retry = RetryPolicy(max_attempts=2, initial_backoff=0.05, max_backoff=0.1)
    job = eaos_spark.annotate(frame.limit(10), "text", endpoint="127.0.0.1:1", retry=retry)
    with pytest.raises(Exception) as failure:
        job.collect()
    assert "UNAVAILABLE" in str(failure.value)


def test_batch_job_through_spark_is_resumable(
    spark: Any, server: EaosServer, rows: list[dict], direct: dict, tmp_path: Path
) -> None:
    subset = rows[:1200]
    source, output = tmp_path / "in.jsonl", tmp_path / "out"
    source.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in subset), encoding="utf-8"
    )
    first_part = tmp_path / "first.jsonl"
    first_part.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in subset[:500]), encoding="utf-8"
    )
    config = JobConfig(
        input=str(first_part), output=str(output), engine="spark", endpoint=server.target
    )
    assert run_job(config, spark).rows == 500
    served = server.items("ok") + server.items("error")
    result = run_job(
        JobConfig(input=str(source), output=str(output), engine="spark", endpoint=server.target),
        spark,
    )
    assert (result.rows, result.skipped) == (700, 500)
    assert server.items("ok") + server.items("error") - served == 700
    lines = [json.dumps(r, ensure_ascii=False) for r in read_rows(str(output), "jsonl")]
    check_json_lines(lines, subset, direct)


def test_batch_job_direct_engine_parquet(
    server: EaosServer, rows: list[dict], direct: dict, tmp_path: Path
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    source, output = tmp_path / "in.parquet", tmp_path / "out"
    pq.write_table(pa.Table.from_pylist(rows), source)
    started = time.monotonic()
    result = run_job(
        JobConfig(
            input=str(source),
            output=str(output),
            output_format="parquet",
            endpoint=server.target,
            streams=4,
        )
    )
    report(
        "direct batch job (4 streams), Parquet -> Parquet", result.rows, time.monotonic() - started
    )
    assert result.rows == len(rows)
    out = [row_dict(r) for r in read_rows(str(output), "parquet")]
    check_struct_rows(
        sorted(out, key=lambda r: int(_order(rows)[r["id"]])), rows, direct, error_col="error"
    )


def _order(rows: list[dict]) -> dict[str, int]:
    return {r["id"]: i for i, r in enumerate(rows)}


def test_health_and_model_info_of_the_real_server(server: EaosServer) -> None:
    from eaos_client import Client, ClientOptions

    with Client(ClientOptions(target=server.target)) as client:
        assert client.health() == "SERVING"
        assert client.health("eaos.v1.EaosService") == "SERVING"
        info = client.get_model_info()
        assert info.name and info.limits.max_items_per_request >= 256
