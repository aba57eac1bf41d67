"""The batch job's direct engine (no Spark) against the fake server."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from eaos_client.batch import JobConfig, main, read_rows, run_job


def _write_input(path: Path, n: int) -> list[dict]:
    rows = [{"id": f"r{i}", "text": f"bình luận {i}", "other": i} for i in range(n)]
    path.write_text(
        "\ufeff" + "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    return rows


def _ids(path: Path, fmt: str = "jsonl") -> Counter:
    return Counter(row["id"] for row in read_rows(str(path), fmt))


def test_jsonl_to_jsonl_then_resume_skips_done_ids(fake, tmp_path: Path) -> None:
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    rows = _write_input(source, 300)
    # A previous run wrote 100 rows and died mid-line.
    first = JobConfig(input=str(source), output=str(output), endpoint=fake.target)
    partial = tmp_path / "partial.jsonl"
    partial.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows[:100]), encoding="utf-8"
    )
    run_job(JobConfig(input=str(partial), output=str(output), endpoint=fake.target))
    with open(output, "a", encoding="utf-8") as torn:
        torn.write('{"id":"r150","text":"cut sh')
    sent_before = fake.fake.stream_items
    result = run_job(first)
    assert (result.rows, result.skipped, result.errors) == (200, 100, 0)
    assert fake.fake.stream_items - sent_before == 200
    assert _ids(output) == Counter(f"r{i}" for i in range(300))
    line = json.loads(output.read_text(encoding="utf-8").splitlines()[0])
    assert set(line) == {"id", "text", "predictions"}
    assert line["predictions"][0]["opinion"] == line["text"]
    assert run_job(first).rows == 0  # a third run has nothing left


def test_parquet_to_parquet_directory_resumes(fake, tmp_path: Path) -> None:
    source, output = tmp_path / "in.parquet", tmp_path / "out"
    pq.write_table(
        pa.Table.from_pylist(
            [{"id": f"p{i}", "text": f"câu {i}"} for i in range(120)]
            + [{"id": "null", "text": None}]
        ),
        source,
    )
    config = JobConfig(
        input=str(source), output=str(output), output_format="parquet", endpoint=fake.target
    )
    assert run_job(config).rows == 121
    table = pq.read_table(output)
    assert table.num_rows == 121
    assert (
        table.schema.field("predictions").type.value_type.field("confidence").type == pa.float32()
    )
    errors = [r for r in table.to_pylist() if r["error"] is not None]
    assert [(r["id"], r["error"]["message"]) for r in errors] == [("null", "text is null")]
    assert run_job(config).skipped == 121


def test_console_mode_prints_lines_and_the_summary(fake, tmp_path: Path, capsys) -> None:
    source = tmp_path / "in.jsonl"
    _write_input(source, 25)
    assert (
        main(
            [
                "--input",
                str(source),
                "--mode",
                "console",
                "--endpoint",
                fake.target,
                "--streams",
                "2",
                "--no-progress",
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 25
    assert "items=25 skipped=0 errors=0" in captured.err


def test_memory_mode_returns_the_records(fake, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    _write_input(source, 10)
    result = run_job(JobConfig(input=str(source), mode="memory", endpoint=fake.target))
    assert sorted(r["id"] for r in result.records) == sorted(f"r{i}" for i in range(10))


def test_failures_exit_1_with_the_code(tmp_path: Path, capsys) -> None:
    source = tmp_path / "in.jsonl"
    _write_input(source, 3)
    assert (
        main(
            [
                "--input",
                str(source),
                "--output",
                str(tmp_path / "o.jsonl"),
                "--endpoint",
                "127.0.0.1:1",
                "--timeout",
                "2",
                "--max-attempts",
                "2",
                "--connect-timeout",
                "0",
            ]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert "eaos-batch:" in err
    assert "server unavailable, retrying in" in err and "(attempt 2/2)" in err
    assert main(["--input", str(source), "--mode", "file"]) == 2  # no --output
