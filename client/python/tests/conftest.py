from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from eaos_client import Client, ClientOptions, RetryPolicy  # noqa: E402
from fake_server import FakeServer, Script  # noqa: E402

FAST_RETRY = RetryPolicy(
    max_attempts=4, initial_backoff=0.01, max_backoff=0.05, grpc_max_attempts=2
)


@pytest.fixture
def script() -> Script:
    return Script()


@pytest.fixture
def fake(script: Script) -> Iterator[FakeServer]:
    server = FakeServer(script)
    yield server
    server.stop()


@pytest.fixture
def client(fake: FakeServer) -> Iterator[Client]:
    with Client(ClientOptions(target=fake.target, retry=FAST_RETRY, timeout=10.0)) as c:
        yield c


def _openssl(*args: str) -> None:
    import subprocess

    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A CA, a server certificate for eaos.test and a client certificate, made with openssl."""
    d = tmp_path_factory.mktemp("tls")
    f = {
        name: str(d / f"{name}.pem")
        for name in ("ca", "ca_key", "server_cert", "server_key", "client_cert", "client_key")
    }
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=eaos-test-ca",
        "-keyout",
        f["ca_key"],
        "-out",
        f["ca"],
    )
    for who, name in (("server", "eaos.test"), ("client", "eaos-client")):
        csr, ext = str(d / f"{who}.csr"), d / f"{who}.ext"
        ext.write_text(f"subjectAltName=DNS:{name}\n")
        _openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            f"/CN={name}",
            "-keyout",
            f[f"{who}_key"],
            "-out",
            csr,
        )
        _openssl(
            "x509",
            "-req",
            "-in",
            csr,
            "-CA",
            f["ca"],
            "-CAkey",
            f["ca_key"],
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            str(ext),
            "-out",
            f[f"{who}_cert"],
        )
    return f
