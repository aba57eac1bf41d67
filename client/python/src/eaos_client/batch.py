"""Batch job: annotate a JSONL or Parquet table through eaos-serve, with or without Spark.

    python -m eaos_client.batch --endpoint 127.0.0.1:50051 --input in.jsonl --output out.jsonl
    python -m eaos_client.batch --engine spark --master 'local[2]' --input in.parquet --output out/
    python -m eaos_client.batch --input in.jsonl --mode console | head

Modes: ``file`` writes ``--output`` and is resumable: rows whose id is already in the output are
skipped, so rerunning after a failure finishes the job; ``console`` prints JSON lines to stdout;
``memory`` keeps the records in memory (``run_job`` returns them; the CLI prints the summary).

Resume keys rows by id: a rerun over an existing output whose input has a row without an id is
refused (exit 2), since such rows cannot be told apart; add ids or pass ``--no-resume``. An
output written by one engine is refused by the other (JSONL: direct writes a file, Spark a
directory). A non-string text is a per-row INVALID_ARGUMENT error; ``--fail-fast`` stops at the
first failed row instead (exit 1). Retries print "server unavailable, retrying in 2 s (attempt
3/10)" on stderr; an endpoint that accepts no connection within ``--connect-timeout`` fails the
job at once. Ctrl-C stops cleanly: the output keeps every answered row, the summary is printed,
exit 130, and rerunning the same command resumes.

Exit codes: 0 done (per-row errors are counted in the summary), 1 server or I/O error or a
``--fail-fast`` stop, 2 usage (bad flags, missing input, refused resume, the model's word
segmenter not installed), 130 interrupted.

Word segmentation (``--segmenter auto``, the default): when the server's model declares the
segmenter it was trained with, texts are segmented with it before sending; the output's text and
spans are the input's own (eaos_client.segment).

Formats follow the extension (``.parquet`` or ``--output-format``): JSONL lines are the
``{"id","text","predictions"}`` objects of the C++ client (completion order; join on id); Parquet
has columns id, text, predictions (PREDICTION_DDL), error. Without Spark a JSONL output is one
file appended to, a Parquet output a directory of part files; with Spark both are directories.
"""

from __future__ import annotations

import argparse
import json
import contextlib
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from eaos_client.client import Client
from eaos_client.errors import EaosError
from eaos_client.options import SEGMENTER_SETTINGS, ClientOptions, RetryPolicy, TlsOptions
from eaos_client.results import error_dict, prediction_structs, result_record
from eaos_client.segment import SegmenterUnavailable

PARQUET_PART_ROWS = 5000


class UsageError(ValueError):
    """A job that cannot run as asked (exit 2): missing input, refused resume, bad mode."""


class FailFast(RuntimeError):
    """--fail-fast: a row failed, the job stops (exit 1)."""


@dataclass
class JobConfig:
    """One batch job; the CLI flags map one to one."""

    input: str
    endpoint: str = "127.0.0.1:50051"
    output: str | None = None
    mode: str = "file"
    engine: str = "direct"
    input_format: str | None = None
    output_format: str | None = None
    id_col: str = "id"
    text_col: str = "text"
    threshold: float | None = None
    timeout: float = 60.0
    streams: int = 4
    concurrency: int = 4
    resume: bool = True
    progress: bool | None = None
    master: str = "local[2]"
    remote: str | None = None
    tls: TlsOptions | None = None
    max_attempts: int = 10
    fail_fast: bool = False
    connect_timeout: float | None = 10.0
    segmenter: str = "auto"

    def retry(self) -> RetryPolicy:
        return RetryPolicy(max_attempts=self.max_attempts)


@dataclass
class JobResult:
    rows: int = 0
    skipped: int = 0
    errors: int = 0
    seconds: float = 0.0
    records: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> str:
        rate = self.rows / self.seconds if self.seconds > 0 else 0.0
        return (
            f"items={self.rows} skipped={self.skipped} errors={self.errors} "
            f"seconds={self.seconds:.2f} items/s={rate:.1f}"
        )


def detect_format(path: str, explicit: str | None) -> str:
    if explicit:
        return explicit
    if path.endswith(".parquet") or (os.path.isdir(path) and any(Path(path).glob("*.parquet"))):
        return "parquet"
    return "jsonl"


# -- reading ---------------------------------------------------------------------------------


def _jsonl_files(path: str) -> list[Path]:
    base = Path(path)
    if base.is_dir():
        return sorted(
            p for p in base.iterdir() if p.is_file() and not p.name.startswith((".", "_"))
        )
    return [base] if base.exists() else []


def read_jsonl(path: str) -> Iterator[dict[str, Any]]:
    """Objects of a JSONL file or a directory of them; blank lines skipped; BOM tolerated."""
    for file in _jsonl_files(path):
        with open(file, encoding="utf-8-sig") as lines:
            for number, line in enumerate(lines, 1):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError as error:
                        raise ValueError(f"{file}: line {number}: {error}") from None


def _parquet_files(path: str) -> list[Path]:
    base = Path(path)
    if base.is_dir():
        return sorted(base.glob("*.parquet"))
    return [base] if base.exists() else []


def read_parquet(path: str, columns: list[str] | None = None) -> Iterator[dict[str, Any]]:
    import pyarrow.parquet as pq

    for file in _parquet_files(path):
        for batch in pq.ParquetFile(file).iter_batches(columns=columns):
            yield from batch.to_pylist()


def read_rows(path: str, fmt: str, columns: list[str] | None = None) -> Iterator[dict[str, Any]]:
    return read_parquet(path, columns) if fmt == "parquet" else read_jsonl(path)


def count_rows(path: str, fmt: str) -> int:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return sum(pq.ParquetFile(f).metadata.num_rows for f in _parquet_files(path))
    total = 0
    for file in _jsonl_files(path):
        with open(file, "rb") as data:
            total += sum(1 for line in data if line.strip())
    return total


def _id_string(value: Any) -> str:
    return "" if value is None else str(value)


def done_ids(output: str, fmt: str) -> set[str]:
    """Ids already in the output (file or directory); a torn last JSONL line is dropped."""
    if fmt == "jsonl":
        _drop_torn_tail(output)
    return {_id_string(row.get("id")) for row in read_rows(output, fmt, ["id"])}


def _drop_torn_tail(path: str) -> None:
    file = Path(path)
    if not file.is_file() or file.stat().st_size == 0:
        return
    with open(file, "rb+") as data:
        content = data.read()
        if content.endswith(b"\n"):
            return
        data.truncate(content.rfind(b"\n") + 1)


# -- writing ---------------------------------------------------------------------------------


class JsonlWriter:
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, record: dict[str, Any]) -> None:
        self.stream.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")

    def close(self) -> None:
        self.stream.flush()


class ParquetPartWriter:
    """Parquet parts of PARQUET_PART_ROWS rows in a directory, each renamed into place whole."""

    def __init__(self, directory: str) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.rows: list[dict[str, Any]] = []
        self.run_id = uuid.uuid4().hex[:12]
        self.parts = 0

    def write(self, record: dict[str, Any]) -> None:
        self.rows.append(record)
        if len(self.rows) >= PARQUET_PART_ROWS:
            self.flush()

    def flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self.rows:
            return
        table = pa.Table.from_pylist(self.rows, schema=parquet_schema())
        name = f"part-{self.run_id}-{self.parts:05d}.parquet"
        temporary = self.directory / f".{name}.tmp"
        pq.write_table(table, temporary)
        os.replace(temporary, self.directory / name)
        self.parts += 1
        self.rows = []

    def close(self) -> None:
        self.flush()


def parquet_schema() -> Any:
    import pyarrow as pa

    from eaos_client.spark import _arrow_types

    types = _arrow_types()
    return pa.schema(
        [
            ("id", pa.string()),
            ("text", pa.string()),
            ("predictions", types["predictions"]),
            ("error", types["error"]),
        ]
    )


def parquet_record(item_id: str, text: str | None, result: Any) -> dict[str, Any]:
    return {
        "id": item_id,
        "text": text,
        "predictions": prediction_structs(result),
        "error": error_dict(result),
    }


# -- progress --------------------------------------------------------------------------------


class Progress:
    """``done/total rows, rows/s`` on stderr, redrawn at most every half second."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.enabled = total, enabled
        self.start = self.last = time.monotonic()
        self.done = 0

    def note(self, message: str) -> None:
        """A line of its own (retries), shown whether or not the progress line is."""
        sys.stderr.write(("\n" if self.enabled else "") + f"eaos-batch: {message}\n")
        sys.stderr.flush()

    def step(self) -> None:
        self.done += 1
        now = time.monotonic()
        if self.enabled and now - self.last >= 0.5:
            self.last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        rate = self.done / max(now - self.start, 1e-9)
        share = f" ({100.0 * self.done / self.total:.0f}%)" if self.total else ""
        sys.stderr.write(f"\r{self.done}/{self.total} rows{share} {rate:.0f} rows/s ")
        sys.stderr.flush()

    def finish(self) -> None:
        if self.enabled:
            self._draw(time.monotonic())
            sys.stderr.write("\n")


# -- the direct engine -----------------------------------------------------------------------


def _pending_items(
    config: JobConfig, fmt: str, skip: set[str] | None, result: JobResult
) -> Iterator[dict[str, Any]]:
    """Input rows not yet in the output; ``skip`` is None when not resuming."""
    for number, row in enumerate(read_rows(config.input, fmt), 1):
        item_id = _id_string(row.get(config.id_col))
        if skip is not None and not item_id:
            raise UsageError(
                f"{config.input}: row {number} has no {config.id_col!r}: resuming over "
                f"{config.output} keys rows by id; add ids (or --id-col), or pass --no-resume "
                "or a new --output"
            )
        if skip is not None and item_id in skip:
            result.skipped += 1
            continue
        yield {"id": item_id, "text": row.get(config.text_col)}


def _open_writer(config: JobConfig, out_fmt: str) -> JsonlWriter | ParquetPartWriter | None:
    if config.mode == "console":
        return JsonlWriter(sys.stdout)
    if config.mode == "memory":
        return None
    assert config.output is not None
    if out_fmt == "parquet":
        return ParquetPartWriter(config.output)
    Path(config.output).parent.mkdir(parents=True, exist_ok=True)
    return JsonlWriter(open(config.output, "a", encoding="utf-8"))


def _check_connects(client: Client, config: JobConfig) -> None:
    """Fails at once when nothing accepts a connection at the endpoint (a wrong --endpoint)."""
    import grpc

    if config.connect_timeout is None or config.connect_timeout <= 0:
        return
    try:
        grpc.channel_ready_future(client.channel).result(timeout=config.connect_timeout)
    except grpc.FutureTimeoutError:
        raise EaosError(
            grpc.StatusCode.UNAVAILABLE,
            f"cannot connect to {config.endpoint} within {config.connect_timeout:g} s: is "
            "eaos-server running there? (--endpoint or EAOS_ENDPOINT; --connect-timeout)",
        ) from None


class _RowShield:
    """Holds a Ctrl-C back while one row is written and counted, so the summary matches the file.

    Installed only on the main thread (where Python delivers SIGINT); elsewhere it is a no-op.
    A SIGINT inside ``row()`` is raised as KeyboardInterrupt when the row is done.
    """

    def __init__(self) -> None:
        self._inside = False
        self._pending = False
        self._installed = False
        self._previous: Any = None

    def __enter__(self) -> _RowShield:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._on_sigint)
            self._installed = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False

    def _on_sigint(self, signum: int, frame: Any) -> None:
        if self._inside:
            self._pending = True
            return
        raise KeyboardInterrupt

    @contextlib.contextmanager
    def row(self) -> Iterator[None]:
        self._inside = True
        try:
            yield
        finally:
            self._inside = False
        if self._pending:
            self._pending = False
            raise KeyboardInterrupt


def run_direct(config: JobConfig, result: JobResult | None = None) -> JobResult:
    """Streams the input through ``config.streams`` PredictStream calls, writing as results come.

    ``result`` (optional) is filled as the job goes, so a caller sees the counts on Ctrl-C.
    """
    in_fmt = detect_format(config.input, config.input_format)
    out_fmt = detect_format(config.output or "", config.output_format)
    result = result if result is not None else JobResult()
    skip: set[str] | None = None
    if config.mode == "file" and config.resume and config.output and _has_rows(config.output):
        skip = done_ids(config.output, out_fmt)
    show = sys.stderr.isatty() if config.progress is None else config.progress
    progress = Progress(max(count_rows(config.input, in_fmt) - len(skip or ()), 0), show)
    started = time.monotonic()
    options = ClientOptions(
        target=config.endpoint,
        tls=config.tls,
        timeout=config.timeout,
        retry=config.retry(),
        segmenter=config.segmenter,
    )
    writer = None
    try:
        with Client(options) as client, _RowShield() as shield:
            client.on_retry = progress.note
            _check_connects(client, config)
            segmenter = client.segmenter()
            if segmenter is not None:
                progress.note(
                    f"segmenting texts with {segmenter.package} {segmenter.installed_version} "
                    f"(the model's: {segmenter.version or 'not declared'}); spans refer to the "
                    "input's own text"
                )
            writer = _open_writer(config, out_fmt)
            items = _pending_items(config, in_fmt, skip, result)
            for answered in client.predict_stream(
                items, threshold=config.threshold, streams=config.streams
            ):
                with shield.row():
                    _store(config, out_fmt, writer, result, answered)
                progress.step()
    finally:
        if writer is not None:
            writer.close()
            if isinstance(writer, JsonlWriter) and writer.stream is not sys.stdout:
                writer.stream.close()
        progress.finish()
        result.seconds = time.monotonic() - started
    return result


def _has_rows(path: str) -> bool:
    """An output that holds something: a non-empty file or a directory with part files."""
    output = Path(path)
    if output.is_file():
        return output.stat().st_size > 0
    return output.is_dir() and any(p.name.startswith("part-") for p in output.iterdir())


def _store(config: JobConfig, out_fmt: str, writer: Any, result: JobResult, answered: Any) -> None:
    item, answer = answered.item, answered.result
    result.rows += 1
    if answer.HasField("error"):
        result.errors += 1
        if config.fail_fast:
            raise FailFast(
                f"row {answer.id or '(no id)'} failed: {answer.error.message} (--fail-fast)"
            )
    text = (
        item["text"] if isinstance(item["text"], str) or item["text"] is None else str(item["text"])
    )
    if config.mode == "memory":
        result.records.append(result_record(answer.id, text, answer))
    elif out_fmt == "parquet" and config.mode == "file":
        writer.write(parquet_record(answer.id, text, answer))
    else:
        writer.write(result_record(answer.id, text, answer))


# -- the Spark engine ------------------------------------------------------------------------


def spark_session(config: JobConfig) -> Any:
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("eaos-batch")
    if config.remote:
        return builder.remote(config.remote).getOrCreate()
    return builder.master(config.master).getOrCreate()


def run_spark(config: JobConfig, spark: Any = None) -> JobResult:
    """The same job as DataFrame operations (mapInPandas), on a classic or Spark Connect session.

    In file mode ``errors`` counts failed rows in the whole output (earlier runs included).
    """
    from pyspark.sql import functions as F

    from eaos_client import spark as eaos_spark

    session = spark or spark_session(config)
    in_fmt = detect_format(config.input, config.input_format)
    out_fmt = detect_format(config.output or "", config.output_format)
    reader = session.read.parquet if in_fmt == "parquet" else session.read.json
    frame = reader(config.input).select(
        F.col(config.id_col).cast("string").alias("id"), F.col(config.text_col).alias("text")
    )
    result = JobResult()
    started = time.monotonic()
    if config.mode == "file" and config.resume and _has_output(config.output):
        total = frame.count()
        frame = frame.join(_spark_done_ids(session, config.output, out_fmt), "id", "left_anti")
        result.rows = frame.count()
        result.skipped = total - result.rows
    kwargs = dict(
        endpoint=config.endpoint,
        id_col="id",
        threshold=config.threshold,
        timeout=config.timeout,
        concurrency=config.concurrency,
        tls=config.tls,
        retry=config.retry(),
        segmenter=config.segmenter,
    )
    if config.mode == "file" and out_fmt == "parquet":
        annotated = eaos_spark.annotate(frame, "text", output="struct", error_col="error", **kwargs)
        annotated.write.mode("append").parquet(config.output)
        written = session.read.parquet(config.output)
        result.errors = written.where(F.col("error").isNotNull()).count()
    elif config.mode == "file":
        lines = eaos_spark.annotate(frame, "text", output="json", **kwargs).select("json")
        lines.write.mode("append").text(config.output)
        written = session.read.text(config.output)
        result.errors = written.where(F.col("value").contains('"error":{')).count()
    else:
        lines = eaos_spark.annotate(frame, "text", output="json", **kwargs).select("json")
        _collect_lines(config, lines, result)
    if config.mode == "file":
        result.rows = written.count() - result.skipped if result.skipped else written.count()
    result.seconds = time.monotonic() - started
    return result


def _has_output(path: str | None) -> bool:
    return bool(path) and os.path.isdir(path) and any(Path(path).glob("part-*"))


def _spark_done_ids(session: Any, output: str, fmt: str) -> Any:
    from pyspark.sql import functions as F

    if fmt == "parquet":
        return session.read.parquet(output).select("id").distinct()
    lines = session.read.text(output)
    return lines.select(F.get_json_object("value", "$.id").alias("id")).distinct()


def _collect_lines(config: JobConfig, lines: Any, result: JobResult) -> None:
    for row in lines.toLocalIterator():
        result.rows += 1
        if '"error":{' in row.json:
            result.errors += 1
        if config.mode == "console":
            sys.stdout.write(row.json + "\n")
        else:
            result.records.append(json.loads(row.json))


# -- CLI -------------------------------------------------------------------------------------


def _check_config(config: JobConfig, spark_engine: bool) -> None:
    if config.mode not in ("file", "console", "memory"):
        raise UsageError(f"--mode must be file, console or memory, not {config.mode!r}")
    if config.mode == "file" and not config.output:
        raise UsageError("--mode=file needs --output")
    if not spark_engine and config.engine != "direct":
        raise UsageError(f"--engine must be direct or spark, not {config.engine!r}")
    if not os.path.exists(config.input):
        raise UsageError(f"--input {config.input}: no such file or directory")
    if config.mode != "file" or not config.output or not os.path.exists(config.output):
        return
    out_fmt = detect_format(config.output, config.output_format)
    if spark_engine and os.path.isfile(config.output):
        raise UsageError(
            f"--output {config.output} is a file (written by --engine direct); --engine spark "
            "writes a directory: use the engine that wrote it, or a new --output"
        )
    if not spark_engine and out_fmt == "jsonl" and os.path.isdir(config.output):
        raise UsageError(
            f"--output {config.output} is a directory (written by --engine spark); --engine "
            "direct writes one JSONL file: use the engine that wrote it, or a new --output"
        )


def run_job(config: JobConfig, spark: Any = None, result: JobResult | None = None) -> JobResult:
    """Validates the configuration and runs it with the chosen engine (UsageError if invalid)."""
    spark_engine = config.engine == "spark" or spark is not None
    _check_config(config, spark_engine)
    if spark_engine:
        return run_spark(config, spark)
    return run_direct(config, result)


def parse_args(argv: Iterable[str] | None = None) -> JobConfig:
    parser = argparse.ArgumentParser(prog="eaos-batch", description=__doc__.split("\n")[0])
    add = parser.add_argument
    add("--input", required=True, help="JSONL file (or directory) or Parquet file/directory")
    add("--output", help="result path (file mode)")
    add("--mode", default="file", choices=["file", "console", "memory"])
    add("--engine", default="direct", choices=["direct", "spark"])
    add("--endpoint", default=os.environ.get("EAOS_ENDPOINT", "127.0.0.1:50051"))
    add("--input-format", choices=["jsonl", "parquet"])
    add("--output-format", choices=["jsonl", "parquet"])
    add("--id-col", default="id")
    add("--text-col", default="text")
    add("--threshold", type=float)
    add("--timeout", type=float, default=60.0, help="deadline of each call, seconds")
    add("--streams", type=int, default=4, help="concurrent streams (direct engine)")
    add("--concurrency", type=int, default=4, help="calls in flight per Spark task")
    add(
        "--max-attempts",
        type=int,
        default=10,
        help="tries of a call or stream on UNAVAILABLE / RESOURCE_EXHAUSTED (backoff 0.25-8 s)",
    )
    add("--no-resume", action="store_true", help="do not skip ids already in the output")
    add("--fail-fast", action="store_true", help="stop at the first failed row (exit 1)")
    add(
        "--connect-timeout",
        type=float,
        default=10.0,
        help="seconds to wait for a first connection before failing (0: no check; direct engine)",
    )
    add(
        "--segmenter",
        default="auto",
        choices=list(SEGMENTER_SETTINGS),
        help="word segmentation before sending: auto (the model's, from GetModelInfo), none, "
        "or a package; spans always refer to the input text",
    )
    add("--progress", action=argparse.BooleanOptionalAction, default=None)
    add("--master", default="local[2]", help="Spark master (classic session)")
    add("--remote", help="Spark Connect URL, e.g. sc://host:15002 (instead of --master)")
    add("--tls-ca", help="PEM root CA of the server certificate (enables TLS)")
    add("--tls-cert", help="PEM client certificate (mTLS)")
    add("--tls-key", help="PEM client key (mTLS)")
    add("--tls-server-name", help="expected server name in its certificate")
    args = parser.parse_args(list(argv) if argv is not None else None)
    tls = None
    if args.tls_ca or args.tls_cert or args.tls_server_name:
        tls = TlsOptions(args.tls_ca, args.tls_cert, args.tls_key, args.tls_server_name)
    return JobConfig(
        input=args.input,
        output=args.output,
        mode=args.mode,
        engine=args.engine,
        endpoint=args.endpoint,
        input_format=args.input_format,
        output_format=args.output_format,
        id_col=args.id_col,
        text_col=args.text_col,
        threshold=args.threshold,
        timeout=args.timeout,
        streams=args.streams,
        concurrency=args.concurrency,
        resume=not args.no_resume,
        progress=args.progress,
        master=args.master,
        remote=args.remote,
        tls=tls,
        max_attempts=args.max_attempts,
        fail_fast=args.fail_fast,
        connect_timeout=args.connect_timeout,
        segmenter=args.segmenter,
    )


def main(argv: Iterable[str] | None = None) -> int:
    """The CLI: 0 done, 1 server/I-O error or --fail-fast stop, 2 usage, 130 Ctrl-C."""
    config = parse_args(argv)  # argparse exits 2 on bad flags
    result = JobResult()
    try:
        result = run_job(config, result=result)
    except KeyboardInterrupt:
        print("\neaos-batch: interrupted; rerun the same command to resume", file=sys.stderr)
        print(result.summary(), file=sys.stderr)
        return 130
    except (UsageError, SegmenterUnavailable) as error:
        print(f"eaos-batch: {error}", file=sys.stderr)
        return 2
    except (EaosError, FailFast, ValueError, OSError) as error:
        print(f"eaos-batch: {error}", file=sys.stderr)
        print(result.summary(), file=sys.stderr)
        return 1
    print(result.summary(), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
