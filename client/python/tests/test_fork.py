"""The channel is per process: a forked child (a PySpark worker) opens its own.

gRPC refuses to fork cleanly while other threads of the process are inside gRPC, so the fake
server runs in a separate (spawned) process here, as eaos-server would.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import select
import time
from collections.abc import Iterator

import pytest

from eaos_client import Client, ClientOptions, shared_client


def _serve(queue) -> None:  # in a spawned process
    from fake_server import FakeServer

    server = FakeServer()
    queue.put(server.target)
    time.sleep(120)


@pytest.fixture
def remote_target() -> Iterator[str]:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_serve, args=(queue,), daemon=True)
    process.start()
    try:
        yield queue.get(timeout=60)
    finally:
        process.kill()
        process.join(timeout=10)


def _in_child(body) -> dict:
    """Runs body() in a forked child; returns what it returned (a JSON-able dict)."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        os.close(read_fd)
        try:
            payload = {"ok": body()}
        except BaseException as error:
            payload = {"error": repr(error)}
        os.write(write_fd, json.dumps(payload).encode())
        os._exit(0)
    os.close(write_fd)
    try:
        ready, _, _ = select.select([read_fd], [], [], 60)
        data = os.read(read_fd, 1 << 16) if ready else b'{"error": "child timed out"}'
    finally:
        os.close(read_fd)
        if os.waitpid(pid, os.WNOHANG) == (0, 0):
            os.kill(pid, 9)
            os.waitpid(pid, 0)
    return json.loads(data)


def test_client_used_before_fork_gets_a_new_channel_in_the_child(remote_target) -> None:
    client = Client(ClientOptions(target=remote_target, timeout=10))
    assert client.annotate(["trước khi fork"])[0].tuples  # the parent's channel is open
    parent_channel = client.channel

    def child() -> dict:
        fresh = client.channel is not parent_channel
        opinion = client.annotate(["từ tiến trình con"])[0].tuples[0].opinion
        shared = shared_client(ClientOptions(target=remote_target))
        again = shared.annotate(["lần nữa"])[0].tuples[0].opinion
        return {"fresh": fresh, "opinion": opinion, "again": again, "pid": os.getpid()}

    answer = _in_child(child)
    assert "ok" in answer, answer
    assert answer["ok"]["pid"] != os.getpid()
    assert answer["ok"]["fresh"] is True
    assert (answer["ok"]["opinion"], answer["ok"]["again"]) == ("từ tiến trình con", "lần nữa")
    assert client.channel is parent_channel  # the parent keeps its own
    assert client.annotate(["sau khi fork"])[0].tuples
    client.close()


def test_shared_client_is_one_per_options(fake) -> None:
    options = ClientOptions(target=fake.target)
    assert shared_client(options) is shared_client(ClientOptions(target=fake.target))
    assert shared_client(options) is not shared_client(ClientOptions(target=fake.target, timeout=1))
