import json

import grpc
import pytest

from eaos_client import ClientOptions, RetryPolicy, TlsOptions, service_config
from eaos_client.options import channel_options


def test_service_config_has_round_robin_and_retry_policy() -> None:
    config = json.loads(service_config(ClientOptions(target="dns:///eaos:50051")))
    assert config["loadBalancingConfig"] == [{"round_robin": {}}]
    (method,) = config["methodConfig"]
    assert method["name"] == [{"service": "eaos.v1.EaosService"}]
    policy = method["retryPolicy"]
    assert set(policy["retryableStatusCodes"]) == {"UNAVAILABLE", "RESOURCE_EXHAUSTED"}
    assert 2 <= policy["maxAttempts"] <= 5
    assert policy["initialBackoff"].endswith("s") and policy["backoffMultiplier"] == 2.0


def test_channel_options_set_message_limits_and_retries() -> None:
    options = dict(channel_options(ClientOptions(max_message_bytes=1 << 20)))
    assert options["grpc.enable_retries"] == 1
    assert options["grpc.max_receive_message_length"] == 1 << 20
    assert "grpc.ssl_target_name_override" not in options


def test_backoff_grows_exponentially_to_the_cap() -> None:
    policy = RetryPolicy(initial_backoff=0.5, max_backoff=3.0, multiplier=2.0)
    assert [policy.backoff(n) for n in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_options_are_hashable_for_the_per_process_cache() -> None:
    a = ClientOptions(target="x:1", tls=TlsOptions(root_ca_file="/ca.pem"))
    b = ClientOptions(target="x:1", tls=TlsOptions(root_ca_file="/ca.pem"))
    assert hash(a) == hash(b) and a == b


def test_invalid_options_are_refused() -> None:
    with pytest.raises(ValueError):
        ClientOptions(concurrency=0)
    with pytest.raises(ValueError, match="go together"):
        TlsOptions(client_cert_file="/cert.pem")


def test_tls_credentials_build_from_files(tls_files) -> None:
    tls = TlsOptions(
        root_ca_file=tls_files["ca"],
        client_cert_file=tls_files["client_cert"],
        client_key_file=tls_files["client_key"],
        server_name_override="eaos.test",
    )
    assert isinstance(tls.credentials(), grpc.ChannelCredentials)
    options = dict(channel_options(ClientOptions(tls=tls)))
    assert options["grpc.ssl_target_name_override"] == "eaos.test"
