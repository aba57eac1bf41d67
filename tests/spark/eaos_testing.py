"""Helpers for the Spark and end-to-end tests: real eaos-server and Spark Connect processes.

Every process is started on loopback ephemeral ports, owned by the object that started it, and
killed by its own pid / process group in stop(); every wait is bounded.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
LISTEN_RE = re.compile(r"listening on ([0-9a-fA-F.:\[\]]+):(\d+) metrics on ([0-9.]+):(\d+)")
CONNECT_RE = re.compile(r"Spark Connect server started at: ([0-9.]+):(\d+)")


def server_binary() -> str:
    """$EAOS_SERVER_BINARY; the tests fail (not skip) without it."""
    binary = os.environ.get("EAOS_SERVER_BINARY", "")
    if not binary or not os.access(binary, os.X_OK):
        raise RuntimeError(f"EAOS_SERVER_BINARY={binary!r} is not an executable eaos-server")
    return binary


def _wait_for(predicate: Any, timeout: float, what: str, log: Path) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise TimeoutError(
        f"{what} within {timeout:.0f}s; log:\n{log.read_text(errors='replace')[-4000:]}"
    )


class EaosServer:
    """One eaos-server process. ``target`` is host:port; ``items_ok()`` reads its /metrics."""

    def __init__(
        self,
        listen: str = "127.0.0.1:0",
        threads: int = 1,
        extra: tuple[str, ...] = (),
        model_dir: str | None = None,
    ) -> None:
        self.log_path = Path(tempfile.mkstemp(prefix="eaos-server-", suffix=".log")[1])
        args = [
            server_binary(),
            f"--listen={listen}",
            "--metrics_listen=127.0.0.1:0",
            f"--threads={threads}",
            *extra,
        ]
        model_dir = model_dir or os.environ.get("EAOS_MODEL_DIR")
        if model_dir:
            args.append(f"--model_dir={model_dir}")
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        try:
            self._wait_ready()
        except BaseException:
            self.kill()
            raise

    def _log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def _wait_ready(self, timeout: float = 60.0) -> None:
        def ready() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"eaos-server exited {self.process.returncode}:\n{self._log()}")
            return "SERVING" in self._log()

        _wait_for(ready, timeout, "eaos-server SERVING", self.log_path)
        match = LISTEN_RE.search(self._log())
        if match is None:
            raise RuntimeError(f"no ports in the eaos-server log:\n{self._log()}")
        self.host, self.port = match.group(1), int(match.group(2))
        self.metrics_port = int(match.group(4))
        self.target = f"{self.host}:{self.port}"

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.read().decode()

    def items(self, outcome: str = "ok") -> int:
        match = re.search(rf'^eaos_items_total{{outcome="{outcome}"}} (\S+)$', self.metrics(), re.M)
        return int(float(match.group(1))) if match else 0

    def kill(self) -> None:
        """SIGKILL, as a crashed pod."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)

    def stop(self, grace: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        self.log_path.unlink(missing_ok=True)


def spark_home() -> str:
    import pyspark

    return str(Path(pyspark.__file__).parent)


def spark_env() -> dict[str, str]:
    """Environment for Spark processes: this interpreter for the Python workers."""
    env = dict(os.environ)
    env.update(
        PYSPARK_PYTHON=sys.executable,
        PYSPARK_DRIVER_PYTHON=sys.executable,
        SPARK_HOME=spark_home(),
        SPARK_LOCAL_IP="127.0.0.1",
    )
    env.pop("SPARK_REMOTE", None)
    return env


SPARK_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
}


def local_spark_session() -> Any:
    """A classic local[2] session (the JVM is a child of this process)."""
    os.environ.update(
        {k: v for k, v in spark_env().items() if k.startswith(("PYSPARK_", "SPARK_"))}
    )
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master("local[2]").appName("eaos-spark-tests")
    for key, value in SPARK_CONF.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


class SparkConnectServer:
    """A local Spark Connect server (its own JVM, local[2]) on an ephemeral loopback port."""

    def __init__(self, timeout: float = 180.0) -> None:
        self.log_path = Path(tempfile.mkstemp(prefix="spark-connect-", suffix=".log")[1])
        args = [
            str(Path(spark_home()) / "bin" / "spark-submit"),
            "--master",
            "local[2]",
            "--class",
            "org.apache.spark.sql.connect.service.SparkConnectServer",
            "--conf",
            "spark.connect.grpc.binding.address=127.0.0.1",
            "--conf",
            "spark.connect.grpc.binding.port=0",
        ]
        for key, value in SPARK_CONF.items():
            args += ["--conf", f"{key}={value}"]
        args.append("spark-internal")
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                args,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=spark_env(),
                start_new_session=True,
            )
        try:
            match = _wait_for(self._started, timeout, "Spark Connect server", self.log_path)
        except BaseException:
            self.stop()
            raise
        self.url = f"sc://{match.group(1)}:{match.group(2)}"

    def _started(self) -> re.Match[str] | None:
        if self.process.poll() is not None:
            raise RuntimeError(f"Spark Connect server exited:\n{self.log_path.read_text()[-4000:]}")
        return CONNECT_RE.search(self.log_path.read_text(errors="replace"))

    def stop(self) -> None:
        """Ends the server's process group (spark-submit, its JVM and the JVM's Python workers)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)
        try:  # workers left in the group after the JVM exited
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.log_path.unlink(missing_ok=True)


def comments(n_short: int = 5800, n_long: int = 150) -> list[dict[str, Any]]:
    """≥ 5,000 synthetic Vietnamese comments (models/eaos_tools), long ones and edge cases."""
    sys.path.insert(0, str(REPO / "models"))
    try:
        from eaos_tools.generate import generate, generate_long
    finally:
        sys.path.pop(0)
    rows = [{"id": r["id"], "text": r["text"]} for r in generate(n_short, seed=2024)]
    rows += [{"id": r["id"], "text": r["text"]} for r in generate_long(n_long, seed=7)]
    rows += [
        {"id": "edge-empty", "text": ""},
        {"id": "edge-space", "text": "   "},
        {"id": "edge-null", "text": None},
        {"id": "edge-emoji", "text": "hay quá 😍👍"},
    ]
    return rows


def same_predictions(
    a: list[dict[str, Any]] | None, b: list[dict[str, Any]] | None, tolerance: float = 2e-3
) -> bool:
    """Equal tuples; confidences within ``tolerance`` (batch composition moves the last bits)."""
    a, b = a or [], b or []
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        for key in ("entity", "aspect", "opinion", "sentiment", "entity_span", "opinion_span"):
            if _plain(x.get(key)) != _plain(y.get(key)):
                return False
        if abs((x.get("confidence") or 0.0) - (y.get("confidence") or 0.0)) > tolerance:
            return False
    return True


def _plain(value: Any) -> Any:
    """Spark Row / dict / list spans -> [begin, end]."""
    if value is None:
        return None
    if hasattr(value, "asDict"):
        value = value.asDict()
    if isinstance(value, dict):
        return [value["begin"], value["end"]]
    return list(value)


def row_dict(row: Any) -> dict[str, Any]:
    return row.asDict(recursive=True) if hasattr(row, "asDict") else dict(row)
