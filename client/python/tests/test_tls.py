"""TLS and mutual TLS against the in-process fake server, with certificates made by openssl."""

import grpc
import pytest

from eaos_client import Client, ClientOptions, EaosError, TlsOptions
from conftest import FAST_RETRY
from fake_server import FakeServer


def _server_credentials(files, require_client: bool) -> grpc.ServerCredentials:
    read = lambda name: open(files[name], "rb").read()  # noqa: E731
    return grpc.ssl_server_credentials(
        [(read("server_key"), read("server_cert"))],
        root_certificates=read("ca") if require_client else None,
        require_client_auth=require_client,
    )


def test_tls_round_trip(tls_files) -> None:
    server = FakeServer(credentials=_server_credentials(tls_files, require_client=False))
    try:
        tls = TlsOptions(root_ca_file=tls_files["ca"], server_name_override="eaos.test")
        with Client(ClientOptions(target=server.target, tls=tls, timeout=10)) as client:
            (result,) = client.annotate(["rất hay"])
            assert result.tuples[0].opinion == "rất hay"
    finally:
        server.stop()


def test_mutual_tls_needs_the_client_certificate(tls_files) -> None:
    server = FakeServer(credentials=_server_credentials(tls_files, require_client=True))
    try:
        mtls = TlsOptions(
            root_ca_file=tls_files["ca"],
            client_cert_file=tls_files["client_cert"],
            client_key_file=tls_files["client_key"],
            server_name_override="eaos.test",
        )
        with Client(ClientOptions(target=server.target, tls=mtls, timeout=10)) as client:
            assert client.get_model_info().name == "fake"
        no_cert = TlsOptions(root_ca_file=tls_files["ca"], server_name_override="eaos.test")
        options = ClientOptions(target=server.target, tls=no_cert, timeout=5, retry=FAST_RETRY)
        with Client(options) as client, pytest.raises(EaosError) as failure:
            client.get_model_info()
        assert failure.value.code == grpc.StatusCode.UNAVAILABLE
    finally:
        server.stop()
