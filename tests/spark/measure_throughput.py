"""Rows/s of the Spark path vs the direct client on the same comments (the table in docs/spark.md).

    EAOS_SERVER_BINARY=build/release/bin/eaos-server build/pyenv/bin/python \
        tests/spark/measure_throughput.py --repeat 3 --server-threads 1

Starts one eaos-server and one local[2] session; each path runs --repeat times after a warm-up;
prints the median rows/s of each as a Markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from eaos_testing import EaosServer, comments, local_spark_session  # noqa: E402

from eaos_client import Client, ClientOptions  # noqa: E402
from eaos_client import spark as eaos_spark  # noqa: E402


def timed(run: Callable[[], int], repeat: int) -> tuple[float, list[float]]:
    rates = []
    for _ in range(repeat):
        started = time.monotonic()
        count = run()
        rates.append(count / (time.monotonic() - started))
    return statistics.median(rates), rates


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--server-threads", type=int, default=1)
    args = parser.parse_args()
    rows = comments()
    texts, ids = [r["text"] for r in rows], [r["id"] for r in rows]
    server = EaosServer(threads=args.server_threads)
    spark = None
    try:
        client = Client(ClientOptions(target=server.target, concurrency=4))
        spark = local_spark_session()
        frame = spark.createDataFrame(rows, "id string, text string").cache()
        frame.count()
        paths: dict[str, Callable[[], int]] = {
            "direct client, annotate (Predict, 4 x 256 rows in flight)": lambda: len(
                client.annotate(texts, ids)
            ),
            "direct client, predict_stream (4 streams x 512 in flight)": lambda: sum(
                1 for _ in client.predict_stream(rows, streams=4)
            ),
            "Spark local[2] mapInPandas, struct (2 tasks x 4 x 256)": lambda: len(
                eaos_spark.annotate(frame, "text", endpoint=server.target).collect()
            ),
            "Spark local[2] mapInArrow, JSON": lambda: len(
                eaos_spark.annotate(
                    frame, "text", endpoint=server.target, output="json", engine="arrow"
                ).collect()
            ),
        }
        for run in paths.values():  # warm-up: Python workers, JIT, channels
            run()
        print(f"{len(rows)} comments, eaos-server --threads={args.server_threads}, "
              f"median of {args.repeat}\n\n| path | rows/s | runs |\n|---|---|---|")
        for name, run in paths.items():
            median, rates = timed(run, args.repeat)
            runs = ", ".join(f"{r:.0f}" for r in rates)
            print(f"| {name} | {median:.0f} | {runs} |", flush=True)
        client.close()
    finally:
        if spark is not None:
            spark.stop()
        server.stop()


if __name__ == "__main__":
    main()
