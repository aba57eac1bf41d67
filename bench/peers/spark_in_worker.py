"""The seed's approach vs eaos-serve on Spark: rows/s and memory, one local[N] session per path.

    EAOS_SERVER_BINARY=build/release/bin/eaos-server build/peerenv/bin/python \
        bench/peers/spark_in_worker.py --model_dir models/demo --rows 4000 [--runs 2] [--json FILE]

Two paths over the same DataFrame (``--rows`` generated comments, eaos_tools.generate seed 2024,
cached before timing), each in its own driver process with its own local[N] JVM, so that no Python
worker of one path serves the other:

* ``in-worker`` (the seed): ``mapInPandas`` whose function loads the model inside the Python
  worker, lazily, once per worker process (PySpark reuses its workers, so a worker keeps its
  model across tasks; the seed loaded it per partition), then tokenizes, pads to the longest of
  each chunk of ``--batch_size`` rows in row order, forwards under torch.inference_mode and decodes
  with the project's Python reference (models/eaos_tools). Intra-op threads per worker:
  ``--worker_threads`` (default usable CPUs / N, at least 1: N workers x threads = the CPUs). No
  eaos-server runs.
* ``eaos-serve``: ``eaos_client.spark.annotate(df, "text", endpoint=...)`` (mapInPandas, struct
  output, its defaults: 4 Predict calls of up to 256 rows in flight per task) against an
  eaos-server started for it on the same model (``--server_threads``, 0 = its own measured choice).

Both produce the same columns (``predictions`` of eaos_client.spark.PREDICTION_DDL and
``eaos_error``) and are ``collect()``ed. Run 1 is cold (fresh Python workers: imports, model load or
channel); runs 2.. reuse the workers. Memory is sampled every 0.1 s during the runs: RSS and PSS
(/proc/PID/smaps_rollup) summed over the Spark Python processes (pyspark.daemon and the workers it
forks, found among the JVM's descendants), plus eaos-server's RSS; the peak of each sum is
reported (the JVM itself is reported beside, not in the total). The two paths' tuples are compared
row by row (same_predictions of tests/spark: equal tuples, confidences within 2e-3).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

# -- in the Python workers ----------------------------------------------------------------------

_WORKER_MODEL: dict[str, Any] = {}  # model_dir -> ReferenceModel, once per worker process


def _worker_model(model_dir: str, threads: int) -> Any:
    model = _WORKER_MODEL.get(model_dir)
    if model is None:
        sys.path.insert(0, str(REPO / "models"))
        import torch
        from eaos_tools.reference import ReferenceModel

        torch.set_num_threads(threads)
        model = _WORKER_MODEL[model_dir] = ReferenceModel(model_dir)
    return model


def _struct(tuple_: dict) -> dict:
    span = tuple_["entity_span"]
    return {
        "entity": tuple_["entity"],
        "aspect": tuple_["aspect"],
        "opinion": tuple_["opinion"],
        "sentiment": tuple_["sentiment"],
        "confidence": float(tuple_["confidence"]),
        "entity_span": {"begin": span[0], "end": span[1]} if tuple_["entity"] else None,
        "opinion_span": {"begin": tuple_["opinion_span"][0], "end": tuple_["opinion_span"][1]},
    }


def in_worker_batches(model_dir: str, batch_size: int, threads: int,
                      frames: Iterator[Any]) -> Iterator[Any]:
    """The mapInPandas function of the seed's approach."""
    import torch
    from eaos_tools.tokenization import pad_batch

    model = _worker_model(model_dir, threads)
    for frame in frames:
        texts = frame["text"].tolist()
        predictions: list[Any] = []
        for start in range(0, len(texts), batch_size):
            encodings = [model.encode(t) for t in texts[start:start + batch_size]]
            ids, mask = pad_batch(encodings, model.tokenizer.pad_id)
            with torch.inference_mode():
                out = model.module(torch.tensor(ids), torch.tensor(mask))
                logits = {k: v.to(torch.float32).numpy() for k, v in out.items()}
            for row, encoding in enumerate(encodings):
                tuples = model.decode_row(encoding, logits, row, 0.5)
                predictions.append([_struct(t) for t in tuples])
        frame = frame.copy()
        frame["predictions"] = predictions
        frame["eaos_error"] = [None] * len(texts)
        yield frame


# -- memory -------------------------------------------------------------------------------------


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def _descendants(root: int) -> list[int]:
    tree, out, todo = _children(), [], [root]
    while todo:
        for child in tree.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _rss_pss_kib(pid: int) -> tuple[int, int]:
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


class MemorySampler:
    """Peaks of: Spark Python processes' RSS sum, their PSS sum, the JVM's RSS, the server's
    RSS, and workers' PSS + server RSS, every ``interval`` seconds."""

    def __init__(self, server_pid: int | None, interval: float = 0.1) -> None:
        self.server_pid = server_pid
        self.interval = interval
        self.peak = {"workers_rss": 0, "workers_pss": 0, "jvm_rss": 0, "server_rss": 0,
                     "total": 0, "python_processes": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "MemorySampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()

    def sample(self) -> None:
        workers_rss = workers_pss = jvm_rss = 0
        python = 0
        for pid in _descendants(os.getpid()):
            cmd = _cmdline(pid)
            rss, pss = _rss_pss_kib(pid)
            if "pyspark.daemon" in cmd or "pyspark.worker" in cmd:
                workers_rss += rss
                workers_pss += pss
                python += 1
            elif "java" in cmd.split(" ", 1)[0]:
                jvm_rss += rss
        server_rss = _rss_pss_kib(self.server_pid)[0] if self.server_pid else 0
        now = {"workers_rss": workers_rss, "workers_pss": workers_pss, "jvm_rss": jvm_rss,
               "server_rss": server_rss, "total": workers_pss + server_rss,
               "python_processes": python}
        for key, value in now.items():
            self.peak[key] = max(self.peak[key], value)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)


# -- one path in this process -------------------------------------------------------------------


def run_path(args: argparse.Namespace) -> dict[str, Any]:
    sys.path.insert(0, str(REPO / "tests" / "spark"))
    sys.path.insert(0, str(REPO / "models"))
    # the workers import this module (by name: its cache lives per worker) and eaos_tools
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(HERE), str(REPO / "models")] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    from eaos_testing import EaosServer, SPARK_CONF, spark_env
    from eaos_tools.generate import generate

    import spark_in_worker as this  # by reference in the pickled task, not __main__

    rows = [{"id": r["id"], "text": r["text"]} for r in generate(args.rows, seed=2024)]
    server = None
    if args.path == "eaos-serve":
        server = EaosServer(threads=args.server_threads, model_dir=args.model_dir)
    os.environ.update({k: v for k, v in spark_env().items() if k.startswith(("PYSPARK_", "SPARK_"))})
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master(f"local[{args.parallelism}]").appName(args.path)
    for key, value in {**SPARK_CONF, "spark.default.parallelism": str(args.parallelism)}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    result: dict[str, Any] = {"path": args.path, "rows": len(rows), "runs": []}
    try:
        frame = spark.createDataFrame(rows, "id string, text string").repartition(
            args.parallelism).cache()
        frame.count()
        if server is not None:
            from eaos_client import spark as eaos_spark

            job = eaos_spark.annotate(frame, "text", endpoint=server.target)
            result["server_threads"] = server_threads(server)
        else:
            from eaos_client.spark import ERROR_DDL, PREDICTION_DDL
            from pyspark.sql.types import StructType, _parse_datatype_string

            schema = StructType(list(frame.schema.fields))
            schema.add("predictions", _parse_datatype_string(PREDICTION_DDL))
            schema.add("eaos_error", _parse_datatype_string(ERROR_DDL))
            fn = functools.partial(this.in_worker_batches, os.path.abspath(args.model_dir),
                                   args.batch_size, args.worker_threads)
            job = frame.mapInPandas(fn, schema)
        out: list[Any] = []
        with MemorySampler(server.process.pid if server else None) as memory:
            for _ in range(args.runs):
                started = time.monotonic()
                out = job.collect()
                seconds = time.monotonic() - started
                result["runs"].append({"seconds": round(seconds, 2),
                                       "rows_per_s": round(len(out) / seconds, 2)})
            memory.sample()
        result["memory_kib"] = memory.peak
        result["errors"] = sum(1 for r in out if r["eaos_error"] is not None)
        result["predictions"] = {
            r["id"]: [t.asDict(recursive=True) for t in (r["predictions"] or [])] for r in out}
    finally:
        spark.stop()
        if server is not None:
            server.stop()
    return result


def server_threads(server: Any) -> int:
    from eaos_client import Client, ClientOptions

    with Client(ClientOptions(target=server.target)) as client:
        return int(client.get_model_info().intra_op_threads)


# -- both paths ---------------------------------------------------------------------------------


def compare(a: dict[str, Any], b: dict[str, Any]) -> tuple[int, int]:
    sys.path.insert(0, str(REPO / "tests" / "spark"))
    from eaos_testing import same_predictions

    same = sum(1 for k, v in a.items() if same_predictions(v, b.get(k)))
    return same, len(a)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_dir", default=str(REPO / "models" / "demo"))
    parser.add_argument("--rows", type=int, default=4000)
    parser.add_argument("--runs", type=int, default=2, help="run 1 is cold, the rest warm")
    parser.add_argument("--parallelism", type=int, default=2, help="local[N]")
    parser.add_argument("--batch_size", type=int, default=64, help="in-worker forward batch")
    parser.add_argument("--worker_threads", type=int, default=0,
                        help="in-worker torch threads; 0 = usable CPUs / N, at least 1")
    parser.add_argument("--server_threads", type=int, default=0, help="0 = measured choice")
    parser.add_argument("--path", choices=["in-worker", "eaos-serve"],
                        help="run one path here (the driver runs each in a subprocess)")
    parser.add_argument("--json", help="write the result(s) here")
    args = parser.parse_args(argv)
    if args.worker_threads <= 0:
        args.worker_threads = max(1, len(os.sched_getaffinity(0)) // args.parallelism)
    if args.path:
        result = run_path(args)
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result, f, ensure_ascii=False)
        return
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for path in ("in-worker", "eaos-serve"):
            target = os.path.join(tmp, f"{path}.json")
            forwarded = [a for a in (argv if argv is not None else sys.argv[1:])
                         if not a.startswith("--json")]
            subprocess.run([sys.executable, str(Path(__file__).resolve()), *forwarded,
                            f"--path={path}", f"--json={target}"], check=True)
            with open(target, encoding="utf-8") as f:
                results[path] = json.load(f)
    same, total = compare(results["in-worker"]["predictions"], results["eaos-serve"]["predictions"])
    summary = {"agree": same, "compared": total, "worker_threads": args.worker_threads,
               "parallelism": args.parallelism, "batch_size": args.batch_size}
    for path, r in results.items():
        r.pop("predictions")
        summary[path] = r
    print_table(summary)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(summary, f, ensure_ascii=False, indent=1)


def print_table(summary: dict[str, Any]) -> None:
    print(f"\n{summary['in-worker']['rows']} rows, local[{summary['parallelism']}]; in-worker: "
          f"{summary['worker_threads']} torch thread(s) per worker, batches of "
          f"{summary['batch_size']}; eaos-serve: --threads="
          f"{summary['eaos-serve'].get('server_threads')}; tuples agree on "
          f"{summary['agree']}/{summary['compared']} rows\n")
    print("| path | rows/s cold | rows/s warm | workers RSS MiB | workers PSS MiB | server RSS MiB "
          "| total MiB (PSS + server) | JVM RSS MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for path in ("in-worker", "eaos-serve"):
        r = summary[path]
        m = {k: v / 1024 for k, v in r["memory_kib"].items()}
        runs = r["runs"]
        warm = max(x["rows_per_s"] for x in runs[1:]) if len(runs) > 1 else float("nan")
        print(f"| {path} | {runs[0]['rows_per_s']:.1f} | {warm:.1f} | {m['workers_rss']:.0f} | "
              f"{m['workers_pss']:.0f} | {m['server_rss']:.0f} | {m['total']:.0f} | "
              f"{m['jvm_rss']:.0f} |")


if __name__ == "__main__":
    main()
