"""The batch job's CLI (python -m eaos_client.batch) as a pipeline runs it, against a real
eaos-server: exit codes, per-row errors, refused resumes, retry lines, a wrong endpoint, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from eaos_testing import EaosServer

ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def batch(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "eaos_client.batch", "--no-progress", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=ENV,
    )


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_missing_input_exits_2_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    run = batch("--input", str(missing), "--output", str(tmp_path / "o.jsonl"))
    assert run.returncode == 2, run.stderr
    assert f"--input {missing}: no such file or directory" in run.stderr
    assert not (tmp_path / "o.jsonl").exists()


def test_non_string_text_is_a_row_error_and_fail_fast_stops(server, tmp_path: Path) -> None:
    rows = [{"id": f"r{i}", "text": f"giao hàng nhanh {i}"} for i in range(20)]
    rows[7]["text"] = 123
    rows[11]["text"] = None
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    output = tmp_path / "out.jsonl"
    run = batch("--endpoint", server.target, "--input", str(source), "--output", str(output))
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    assert "items=20 skipped=0 errors=2" in run.stderr
    by_id = {r["id"]: r for r in lines(output)}
    assert sorted(by_id) == sorted(r["id"] for r in rows)
    assert by_id["r7"]["error"]["message"] == "text must be a string, not int"
    assert by_id["r11"]["error"]["message"] == "text is null"
    assert all("error" not in by_id[f"r{i}"] for i in (0, 6, 8, 19))

    stopped = batch(
        "--endpoint", server.target, "--input", str(source), "--output",
        str(tmp_path / "ff.jsonl"), "--fail-fast", "--streams", "1",
    )  # fmt: skip
    assert stopped.returncode == 1, stopped.stderr
    assert "failed: text must be a string, not int (--fail-fast)" in stopped.stderr


def test_resume_over_rows_without_ids_is_refused(server, tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [{"text": f"áo đẹp {i}"} for i in range(10)])
    output = tmp_path / "out.jsonl"
    first = batch("--endpoint", server.target, "--input", str(source), "--output", str(output))
    assert first.returncode == 0, first.stderr
    assert len(lines(output)) == 10
    again = batch("--endpoint", server.target, "--input", str(source), "--output", str(output))
    assert again.returncode == 2, again.stderr
    assert "row 1 has no 'id'" in again.stderr and "--no-resume" in again.stderr
    assert len(lines(output)) == 10  # nothing appended twice


def test_switching_engine_on_an_existing_output_is_refused(server, tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": "tốt"}])
    output = tmp_path / "out.jsonl"
    assert batch("--endpoint", server.target, "--input", str(source), "--output",
                 str(output)).returncode == 0  # fmt: skip
    run = batch("--engine", "spark", "--input", str(source), "--output", str(output))
    assert run.returncode == 2, run.stderr
    assert "is a file (written by --engine direct)" in run.stderr
    assert "Traceback" not in run.stderr and "java" not in run.stderr.lower()
    directory = tmp_path / "spark-out"
    directory.mkdir()
    (directory / "part-00000.txt").write_text('{"id":"a"}\n', "utf-8")
    run = batch("--input", str(source), "--output", str(directory), "--output-format", "jsonl")
    assert run.returncode == 2, run.stderr
    assert "is a directory (written by --engine spark)" in run.stderr


def test_wrong_endpoint_fails_with_a_clear_message(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": "tốt"}])
    port = free_port()
    run = batch("--endpoint", f"127.0.0.1:{port}", "--connect-timeout", "2",
                "--input", str(source), "--output", str(tmp_path / "o.jsonl"))  # fmt: skip
    assert run.returncode == 1, run.stderr
    assert f"cannot connect to 127.0.0.1:{port} within 2 s" in run.stderr
    assert "Traceback" not in run.stderr


def test_retries_are_visible_and_the_job_finishes_once_a_server_comes(tmp_path: Path) -> None:
    rows = [{"id": f"r{i}", "text": f"phở ngon {i}"} for i in range(200)]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    output = tmp_path / "out.jsonl"
    port = free_port()
    job = subprocess.Popen(
        [sys.executable, "-m", "eaos_client.batch", "--no-progress", "--connect-timeout", "0",
         "--endpoint", f"127.0.0.1:{port}", "--input", str(source), "--output", str(output)],
        stderr=subprocess.PIPE, text=True, env=ENV,
    )  # fmt: skip
    server = None
    try:
        assert job.stderr is not None
        first = job.stderr.readline()  # the first retry line, printed before the first backoff
        assert "server unavailable, retrying in" in first and "(attempt 2/10)" in first, first
        server = EaosServer(listen=f"127.0.0.1:{port}")
        rest = job.communicate(timeout=120)[1]
    finally:
        if job.poll() is None:
            job.kill()
            job.wait(timeout=30)
        if server is not None:
            server.stop()
    assert job.returncode == 0, rest
    assert "items=200 skipped=0 errors=0" in rest
    assert Counter(r["id"] for r in lines(output)) == Counter(r["id"] for r in rows)


def test_ctrl_c_stops_cleanly_and_a_rerun_finishes(server, tmp_path: Path) -> None:
    rows = [{"id": f"r{i}", "text": f"nhân viên nhiệt tình {i}"} for i in range(60000)]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    output = tmp_path / "out.jsonl"
    args = ["--endpoint", server.target, "--input", str(source), "--output", str(output)]
    job = subprocess.Popen(
        [sys.executable, "-m", "eaos_client.batch", "--no-progress", "--streams", "1", *args],
        stderr=subprocess.PIPE, text=True, env=ENV,
    )  # fmt: skip
    try:
        for _ in range(1200):  # until some rows are written (bounded: 1200 x 0.05 s)
            written_some = output.exists() and output.stat().st_size > 4096
            if written_some or job.poll() is not None:
                break
            time.sleep(0.05)
        assert job.poll() is None, "the job ended before it could be interrupted"
        job.send_signal(signal.SIGINT)
        err = job.communicate(timeout=60)[1]
    finally:
        if job.poll() is None:
            job.kill()
            job.wait(timeout=30)
    assert job.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert "interrupted; rerun the same command to resume" in err
    written = output.read_text("utf-8")
    assert written.endswith("\n")
    done = len(lines(output))
    assert 0 < done < len(rows)
    assert f"items={done} " in err
    rerun = batch(*args)
    assert rerun.returncode == 0, rerun.stderr
    assert f"skipped={done} " in rerun.stderr
    assert Counter(r["id"] for r in lines(output)) == Counter(r["id"] for r in rows)
