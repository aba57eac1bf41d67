#!/usr/bin/env python3
"""Mutual TLS terminated by the nginx edge proxy (components/edge-proxy-tls), end to end.

nginx runs deploy/components/edge-proxy/nginx.conf with components/edge-proxy-tls/listen-tls.conf
as its listen.conf, the files the gpu-tls overlay mounts (only their ports, the upstream, the
certificate paths and the log line are rewritten), in front of a real eaos-server listening in
plaintext on 127.0.0.1 (models/demo). Certificates from tests/integration/make_test_certs.sh.
Loopback only, about 15 s.

What must hold:
  * Predict over TLS with a client certificate signed by ca.crt succeeds;
  * without a client certificate or with one from another CA it fails at nginx (HTTP 400), and
    in plaintext on the TLS port it fails;
  * the plaintext probes' port answers grpc.health.v1 (SERVING for eaos.v1.EaosService and
    liveness, what kubelet asks) and nothing else (Predict there: UNIMPLEMENTED);
  * the upstream sees the verified client's subject DN as metadata x-client-dn, not what a client
    sends under that name, and none on the probes' port (checked against a small echo upstream,
    a second nginx on the same files);
  * a rapid-reset flood (tests/edge/h2flood.py, from 127.0.0.2, --flood_s each) over TLS on the
    gRPC port with a valid client certificate, then in plaintext on the probes' port, is cut off
    (every connection but possibly the last) while honest mTLS Predict calls on the TLS port keep
    succeeding.

Run with the client venv's Python (grpcio):
  build/pyenv/bin/python tests/edge/tls_proxy_test.py --server build/release/bin/eaos-server
A missing nginx, server or grpcio FAILS the test (scripts/deps.d/60-proxy.sh installs nginx).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "support"))
import children  # noqa: E402
import h2_flood_test as edge  # noqa: E402  (Server, Nginx; standard library only)
from honest_calls import field, request  # noqa: E402

SOURCE_DIR = edge.SOURCE_DIR
TLS_LISTEN_CONF = os.path.join(SOURCE_DIR, "deploy", "components", "edge-proxy-tls",
                               "listen-tls.conf")
MAKE_CERTS = os.path.join(SOURCE_DIR, "tests", "integration", "make_test_certs.sh")
PREDICT = "/eaos.v1.EaosService/Predict"
HEALTH_CHECK = "/grpc.health.v1.Health/Check"
SERVING = b"\x08\x01"  # HealthCheckResponse{status: SERVING}
CLIENT_DN = "CN=eaos test client"


class Test:
    def __init__(self, args, work):
        self.args, self.work = args, work
        self.failures = []

    def check(self, ok, what):
        print(("  ok    " if ok else "  FAIL  ") + what, flush=True)
        if not ok:
            self.failures.append(what)

    def read(self, name):
        with open(os.path.join(self.certs, name), "rb") as f:
            return f.read()

    def tls_channel(self, port, cert=None):
        creds = self.grpc.ssl_channel_credentials(
            root_certificates=self.read("ca.pem"),
            private_key=self.read(cert + ".key") if cert else None,
            certificate_chain=self.read(cert + ".pem") if cert else None)
        return self.grpc.secure_channel(f"127.0.0.1:{port}", creds,
                                        options=[("grpc.ssl_target_name_override", "localhost")])

    def call(self, channel, method, payload, metadata=None, timeout=5):
        """(status code name, response bytes or error details)."""
        grpc = self.grpc
        try:
            reply = channel.unary_unary(method)(payload, timeout=timeout, metadata=metadata)
            return "OK", reply
        except grpc.RpcError as e:
            return (e.code().name if e.code() else "UNKNOWN"), e.details()

    def nginx(self, name, upstream_port):
        tls_port, health_port = edge.free_port(), edge.free_port()
        certs = self.certs
        rewrites = [
            (r"^listen 50051 ssl http2;", f"listen 127.0.0.1:{tls_port} ssl http2;"),
            (r"^listen 50052 http2;", f"listen 127.0.0.1:{health_port} http2;"),
            (r"^ssl_certificate /etc/eaos-tls/tls\.crt;", f"ssl_certificate {certs}/server.pem;"),
            (r"^ssl_certificate_key /etc/eaos-tls/tls\.key;",
             f"ssl_certificate_key {certs}/server.key;"),
            (r"^ssl_client_certificate /etc/eaos-tls/ca\.crt;",
             f"ssl_client_certificate {certs}/ca.pem;"),
        ]
        proxy = edge.Nginx(self.args.nginx, self.args.nginx_conf, tls_port, upstream_port,
                           self.work, listen_conf=self.args.listen_conf,
                           listen_rewrites=rewrites, name=name)
        proxy.health_port = health_port
        return proxy

    def echo_upstream(self):
        """A gRPC server answering every method with the JSON of the metadata it received."""
        grpc = self.grpc
        from concurrent import futures

        class Echo(grpc.GenericRpcHandler):
            def service(self, details):
                return grpc.unary_unary_rpc_method_handler(
                    lambda req, ctx: json.dumps(
                        {k: v for k, v in ctx.invocation_metadata()}).encode())

        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        server.add_generic_rpc_handlers((Echo(),))
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        return server, port

    def flood_with_honest_calls(self, proxy, where, port, flood_args):
        a = self.args
        results, stop = [], threading.Event()

        def honest():
            channel = self.tls_channel(proxy.port, "client")
            n = 0
            while not stop.is_set():
                t0 = time.monotonic()
                code, _ = self.call(channel, PREDICT, request(f"h-{n}"))
                results.append((code, (time.monotonic() - t0) * 1000))
                n += 1
                stop.wait(0.05)
            channel.close()

        callers = [threading.Thread(target=honest, daemon=True) for _ in range(2)]
        for t in callers:
            t.start()
        time.sleep(1)
        flood = subprocess.run(
            [sys.executable, os.path.join(HERE, "h2flood.py"), f"--target=127.0.0.1:{port}",
             "--mode=rapid-reset", f"--source={edge.ATTACKER_ADDRESS}", f"--seconds={a.flood_s}",
             "--reconnect", "--count=5000000", "--connections=2", *flood_args],
            capture_output=True, text=True, timeout=a.flood_s + 60)
        time.sleep(1)
        stop.set()
        for t in callers:
            t.join(timeout=10)
        if flood.returncode != 0:
            raise AssertionError(f"h2flood failed ({flood.returncode}): {flood.stderr[-2000:]}")
        report = json.loads(flood.stdout)
        conns = report["per_connection"]
        errors = [c.get("connect_error") for c in conns if c.get("connect_errors")]
        print(f"  flood on the {where}: {report['frames_sent']} frames in {report['seconds']} s, "
              f"{report['sessions']} connections, {report['cut']} cut off, GOAWAY "
              f"{report['goaway_codes']}" + (f", connect errors {errors}" if errors else ""),
              flush=True)
        self.check(report["frames_sent"] > 10000 and
                   all(c["cut"] >= max(1, c["sessions"] - 1) for c in conns),
                   f"{where}: nginx cuts the flood's connections off ({report['cut']} of "
                   f"{report['sessions']}, {report['frames_sent']} frames)")
        failed = [r for r in results if r[0] != "OK"]
        latencies = sorted(r[1] for r in results if r[0] == "OK")
        p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] if latencies else None
        self.check(len(results) >= 10 and not failed,
                   f"{where}: honest mTLS calls during the flood: {len(results)}, errors "
                   f"{sorted({e[0] for e in failed})}, p99 {p99 and round(p99)} ms")

    def run(self):
        a = self.args
        for what, path, hint in [("eaos-server", a.server, "build it"),
                                 ("nginx", a.nginx, "run scripts/deps.d/60-proxy.sh")]:
            if not (path and os.access(path, os.X_OK)):
                raise AssertionError(f"{what} not found at {path!r}: {hint}")
        try:
            import grpc
        except ImportError as e:
            raise AssertionError(f"{sys.executable} cannot import grpc ({e}): run it with the "
                                 "client venv (scripts/deps.d/40-python-client.sh)")
        self.grpc = grpc
        self.certs = os.path.join(self.work, "certs")
        subprocess.run(["bash", MAKE_CERTS, self.certs], check=True, timeout=60)

        server = edge.Server(a.server, a.model_dir, [], os.path.join(self.work, "server.log"),
                             a.ready_timeout_s)
        proxy = self.nginx("nginx", server.port)
        print(f"eaos-server on 127.0.0.1:{server.port}; nginx TLS on {proxy.port}, probes on "
              f"{proxy.health_port}", flush=True)

        # Who gets in on the TLS port.
        good = self.tls_channel(proxy.port, "client")
        code, reply = self.call(good, PREDICT, request("tls-1"))
        self.check(code == "OK" and len(reply) > 0,
                   f"Predict over TLS with a client certificate from ca: {code}")
        # nginx answers these itself, HTTP 400 (no certificate / not verified), before any
        # upstream connection: gRPC clients see INTERNAL.
        code, detail = self.call(self.tls_channel(proxy.port), PREDICT, request("tls-2"))
        self.check(code != "OK" and "400" in str(detail),
                   f"Predict over TLS without a client certificate fails at nginx: {code} "
                   f"({str(detail)[:120]})")
        code, detail = self.call(self.tls_channel(proxy.port, "rogue"), PREDICT, request("tls-3"))
        self.check(code != "OK" and "400" in str(detail),
                   f"Predict over TLS with a certificate from another CA fails at nginx: {code} "
                   f"({str(detail)[:120]})")
        code, detail = self.call(grpc.insecure_channel(f"127.0.0.1:{proxy.port}"), PREDICT,
                                 request("tls-4"), timeout=3)
        self.check(code != "OK", f"plaintext Predict on the TLS port fails: {code}")

        # The probes' port: plaintext, grpc.health.v1 only.
        plain = grpc.insecure_channel(f"127.0.0.1:{proxy.health_port}")
        for service in ("eaos.v1.EaosService", "liveness"):
            code, reply = self.call(plain, HEALTH_CHECK, field(1, service.encode()))
            self.check(code == "OK" and reply == SERVING,
                       f"plaintext health Check({service}) on the probes' port: {code} {reply!r}")
        code, _ = self.call(plain, PREDICT, request("plain-1"))
        self.check(code == "UNIMPLEMENTED", f"Predict on the probes' port is refused: {code}")

        # x-client-dn, against an upstream that echoes its metadata.
        echo_server, echo_port = self.echo_upstream()
        try:
            echo = self.nginx("nginx-echo", echo_port)
            code, reply = self.call(self.tls_channel(echo.port, "client"), PREDICT, b"",
                                    metadata=[("x-client-dn", "CN=admin")])
            seen = json.loads(reply) if code == "OK" else {}
            self.check(seen.get("x-client-dn") == CLIENT_DN,
                       f"the upstream sees x-client-dn {seen.get('x-client-dn')!r} (the verified "
                       f"{CLIENT_DN!r}, not the client's 'CN=admin'): {code}")
            code, reply = self.call(grpc.insecure_channel(f"127.0.0.1:{echo.health_port}"),
                                    HEALTH_CHECK, b"", metadata=[("x-client-dn", "CN=admin")])
            seen = json.loads(reply) if code == "OK" else {"call": code}
            self.check("x-client-dn" not in seen,
                       f"no x-client-dn reaches the upstream from the probes' port: {seen}")
            echo.proc.terminate()
        finally:
            echo_server.stop(0)

        # Rapid-reset floods from 127.0.0.2, honest mTLS calls beside them: over TLS on the gRPC
        # port with a valid client certificate (a hostile client that holds one), then plaintext
        # on the probes' port.
        certs = self.certs
        self.flood_with_honest_calls(proxy, "TLS port, client certificate", proxy.port, [
            f"--tls_ca={certs}/ca.pem", f"--tls_cert={certs}/client.pem",
            f"--tls_key={certs}/client.key", "--tls_server_name=localhost"])
        self.flood_with_honest_calls(proxy, "probes' port, plaintext", proxy.health_port, [])
        self.check(server.alive(), "the server is alive")
        code, _ = self.call(good, PREDICT, request("tls-after"))
        self.check(code == "OK", f"Predict over TLS after the flood: {code}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--server", required=True)
    p.add_argument("--model_dir", default=os.path.join(SOURCE_DIR, "models", "demo"))
    p.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx")
    p.add_argument("--nginx_conf", default=edge.NGINX_CONF)
    p.add_argument("--listen_conf", default=TLS_LISTEN_CONF)
    p.add_argument("--flood_s", type=float, default=4)
    p.add_argument("--ready_timeout_s", type=float, default=300)
    p.add_argument("--keep_work", action="store_true")
    args = p.parse_args()

    work = tempfile.mkdtemp(prefix="eaos-edge-tls-")
    test = Test(args, work)
    try:
        test.run()
    except (AssertionError, subprocess.SubprocessError, OSError) as e:
        test.failures.append(str(e))
        print(f"FAIL: {e}", flush=True)
    finally:
        children.kill_children()
    edge.finish(test.failures, work, args.keep_work)


if __name__ == "__main__":
    main()
