"""Run inside the private mount namespace of test_dns_round_robin.py, where the hosts file maps
one name to two loopback addresses: annotates comments through ``dns:///NAME:PORT`` and prints a
JSON summary on stdout."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from eaos_testing import comments  # noqa: E402

from eaos_client import Client, ClientOptions  # noqa: E402


def main() -> None:
    target, count = sys.argv[1], int(sys.argv[2])
    name = target.removeprefix("dns:///").rsplit(":", 1)[0]
    addresses = sorted({info[4][0] for info in socket.getaddrinfo(name, None, socket.AF_INET)})
    rows = comments()[:count]
    with Client(ClientOptions(target=target, concurrency=8, max_items_per_call=64)) as client:
        unary = client.annotate([r["text"] for r in rows], [r["id"] for r in rows])
        streamed = list(client.predict_stream(rows, streams=8, max_in_flight=64))
    print(
        json.dumps(
            {
                "resolved": addresses,
                "unary": len(unary),
                "unary_errors": sum(r.HasField("error") for r in unary),
                "stream": len(streamed),
            }
        )
    )


if __name__ == "__main__":
    main()
