"""Assertions shared by the classic and Spark Connect tests."""

from __future__ import annotations

import json
from typing import Any

from eaos_testing import row_dict, same_predictions


def _struct_predictions(record: dict[str, Any]) -> list[dict[str, Any]]:
    return record["predictions"] or []


def check_struct_rows(
    out: list[Any],
    rows: list[dict[str, Any]],
    direct: dict[str, dict[str, Any]],
    error_col: str = "eaos_error",
) -> None:
    """Same count, same order, same tuples and per-row errors as the direct client."""
    assert len(out) == len(rows)
    assert [r["id"] for r in out] == [r["id"] for r in rows]
    mismatched = []
    for row in out:
        record = row_dict(row)
        expected = direct[record["id"]]
        error = record[error_col]
        if (error is None) != (expected["error"] is None) or (
            error is not None and error["code"] != expected["error"]["code"]
        ):
            mismatched.append(record["id"])
        elif not same_predictions(_struct_predictions(record), expected["predictions"]):
            mismatched.append(record["id"])
    assert not mismatched, f"{len(mismatched)} rows differ from the direct client: {mismatched[:5]}"


def check_json_lines(
    lines: list[str], rows: list[dict[str, Any]], direct: dict[str, dict[str, Any]]
) -> None:
    """The {"id","text","predictions"} lines equal the direct client's answers."""
    assert len(lines) == len(rows)
    texts = {r["id"]: r["text"] for r in rows}
    for line in lines:
        record = json.loads(line)
        assert record["text"] == texts[record["id"]]
        expected = direct[record["id"]]
        assert record.get("error") == expected["error"], record
        assert same_predictions(record["predictions"], expected["predictions"]), record["id"]
