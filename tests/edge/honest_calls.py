#!/usr/bin/env python3
"""Honest gRPC calls beside a flood: unary eaos.v1.EaosService/Predict, one item each, from
--callers threads on one channel, a call every --interval_s per thread, until --seconds pass or
stdin closes
(--stop_on_stdin_eof). One JSON line per call on stdout: {"t": CLOCK_MONOTONIC at the start, "ms": latency,
"code": grpc status name}. Needs grpcio (the client venv, scripts/deps.d/40-python-client.sh);
the request is encoded by hand, so no generated stubs are needed.

  build/pyenv/bin/python tests/edge/honest_calls.py --target 127.0.0.1:50051 --seconds 10
"""
import argparse
import json
import sys
import threading
import time

import grpc

TEXT = "Chương trình rất hay, MC dẫn duyên quá!".encode()


def varint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def field(number, data):  # a length-delimited protobuf field
    return varint(number << 3 | 2) + varint(len(data)) + data


def request(call_id):
    item = field(1, call_id.encode()) + field(2, TEXT)  # Item{id=1, text=2}
    return field(1, item)  # PredictRequest{items=1}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--target", required=True)
    p.add_argument("--callers", type=int, default=2)
    p.add_argument("--interval_s", type=float, default=0.05)
    p.add_argument("--timeout_s", type=float, default=5)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--stop_on_stdin_eof", action="store_true",
                   help="also stop when stdin closes (how the driver stops us)")
    args = p.parse_args()

    channel = grpc.insecure_channel(args.target)
    predict = channel.unary_unary("/eaos.v1.EaosService/Predict")  # bytes in, bytes out
    out_lock = threading.Lock()
    stop = threading.Event()
    end = time.monotonic() + args.seconds

    def caller(index):
        n = 0
        while not stop.is_set() and time.monotonic() < end:
            t0 = time.monotonic()
            try:
                predict(request(f"h{index}-{n}"), timeout=args.timeout_s)
                code = "OK"
            except grpc.RpcError as e:
                code = e.code().name if e.code() else "UNKNOWN"
            ms = (time.monotonic() - t0) * 1000
            with out_lock:
                sys.stdout.write(json.dumps({"t": t0, "ms": round(ms, 2), "code": code}) + "\n")
                sys.stdout.flush()
            n += 1
            stop.wait(args.interval_s)

    def watch_stdin():  # the driver closes our stdin to stop us
        sys.stdin.read()
        stop.set()

    if args.stop_on_stdin_eof:
        threading.Thread(target=watch_stdin, daemon=True).start()
    threads = [threading.Thread(target=caller, args=(i,)) for i in range(args.callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    channel.close()


if __name__ == "__main__":
    main()
