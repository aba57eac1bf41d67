"""The package as a user installs it: the README's pip command, verbatim, in a fresh virtualenv
with build isolation (so pip picks the build-time grpcio-tools from pyproject.toml), then a wheel
from ``python -m build`` in another fresh virtualenv; each imports and calls a real eaos-server.

Needs the package index (PyPI, or what pip is configured with); pip's cache is warm from
scripts/deps.d/40-python-client.sh on CI.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

from eaos_testing import REPO

CALL_SERVER = r"""
import sys
import eaos_client
from eaos_client import Client, ClientOptions
from eaos_client._stubs import eaos_pb2
with Client(ClientOptions(target=sys.argv[1], timeout=30)) as client:
    info = client.get_model_info()
    [result] = client.predict([{"id": "a", "text": "giao hàng nhanh, đóng gói cẩn thận"}])
assert result.id == "a" and not result.HasField("error"), result
print("called", info.name, len(result.tuples), "tuples")
"""


def readme_install_command() -> str:
    """The Spark and batch jobs section's pip line, as written (comment dropped)."""
    text = (REPO / "README.md").read_text("utf-8")
    section = text.split("## Spark and batch jobs", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"^(pip install [^#\n]*?)\s*(#.*)?$", section, re.M)
    assert match, "no pip install line in README's Spark and batch jobs section"
    return match.group(1)


def fresh_venv(base_python: str, path: Path) -> Path:
    subprocess.run([base_python, "-m", "venv", str(path)], check=True, timeout=300)
    return path / "bin"


def run(command: list[str] | str, bin_dir: Path, cwd: Path = REPO) -> str:
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        command, shell=isinstance(command, str), cwd=cwd, env=env, capture_output=True,
        text=True, timeout=900,
    )  # fmt: skip
    output = f"{done.stdout}\n{done.stderr}"
    assert done.returncode == 0, f"{command} exited {done.returncode}:\n{output}"
    return done.stdout + done.stderr


def test_readme_pip_command_in_a_fresh_venv_calls_the_server(server, tmp_path: Path) -> None:
    command = readme_install_command()
    assert command == 'pip install "client/python[spark]"', command
    bin_dir = fresh_venv("/usr/bin/python3", tmp_path / "venv")
    log = run(command, bin_dir)
    # no backtracking: each distribution is resolved once
    assert "backtracking" not in log.lower() and "INFO: pip is looking at" not in log, log
    out = run(
        [str(bin_dir / "python"), "-c", "import pyspark, pandas, pyarrow; " + CALL_SERVER,
         server.target], bin_dir, cwd=tmp_path,
    )  # fmt: skip
    assert "called" in out, out


def test_built_wheel_in_another_fresh_venv_calls_the_server(server, tmp_path: Path) -> None:
    # python -m build: an sdist, then the wheel built from the unpacked sdist (proto carried in it)
    dist = tmp_path / "dist"
    run([sys.executable, "-m", "build", "--outdir", str(dist), "client/python"],
        Path(sys.executable).parent)  # fmt: skip
    [sdist] = dist.glob("eaos_client-*.tar.gz")
    with tarfile.open(sdist) as archive:
        assert any(n.endswith("/proto/eaos/v1/eaos.proto") for n in archive.getnames())
    [wheel] = dist.glob("eaos_client-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert "eaos_client/_gen/eaos/v1/eaos_pb2.py" in archive.namelist()
    base = shutil.which("python3") or "/usr/bin/python3"
    bin_dir = fresh_venv(base, tmp_path / "venv")
    run([str(bin_dir / "pip"), "install", str(wheel)], bin_dir, cwd=tmp_path)
    out = run([str(bin_dir / "python"), "-c", CALL_SERVER, server.target], bin_dir, cwd=tmp_path)
    assert "called" in out, out
