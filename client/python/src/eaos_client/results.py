"""ItemResult -> Python values: dicts, the JSON line of the existing jobs, Arrow-friendly rows."""

from __future__ import annotations

import json
import math
from typing import Any

from eaos_client._stubs import eaos_pb2

INVALID_ARGUMENT = 3  # google.rpc.Code


def round_confidence(value: float) -> float | None:
    """float32 confidence as the C++ client prints it (6 significant digits); None if not finite."""
    if not math.isfinite(value):
        return None
    return float(f"{value:.6g}")


def _span_list(tuple_: eaos_pb2.Tuple, name: str) -> list[int] | None:
    if not tuple_.HasField(name):
        return None
    span = getattr(tuple_, name)
    return [span.begin, span.end]


def _span_struct(tuple_: eaos_pb2.Tuple, name: str) -> dict[str, int] | None:
    if not tuple_.HasField(name):
        return None
    span = getattr(tuple_, name)
    return {"begin": span.begin, "end": span.end}


def _predictions(result: eaos_pb2.ItemResult, span) -> list[dict[str, Any]]:
    """Tuples as dicts; `span(tuple_, field_name)` renders the two spans."""
    return [
        {
            "entity": t.entity,
            "aspect": t.aspect,
            "opinion": t.opinion,
            "sentiment": t.sentiment,
            "confidence": round_confidence(t.confidence),
            "entity_span": span(t, "entity_span"),
            "opinion_span": span(t, "opinion_span"),
        }
        for t in result.tuples
    ]


def prediction_dicts(result: eaos_pb2.ItemResult) -> list[dict[str, Any]]:
    """Tuples in the JSON-line shape: spans as [begin, end) lists in code points, or None."""
    return _predictions(result, _span_list)


def prediction_structs(result: eaos_pb2.ItemResult) -> list[dict[str, Any]]:
    """Tuples in the typed Spark shape (see eaos_client.spark.PREDICTION_TYPE_DDL)."""
    return _predictions(result, _span_struct)


def error_dict(result: eaos_pb2.ItemResult) -> dict[str, Any] | None:
    if not result.HasField("error"):
        return None
    return {"code": result.error.code, "message": result.error.message}


def local_error(item_id: str, message: str, code: int = INVALID_ARGUMENT) -> eaos_pb2.ItemResult:
    """A result the client makes itself for an item it cannot send (a null text)."""
    return eaos_pb2.ItemResult(id=item_id, error=eaos_pb2.Error(code=code, message=message))


def result_record(item_id: str, text: str, result: eaos_pb2.ItemResult) -> dict[str, Any]:
    """The JSON-line object: {"id","text","predictions"} (+ "error", "truncated" when set)."""
    record: dict[str, Any] = {"id": item_id, "text": text, "predictions": prediction_dicts(result)}
    error = error_dict(result)
    if error is not None:
        record["error"] = error
    if result.truncated:
        record["truncated"] = True
    return record


def result_json(item_id: str, text: str, result: eaos_pb2.ItemResult) -> str:
    """One output line, the same shape as the C++ eaos-client writes."""
    return json.dumps(
        result_record(item_id, text, result), ensure_ascii=False, separators=(",", ":")
    )
