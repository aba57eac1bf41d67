"""Two servers behind one dns:/// name both receive traffic (round_robin over every address).

/etc/hosts here knows only localhost, so the client runs in a private mount namespace
(``unshare --mount``, root as in CI) whose /etc/hosts maps one name to 127.0.0.1 and 127.0.0.2;
gRPC's own DNS resolver returns both addresses, as for a headless Kubernetes service. The two
servers listen on the same port of those two loopback addresses.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from eaos_testing import EaosServer

NAME = "eaos-pods.test"
HERE = Path(__file__).parent


def _start_pair() -> tuple[EaosServer, EaosServer]:
    """Servers on 127.0.0.1:P and 127.0.0.2:P (a few tries if P is taken on 127.0.0.2)."""
    last: Exception | None = None
    for _ in range(5):
        first = EaosServer(listen="127.0.0.1:0")
        try:
            return first, EaosServer(listen=f"127.0.0.2:{first.port}")
        except (RuntimeError, TimeoutError) as error:
            last = error
            first.stop()
    raise RuntimeError(f"could not start the second server: {last}")


def _in_namespace(hosts: Path, *command: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("unshare") is None:
        raise RuntimeError("unshare (util-linux) is needed for the dns:/// test")
    script = 'mount --bind "$0" /etc/hosts && exec "$@"'
    return subprocess.run(
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            str(hosts),
            *command,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ),
    )


@pytest.mark.parametrize("resolver", ["ares", "native"])
def test_both_servers_behind_one_name_get_traffic(tmp_path: Path, resolver: str) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text(f"127.0.0.1 localhost\n127.0.0.1 {NAME}\n127.0.0.2 {NAME}\n")
    first, second = _start_pair()
    try:
        os.environ["GRPC_DNS_RESOLVER"] = resolver
        try:
            done = _in_namespace(
                hosts,
                sys.executable,
                str(HERE / "dns_client.py"),
                f"dns:///{NAME}:{first.port}",
                "2000",
            )
        finally:
            os.environ.pop("GRPC_DNS_RESOLVER")
        assert done.returncode == 0, done.stderr[-4000:]
        summary = json.loads(done.stdout.strip().splitlines()[-1])
        assert summary["resolved"] == ["127.0.0.1", "127.0.0.2"]
        assert (summary["unary"], summary["stream"]) == (2000, 2000)
        served = [
            first.items("ok") + first.items("error"),
            second.items("ok") + second.items("error"),
        ]
        assert sum(served) == 4000, served
        assert min(served) >= 400, f"round_robin should spread the calls: {served}"
    finally:
        first.stop()
        second.stop()
