"""The same annotation through a local Spark Connect server: DataFrame APIs only, no RDD.

Spark Connect is the serverless constraint: the client holds no SparkContext, and mapInPandas /
mapInArrow functions are pickled to the server, whose forked Python workers call eaos-server.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from checks import check_json_lines, check_struct_rows
from conftest import report
from eaos_testing import EaosServer, SparkConnectServer, row_dict, same_predictions

from eaos_client import spark as eaos_spark
from eaos_client.batch import JobConfig, read_rows, run_job


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    server = SparkConnectServer()
    session = None
    try:
        from pyspark.sql import SparkSession

        session = SparkSession.builder.remote(server.url).getOrCreate()
        yield session
    finally:
        if session is not None:
            session.stop()
        server.stop()


@pytest.fixture(scope="module")
def frame(spark: Any, rows: list[dict[str, Any]]) -> Any:
    return spark.createDataFrame(pd.DataFrame(rows), "id string, text string")


def test_it_is_really_spark_connect(spark: Any, frame: Any) -> None:
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    assert isinstance(spark, ConnectSession)
    with pytest.raises(Exception) as failure:
        frame.rdd  # noqa: B018 - the RDD API is not available over Spark Connect
    assert "rdd" in str(failure.value).lower() or "not" in str(failure.value).lower()


def test_map_in_pandas_over_connect_equals_the_direct_client(
    frame: Any, server: EaosServer, rows: list[dict], direct: dict
) -> None:
    started = time.monotonic()
    out = eaos_spark.annotate(frame, "text", endpoint=server.target, concurrency=4).collect()
    report("Spark Connect local[2] mapInPandas", len(out), time.monotonic() - started)
    check_struct_rows(out, rows, direct)


def test_map_in_arrow_json_over_connect(
    frame: Any, server: EaosServer, rows: list[dict], direct: dict
) -> None:
    out = eaos_spark.annotate(
        frame.limit(1500),
        "text",
        endpoint=server.target,
        id_col="id",
        output="json",
        engine="arrow",
    ).collect()
    check_json_lines([r["json"] for r in out], rows[:1500], direct)


def test_predict_batch_udf_over_connect(frame: Any, server: EaosServer, direct: dict) -> None:
    udf = eaos_spark.predict_udf(server.target, batch_size=100)
    out = frame.limit(500).select("id", udf("text").alias("eaos")).collect()
    assert len(out) == 500
    for row in out:
        assert same_predictions(
            json.loads(row["eaos"])["predictions"], direct[row["id"]]["predictions"]
        )


def test_batch_job_over_connect_parquet_resumable(
    spark: Any, server: EaosServer, rows: list[dict], direct: dict, tmp_path: Path
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    subset = rows[:800]
    first, source, output = tmp_path / "first.parquet", tmp_path / "in.parquet", tmp_path / "out"
    pq.write_table(pa.Table.from_pylist(subset[:300]), first)
    pq.write_table(pa.Table.from_pylist(subset), source)
    config = dict(
        output=str(output), output_format="parquet", engine="spark", endpoint=server.target
    )
    assert run_job(JobConfig(input=str(first), **config), spark).rows == 300
    result = run_job(JobConfig(input=str(source), **config), spark)
    assert (result.rows, result.skipped) == (500, 300)
    order = {r["id"]: i for i, r in enumerate(subset)}
    out = sorted(
        (row_dict(r) for r in read_rows(str(output), "parquet")), key=lambda r: order[r["id"]]
    )
    check_struct_rows(out, subset, direct, error_col="error")
