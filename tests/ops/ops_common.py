"""Helpers shared by the operations tests (tests/ops/*.py).

Every tool a test needs is looked up here; a missing one raises MissingTool, which fails the test
(never skips it): scripts/deps.d/30-ops.sh installs them all.
"""
import atexit
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request

SOURCE_DIR = os.environ.get(
    "EAOS_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
DEPLOY_DIR = os.path.join(SOURCE_DIR, "deploy")
OVERLAYS = ["base", "overlays/cpu", "overlays/gpu", "overlays/gpu-tls"]
SERVICE_NAME = "eaos.v1.EaosService"
LIVENESS_SERVICE = "liveness"
JOB = "eaos-server"


class MissingTool(AssertionError):
    pass


class ProcessExited(AssertionError):
    """A process a test waits on has died: wait_for() gives up at once."""


def tool(name, env_var=None, candidates=()):
    """Absolute path of a tool: $env_var, then PATH, then `candidates`; else MissingTool."""
    if env_var and os.environ.get(env_var):
        path = os.environ[env_var]
        if os.access(path, os.X_OK):
            return path
        raise MissingTool(f"{env_var}={path} is not an executable")
    found = shutil.which(name)
    if found:
        return found
    for path in candidates:
        if os.access(path, os.X_OK):
            return path
    raise MissingTool(f"{name} not found (install it with scripts/deps.d/30-ops.sh)")


def kustomize():
    return tool("kustomize", "EAOS_KUSTOMIZE", ["/opt/eaos-ops/bin/kustomize"])


def promtool():
    return tool("promtool", "EAOS_PROMTOOL")


def prometheus():
    return tool("prometheus", "EAOS_PROMETHEUS")


def server_binary():
    return tool("eaos-server", "EAOS_SERVER_BINARY")


def client_binary():
    return tool("eaos-client", "EAOS_CLIENT_BINARY")


def render(overlay):
    """`kustomize build deploy/<overlay>` as a list of objects."""
    import yaml  # from the ops venv (kubernetes-validate depends on PyYAML)
    out = subprocess.run([kustomize(), "build", os.path.join(DEPLOY_DIR, overlay)],
                         capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise AssertionError(f"kustomize build {overlay} failed:\n{out.stderr}")
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=5.0):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, response.read().decode("utf-8")


def wait_for(what, predicate, timeout, interval=0.25):
    """Calls predicate() until it returns a truthy value (returned) or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except ProcessExited:
            raise
        except Exception as e:  # a server still starting refuses connections
            last_error = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}"
                         + (f" (last error: {last_error})" if last_error else ""))


# --- flags -------------------------------------------------------------------------------------

def parse_flagfile(text):
    """absl flagfile lines -> [(name, value)]: '--name=value' or '--name'; '#' lines are comments."""
    flags = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not line.startswith("--"):
            raise AssertionError(f"flagfile line is not a flag: {line!r}")
        name, _, value = line[2:].partition("=")
        flags.append((name, value))
    return flags


def binary_flags(binary):
    """Names of the flags a binary defines, from --helpfull."""
    out = subprocess.run([binary, "--helpfull"], capture_output=True, text=True, timeout=60)
    names = set(re.findall(r"^\s+--([A-Za-z0-9_]+) \(", out.stdout + out.stderr, re.M))
    if not names:
        raise AssertionError(f"{binary} --helpfull listed no flags:\n{out.stdout}{out.stderr}")
    return names


def parse_duration(text):
    """absl duration ('45s', '5m', '1h30m', '250ms', 'inf') -> seconds."""
    if text == "inf":
        return float("inf")
    units = {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
    total, pos = 0.0, 0
    for m in re.finditer(r"(\d+(?:\.\d+)?)(h|ms|us|ns|m|s)", text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * units[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise ValueError(f"not a duration: {text!r}")
    return total


# --- the server --------------------------------------------------------------------------------

class Server:
    """The real eaos-server on loopback ephemeral ports (like tests/integration/server_process)."""

    LISTEN_RE = re.compile(r"listening on (\S+):(\d+) metrics on (\S+):(\d+)")

    def __init__(self, flags=(), ready_timeout=120):
        self.log_lines = []
        self._lock = threading.Lock()
        cmd = [server_binary(), *flags, "--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True, errors="replace")
        threading.Thread(target=self._read, daemon=True).start()
        try:
            m = wait_for("the server's listening line",
                         lambda: self._check_alive() and self.LISTEN_RE.search(self.log()),
                         ready_timeout)
            self.grpc_port, self.metrics_port = int(m.group(2)), int(m.group(4))
            self.target = f"127.0.0.1:{self.grpc_port}"
            wait_for("SERVING", lambda: self._check_alive() and "SERVING" in self.log(),
                     ready_timeout)
        except BaseException:
            self.kill()
            raise

    def _read(self):
        for line in self.proc.stderr:
            with self._lock:
                self.log_lines.append(line)

    def _check_alive(self):
        if self.proc.poll() is not None:
            time.sleep(0.2)  # let the reader thread take the last lines
            raise ProcessExited(f"eaos-server exited with {self.proc.returncode}:\n{self.log()}")
        return True

    def log(self):
        with self._lock:
            return "".join(self.log_lines)

    def metrics(self):
        status, body = http_get(f"http://127.0.0.1:{self.metrics_port}/metrics")
        assert status == 200, status
        return body

    def terminate(self, timeout=60):
        """SIGTERM, then the exit code (the server drains and exits 0)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"eaos-server did not exit within {timeout}s of SIGTERM")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


def run_client(args, timeout=120):
    out = subprocess.run([client_binary(), *args], capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise AssertionError(f"eaos-client {' '.join(args)} exited {out.returncode}:\n"
                             f"{out.stdout}\n{out.stderr}")
    return out.stdout


# --- Prometheus text exposition ----------------------------------------------------------------

SAMPLE_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")


def parse_exposition(text):
    """-> (families {name: type}, samples [(name, {label: value}, float)])."""
    families, samples = {}, []
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(None, 3)
            families[name] = kind.strip()
        elif line and not line.startswith("#"):
            m = SAMPLE_RE.match(line)
            if not m:
                raise AssertionError(f"unparsable sample line: {line!r}")
            labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"',
                                     m.group(2) or ""))
            samples.append((m.group(1), labels, float(m.group(3))))
    return families, samples


def series_names(families):
    """Every series name a family exposes (histograms: _bucket, _sum, _count)."""
    names = set()
    for name, kind in families.items():
        if kind == "histogram":
            names.update({name + "_bucket", name + "_sum", name + "_count"})
        elif kind == "summary":
            names.update({name, name + "_sum", name + "_count"})
        else:
            names.add(name)
    return names


# The one eaos_* family only a GPU server exposes (set by the CUDA runtime; absent on CPU).
GPU_ONLY_FAMILIES = {"eaos_device_memory_bytes": "gauge"}

PROMQL_WORDS = {
    "sum", "avg", "max", "min", "count", "by", "without", "rate", "increase", "irate",
    "histogram_quantile", "avg_over_time", "max_over_time", "label_values", "on", "ignoring",
    "bool", "and", "or", "unless", "offset", "humanize", "group_left", "group_right", "absent",
    "le", "inf", "nan", "topk", "bottomk", "clamp_min", "clamp_max", "vector", "scalar",
}


def metric_names_in(expr):
    """Metric names a PromQL expression selects (identifiers outside {...}, [...] and strings,
    not functions, keywords or grouping labels)."""
    stripped = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    stripped = re.sub(r"\{[^}]*\}", "{}", stripped)
    stripped = re.sub(r"\[[^\]]*\]", "[]", stripped)
    stripped = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ",
                      stripped)
    names = set()
    for m in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", stripped):
        word = m.group(0)
        rest = stripped[m.end():].lstrip()
        if word.lower() in PROMQL_WORDS or rest.startswith("("):
            continue
        if re.fullmatch(r"[0-9.eE]+", word):
            continue
        names.add(word)
    return names


def prometheus_rule_groups(path=None):
    """spec.groups of deploy/base/prometheusrule.yaml (a plain Prometheus rules file's groups)."""
    import yaml
    path = path or os.path.join(DEPLOY_DIR, "base", "prometheusrule.yaml")
    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    assert doc["kind"] == "PrometheusRule", doc["kind"]
    return doc["spec"]["groups"]


def dashboard_exprs(path=None):
    path = path or os.path.join(DEPLOY_DIR, "grafana", "eaos-serve.json")
    with open(path, encoding="utf-8") as f:
        dashboard = json.load(f)
    exprs = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            exprs.append((panel["title"], target["expr"]))
    return dashboard, exprs


def grafana_to_promql(expr):
    """A dashboard expression with Grafana's variables replaced, runnable on plain Prometheus."""
    return expr.replace("$__rate_interval", "1m").replace('=~"$namespace"', '=~".*"')


def adapter_rules():
    import yaml
    with open(os.path.join(DEPLOY_DIR, "prometheus-adapter", "values.yaml"),
              encoding="utf-8") as f:
        return yaml.safe_load(f)["rules"]["custom"]


def temp_dir(prefix):
    """A fresh temp dir, removed when the test process exits."""
    path = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path
