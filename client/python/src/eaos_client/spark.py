"""Spark helpers: annotate a DataFrame column through eaos-serve with DataFrame APIs only.

``annotate(df, "text", endpoint=...)`` runs ``mapInPandas`` (or ``mapInArrow``) — no RDD API, so
it works on Spark Connect (serverless) as on a classic session. Each Python worker opens one gRPC
channel (lazily, after PySpark forked it) and sends each Arrow batch as chunked ``Predict`` calls,
``concurrency`` in flight per task; rows keep their order and count. Retries with backoff cover
UNAVAILABLE / RESOURCE_EXHAUSTED (a restarting or overloaded server); any other failure, or one
that outlasts the retries, fails the task with an ``EaosError`` naming the gRPC code.

Word segmentation (``segmenter="auto"``): when the server's model declares the segmenter it was
trained with (GetModelInfo, asked once per worker process), each text is segmented with it before
sending and every span is mapped back to the row's own text (eaos_client.segment).

Output (``output=``):

* ``"struct"``: a column ``predictions`` of PREDICTION_DDL plus ``eaos_error``
  (``struct<code:int,message:string>``, null when the row succeeded);
* ``"json"``: a string column ``json`` holding the line existing jobs read:
  ``{"id","text","predictions":[{entity, aspect, opinion, sentiment, confidence,
  entity_span:[b,e], opinion_span:[b,e]}]}`` (+ ``error``, ``truncated`` when set).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from eaos_client.client import shared_client
from eaos_client.options import ClientOptions, RetryPolicy, TlsOptions
from eaos_client.results import error_dict, prediction_dicts, prediction_structs, result_json

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    from pyspark.sql import DataFrame

SPAN_DDL = "struct<begin:int,end:int>"
PREDICTION_DDL = (
    "array<struct<entity:string,aspect:string,opinion:string,sentiment:string,confidence:float,"
    f"entity_span:{SPAN_DDL},opinion_span:{SPAN_DDL}>>"
)
ERROR_DDL = "struct<code:int,message:string>"


@dataclass(frozen=True)
class AnnotateOptions:
    """What a Spark task needs to reach the server; pickled into the task."""

    endpoint: str
    concurrency: int = 4
    threshold: float | None = None
    timeout: float = 60.0
    max_items_per_call: int = 256
    tls: TlsOptions | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    wait_for_ready: bool = False
    segmenter: str = "auto"

    def client_options(self) -> ClientOptions:
        return ClientOptions(
            target=self.endpoint,
            tls=self.tls,
            timeout=self.timeout,
            retry=self.retry,
            max_items_per_call=self.max_items_per_call,
            concurrency=self.concurrency,
            wait_for_ready=self.wait_for_ready,
            segmenter=self.segmenter,
        )


def annotate_texts(
    options: AnnotateOptions, texts: list[Any], ids: list[str] | None = None
) -> list:
    """Results for texts (None allowed) in order, through this process's shared client."""
    client = shared_client(options.client_options())
    texts = [None if _is_null(t) else t for t in texts]
    return client.annotate(texts, ids, threshold=options.threshold, concurrency=options.concurrency)


def _is_null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _id_strings(values: list[Any] | None, count: int) -> list[str]:
    if values is None:
        return [""] * count
    return ["" if _is_null(v) else str(v) for v in values]


# -- the per-batch functions (run in the Python workers) -------------------------------------


def _output_columns(
    options: AnnotateOptions, output: str, texts: list[Any], ids: list[Any] | None
) -> dict[str, list[Any]]:
    """The new columns for one batch: {"predictions", "error"} or {"json"}."""
    results = annotate_texts(options, texts)
    if output == "json":
        id_strings = _id_strings(ids, len(texts))
        return {
            "json": [
                result_json(i, None if _is_null(t) else t, r)
                for i, t, r in zip(id_strings, texts, results)
            ]
        }
    return {
        "predictions": [prediction_structs(r) for r in results],
        "error": [error_dict(r) for r in results],
    }


def _pandas_fn(
    options: AnnotateOptions, output: str, text_col: str, id_col: str | None, names: dict[str, str]
) -> Callable[[Iterator["pd.DataFrame"]], Iterator["pd.DataFrame"]]:
    def annotate_batches(batches: Iterator["pd.DataFrame"]) -> Iterator["pd.DataFrame"]:
        for frame in batches:
            ids = frame[id_col].tolist() if id_col else None
            columns = _output_columns(options, output, frame[text_col].tolist(), ids)
            frame = frame.copy()
            for key, values in columns.items():
                frame[names[key]] = values
            yield frame

    return annotate_batches


def _arrow_types() -> dict[str, "pa.DataType"]:
    import pyarrow as pa

    span = pa.struct([("begin", pa.int32()), ("end", pa.int32())])
    tuple_type = pa.struct(
        [
            ("entity", pa.string()),
            ("aspect", pa.string()),
            ("opinion", pa.string()),
            ("sentiment", pa.string()),
            ("confidence", pa.float32()),
            ("entity_span", span),
            ("opinion_span", span),
        ]
    )
    error = pa.struct([("code", pa.int32()), ("message", pa.string())])
    return {"predictions": pa.list_(tuple_type), "error": error, "json": pa.string()}


def _arrow_fn(
    options: AnnotateOptions, output: str, text_col: str, id_col: str | None, names: dict[str, str]
) -> Callable[[Iterator["pa.RecordBatch"]], Iterator["pa.RecordBatch"]]:
    def annotate_batches(batches: Iterator["pa.RecordBatch"]) -> Iterator["pa.RecordBatch"]:
        import pyarrow as pa

        types = _arrow_types()
        for batch in batches:
            ids = batch.column(id_col).to_pylist() if id_col else None
            columns = _output_columns(options, output, batch.column(text_col).to_pylist(), ids)
            arrays = list(batch.columns)
            fields = list(batch.schema)
            for key, values in columns.items():
                arrays.append(pa.array(values, type=types[key]))
                fields.append(pa.field(names[key], types[key]))
            yield pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))

    return annotate_batches


# -- the driver-side API ---------------------------------------------------------------------


def annotate(
    df: "DataFrame",
    text_col: str = "text",
    *,
    endpoint: str,
    id_col: str | None = None,
    output: str = "struct",
    output_col: str | None = None,
    error_col: str = "eaos_error",
    engine: str = "pandas",
    concurrency: int = 4,
    threshold: float | None = None,
    timeout: float = 60.0,
    max_items_per_call: int = 256,
    tls: TlsOptions | None = None,
    retry: RetryPolicy | None = None,
    wait_for_ready: bool = False,
    segmenter: str = "auto",
) -> "DataFrame":
    """``df`` with the annotation of ``text_col`` added (see the module doc for the columns).

    endpoint: gRPC target reachable from the executors, e.g. "dns:///eaos.ml.svc:50051".
    concurrency: Predict calls in flight per task (each up to ``max_items_per_call`` rows).
    threshold: drop tuples below this confidence (server default 0.5).
    timeout: deadline of each call, seconds. engine: "pandas" (mapInPandas) or "arrow"
    (mapInArrow). id_col: the id written in the JSON form (empty when None).
    segmenter: "auto" segments each text with the word segmenter the server's model declares
    (GetModelInfo; the package must be installed on the executors), "none" sends texts as they
    are, "pyvi" / "underthesea" force one; spans always refer to ``text_col``'s own text.
    """
    if output not in ("struct", "json"):
        raise ValueError(f"output must be 'struct' or 'json', not {output!r}")
    if engine not in ("pandas", "arrow"):
        raise ValueError(f"engine must be 'pandas' or 'arrow', not {engine!r}")
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold {threshold} outside [0, 1]")
    options = AnnotateOptions(
        endpoint=endpoint,
        concurrency=concurrency,
        threshold=threshold,
        timeout=timeout,
        max_items_per_call=max_items_per_call,
        tls=tls,
        retry=retry or RetryPolicy(),
        wait_for_ready=wait_for_ready,
        segmenter=segmenter,
    )
    names = {
        "predictions": output_col or "predictions",
        "error": error_col,
        "json": output_col or "json",
    }
    schema = _output_schema(df, output, names)
    make = _pandas_fn if engine == "pandas" else _arrow_fn
    fn = make(options, output, text_col, id_col, names)
    if engine == "pandas":
        return df.mapInPandas(fn, schema)
    return df.mapInArrow(fn, schema)


def _output_schema(df: "DataFrame", output: str, names: dict[str, str]) -> Any:
    from pyspark.sql.types import StructType, _parse_datatype_string

    schema = StructType(list(df.schema.fields))
    if output == "json":
        return schema.add(names["json"], "string")
    schema.add(names["predictions"], _parse_datatype_string(PREDICTION_DDL))
    return schema.add(names["error"], _parse_datatype_string(ERROR_DDL))


# -- predict_batch_udf ------------------------------------------------------------------------


def make_predict_fn(
    endpoint: str,
    *,
    threshold: float | None = None,
    concurrency: int = 4,
    timeout: float = 60.0,
    tls: TlsOptions | None = None,
    retry: RetryPolicy | None = None,
    segmenter: str = "auto",
) -> Callable[[], Callable[["np.ndarray"], "np.ndarray"]]:
    """A ``make_predict_fn`` for ``pyspark.ml.functions.predict_batch_udf`` (StringType output).

    Each row's value is the JSON object ``{"predictions": [...]}`` (+ ``"error"`` / ``"truncated"``
    when set), the same tuples as the JSON-line form.
    """
    options = AnnotateOptions(
        endpoint=endpoint,
        concurrency=concurrency,
        threshold=threshold,
        timeout=timeout,
        tls=tls,
        retry=retry or RetryPolicy(),
        segmenter=segmenter,
    )

    def make() -> Callable[["np.ndarray"], "np.ndarray"]:
        import numpy as np

        def predict(texts: "np.ndarray") -> "np.ndarray":
            results = annotate_texts(options, list(texts))
            return np.array([_prediction_json(r) for r in results], dtype=object)

        return predict

    return make


def _prediction_json(result: Any) -> str:
    record: dict[str, Any] = {"predictions": prediction_dicts(result)}
    error = error_dict(result)
    if error is not None:
        record["error"] = error
    if result.truncated:
        record["truncated"] = True
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def predict_udf(endpoint: str, *, batch_size: int = 256, **kwargs: Any) -> Any:
    """``predict_batch_udf(make_predict_fn(endpoint, ...), StringType(), batch_size)``."""
    from pyspark.ml.functions import predict_batch_udf
    from pyspark.sql.types import StringType

    return predict_batch_udf(
        make_predict_fn(endpoint, **kwargs), return_type=StringType(), batch_size=batch_size
    )
