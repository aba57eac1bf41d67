"""eaos-serve beside its peers, in one run, per model: the table leading docs/benchmarks.md.

    bench/run_peers_bench.sh [build_dir] [run.py flags]       # picks build/peerenv's python
    build/peerenv/bin/python bench/peers/run.py --build build/release \
        --model demo=models/demo --model base=build/release/tests/models/base

Per model, one after the other:

1. gRPC: eaos-server (its defaults: --threads measured at load, max batch 64, max queue delay
   5 ms) and bench/peers/grpc_aio_server.py (the plain Python grpc.aio + torch dynamic-batching
   peer) on the same model directory, the peer given the intra-op thread count the server chose
   and the same max batch and max wait; eaos-bench measures both, one after the other, with the
   same closed loop (--streams x --window, fixture texts). Peak RSS of each process is sampled
   every 0.1 s during the eaos-bench run.
2. Spark: bench/peers/spark_in_worker.py (mapInPandas with the model loaded in each Python worker,
   the seed's approach, vs eaos_client.spark.annotate through a fresh eaos-server): rows/s and
   peak memory (Spark Python processes' RSS and PSS, plus eaos-server's RSS).

Prints each part's own output, then one Markdown table. The defaults take about 6 minutes on 2
cores (demo: 10 s window, 4,000 Spark rows; base: 40 s window, 200 rows); a longer run:
--duration 30s --base_duration 120s --demo_rows 20000 --base_rows 1000 --spark_runs 3.
--threads demo=1 --threads base=2 pins the intra-op threads (default: eaos-server's measured
choice at load, which a busy machine can move; the peer and the Spark part's server get the same).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
LISTEN_RE = re.compile(r"listening on ([0-9.]+):(\d+) metrics on ([0-9.]+):(\d+)")

# Closed-loop load per model label (eaos-bench flags); others get --streams/--window.
LOADS = {
    "demo": {"streams": 64, "window": 1},   # the page's batching table
    "base": {"streams": 16, "window": 2},   # the page's base-size thread table
}


def rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class PeakRss:
    def __init__(self, pids: dict[str, int], interval: float = 0.1) -> None:
        self.pids = pids
        self.interval = interval
        self.peak = dict.fromkeys(pids, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "PeakRss":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            for label, pid in self.pids.items():
                self.peak[label] = max(self.peak[label], rss_kib(pid))
            self._stop.wait(self.interval)


class Process:
    """A server started on loopback ephemeral ports; ready once its log says SERVING."""

    def __init__(self, label: str, args: list[str], logs: Path, timeout: float = 300) -> None:
        self.label = label
        self.log = logs / f"{label}.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while "SERVING" not in self.log.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{label} did not start:\n{self.log.read_text()[-4000:]}")
            time.sleep(0.1)
        match = LISTEN_RE.search(self.log.read_text(errors="replace"))
        self.target = f"{match.group(1)}:{match.group(2)}"
        self.spec = f"{self.target}:{match.group(4)}"  # eaos-bench's HOST:PORT:METRICS_PORT

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def model_info(target: str) -> Any:
    from eaos_client import Client, ClientOptions

    with Client(ClientOptions(target=target)) as client:
        return client.get_model_info()


def summary_rows(path: Path) -> dict[str, dict[str, str]]:
    rows = {}
    for line in path.read_text().splitlines():
        fields = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
        rows[fields["label"]] = fields
    return rows


def grpc_part(label: str, model_dir: str, threads: int, args: argparse.Namespace,
              logs: Path) -> dict[str, Any]:
    bin_dir = Path(args.build) / "bin"
    server = Process(f"{label}-eaos-server", [
        str(bin_dir / "eaos-server"), f"--model_dir={model_dir}", "--listen=127.0.0.1:0",
        "--metrics_listen=127.0.0.1:0", f"--threads={threads}"], logs)
    peer = None
    try:
        info = model_info(server.target)
        threads = info.intra_op_threads  # --threads=0: what the server measured and chose
        peer = Process(f"{label}-python-peer", [
            sys.executable, str(HERE / "grpc_aio_server.py"), f"--model_dir={model_dir}",
            f"--threads={threads}", f"--max_batch_size={info.limits.max_batch_size}",
            f"--max_wait_ms={info.limits.max_queue_delay_us / 1000}"], logs)
        load = LOADS.get(label, {"streams": args.streams, "window": args.window})
        summary = logs / f"{label}-bench.txt"
        command = [str(bin_dir / "eaos-bench"),
                   f"--targets=eaos-server={server.spec},python-peer={peer.spec}",
                   f"--streams={load['streams']}", f"--window={load['window']}",
                   f"--duration={args.duration if label == 'demo' else args.base_duration}",
                   f"--warmup={args.warmup}", f"--drain={args.drain}", f"--summary={summary}"]
        print(f"\n== {label}: gRPC, {shlex.join(command)}", flush=True)
        with PeakRss({"eaos-server": server.pid, "python-peer": peer.pid}) as memory:
            subprocess.run(command, check=True)
        rows = summary_rows(summary)
        return {"threads": threads, "load": load, "rows": rows, "peak_rss_kib": memory.peak,
                "max_batch_size": info.limits.max_batch_size,
                "max_wait_ms": info.limits.max_queue_delay_us / 1000}
    finally:
        if peer is not None:
            peer.stop()
        server.stop()


def spark_part(label: str, model_dir: str, rows: int, threads: int, args: argparse.Namespace,
               logs: Path) -> dict[str, Any]:
    out = logs / f"{label}-spark.json"
    command = [sys.executable, str(HERE / "spark_in_worker.py"), f"--model_dir={model_dir}",
               f"--rows={rows}", f"--runs={args.spark_runs}", f"--server_threads={threads}",
               f"--json={out}"]
    print(f"\n== {label}: Spark, {shlex.join(command)}", flush=True)
    env = dict(os.environ, EAOS_SERVER_BINARY=str(Path(args.build) / "bin" / "eaos-server"))
    subprocess.run(command, check=True, env=env)
    return json.loads(out.read_text())


def load_average() -> str:
    with open("/proc/loadavg", encoding="ascii") as f:
        return " ".join(f.read().split()[:3])


def mib(kib: float) -> str:
    return f"{kib / 1024:.0f}"


def print_table(results: dict[str, Any], started: str, loads: tuple[str, str]) -> None:
    print(f"\n## Peers ({started}; load average at start {loads[0]}, at end {loads[1]}; "
          f"{len(os.sched_getaffinity(0))} CPUs)\n")
    print("| model | setup | rows/s | p50 ms | p99 ms | mean batch | padding | memory MiB | "
          "memory counted |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")
    for label, r in results.items():
        g = r["grpc"]
        load = f"{g['load']['streams']} streams x {g['load']['window']}"
        for name, setup in (("eaos-server", f"eaos-server, gRPC closed loop {load}"),
                            ("python-peer", "Python grpc.aio + torch peer, same load")):
            row = g["rows"][name]
            answered = float(row["comments_per_s"]) > 0
            cell = (lambda key, fmt: format(float(row[key]), fmt) if answered else "n/a")
            print(f"| {label} | {setup} | {float(row['comments_per_s']):.1f} | "
                  f"{cell('p50_ms', '.1f')} | {cell('p99_ms', '.1f')} | "
                  f"{cell('mean_batch', '.1f')} | "
                  f"{format(100 * float(row['padding']), '.1f') + '%' if answered else 'n/a'} | "
                  f"{mib(g['peak_rss_kib'][name])} | peak RSS |")
        s = r["spark"]
        for name, setup in (("in-worker", "Spark mapInPandas, model in each worker (seed)"),
                            ("eaos-serve", "Spark eaos_client.spark.annotate + eaos-server")):
            p = s[name]
            runs = p["runs"]
            warm = max(x["rows_per_s"] for x in runs[1:]) if len(runs) > 1 else runs[0]["rows_per_s"]
            m = p["memory_kib"]
            counted = (f"workers PSS {mib(m['workers_pss'])} (RSS {mib(m['workers_rss'])}, "
                       f"{m['python_processes']} processes)")
            if name == "eaos-serve":
                counted += f" + server RSS {mib(m['server_rss'])}"
            print(f"| {label} | {setup} | {warm:.1f} (cold {runs[0]['rows_per_s']:.1f}) | | | | | "
                  f"{mib(m['total'])} | {counted} |")
    print()
    for label, r in results.items():
        g, s = r["grpc"], r["spark"]
        peer_rate = float(g["rows"]["python-peer"]["comments_per_s"])
        ratio = (f"{float(g['rows']['eaos-server']['comments_per_s']) / peer_rate:.2f}x"
                 if peer_rate > 0 else "n/a (the peer answered nothing in the window)")
        warm = {k: (max(x["rows_per_s"] for x in s[k]["runs"][1:]) if len(s[k]["runs"]) > 1
                    else s[k]["runs"][0]["rows_per_s"]) for k in ("in-worker", "eaos-serve")}
        mem = s["in-worker"]["memory_kib"]["total"] / max(1, s["eaos-serve"]["memory_kib"]["total"])
        print(f"{label}: eaos-server / Python peer = {ratio} comments/s "
              f"(intra-op threads {g['threads']} each, max batch {g['max_batch_size']}, "
              f"max wait {g['max_wait_ms']:g} ms); Spark annotate / in-worker = "
              f"{warm['eaos-serve'] / max(1e-9, warm['in-worker']):.2f}x rows/s warm, "
              f"in-worker memory / annotate memory = {mem:.2f}x; "
              f"{s['in-worker']['rows']} rows, tuples agree on {s['agree']}/{s['compared']}, "
              f"in-worker {s['worker_threads']} torch thread(s) per worker, eaos-server "
              f"--threads={s['eaos-serve'].get('server_threads')}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", default=str(REPO / "build" / "release"))
    parser.add_argument("--model", action="append", metavar="LABEL=DIR",
                        help="repeatable; default demo=models/demo and "
                             "base=<build>/tests/models/base (ctest -R export_base_model)")
    parser.add_argument("--threads", action="append", default=[], metavar="LABEL=N",
                        help="intra-op threads of both servers and of eaos-server in the Spark "
                             "part; default: what eaos-server measures and chooses at load")
    parser.add_argument("--duration", default="10s", help="eaos-bench window, demo")
    parser.add_argument("--base_duration", default="40s", help="eaos-bench window, other models")
    parser.add_argument("--drain", default="120s", help="eaos-bench: wait for late answers")
    parser.add_argument("--warmup", default="3s")
    parser.add_argument("--streams", type=int, default=16, help="models other than demo/base")
    parser.add_argument("--window", type=int, default=1)
    parser.add_argument("--demo_rows", type=int, default=4000, help="Spark rows, demo")
    parser.add_argument("--base_rows", type=int, default=200, help="Spark rows, other models")
    parser.add_argument("--spark_runs", type=int, default=2, help="run 1 cold, the rest warm")
    parser.add_argument("--json", help="write every measurement here")
    args = parser.parse_args(argv)
    models = args.model or [f"demo={REPO / 'models' / 'demo'}",
                            f"base={Path(args.build) / 'tests' / 'models' / 'base'}"]
    started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load_start = load_average()
    print(f"{started}; load average {load_start}", flush=True)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="eaos-peers-") as tmp:
        for spec in models:
            label, model_dir = spec.split("=", 1)
            if not (Path(model_dir) / "model.pt").is_file():
                raise SystemExit(f"no model.pt in {model_dir} (the base-size model: "
                                 "ctest --preset release -R export_base_model)")
            rows = args.demo_rows if label == "demo" else args.base_rows
            threads = int(dict(t.split("=", 1) for t in args.threads).get(label, 0))
            grpc = grpc_part(label, model_dir, threads, args, Path(tmp))
            results[label] = {"grpc": grpc}
            results[label]["spark"] = spark_part(label, model_dir, rows, grpc["threads"], args,
                                                 Path(tmp))
    print_table(results, started, (load_start, load_average()))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
