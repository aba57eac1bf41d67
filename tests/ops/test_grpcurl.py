"""grpcurl (scripts/deps.d/55-grpcurl.sh) drives a real eaos-server the way README.md shows.

Everything goes through server reflection except the health check, which names the health proto
that Debian's grpc-proto package installs (/usr/share/grpc-proto, scripts/install-deps.sh):
with Debian's gRPC 1.51 the server lists grpc.health.v1.Health through reflection but cannot
describe it ("Symbol not found"). Cause: gRPC's built-in health service encodes its messages with
upb, not protobuf C++ generated code, so no grpc.health.v1 descriptors are in protobuf's
generated pool, which the reflection service reads (`list` only reports registered service
names). Checked with a minimal server (EnableDefaultHealthCheckService + the reflection plugin):
"Symbol not found" as is; describe and Check by reflection work once health.pb.cc is linked in
and HealthCheckRequest::descriptor() is referenced (so the static library's object is kept).

test_health_through_reflection expects the fixed behaviour; it runs only with
EAOS_EXPECT_HEALTH_REFLECTION=1: set it for ops_grpcurl in tests/ops/CMakeLists.txt once the
server has the fix (link eaos_grpc_health_proto into eaos_server_lib in server/CMakeLists.txt, and
reference grpc::health::v1::HealthCheckRequest::descriptor() in server/service/server.cc before
the ServerBuilder is built).
"""
import base64
import json
import os
import subprocess
import unittest

import ops_common as oc

HEALTH_PROTO_ROOT = os.environ.get("EAOS_GRPC_PROTO_ROOT", "/usr/share/grpc-proto")
HEALTH_PROTO = "grpc/health/v1/health.proto"
TEXT = "Chương trình rất hay!"


def grpcurl():
    return oc.tool("grpcurl", "EAOS_GRPCURL", ["/opt/eaos-ops/bin/grpcurl"])


class GrpcurlTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        model = os.path.join(oc.SOURCE_DIR, "models", "demo")
        cls.server = oc.Server([f"--model_dir={model}"])

    @classmethod
    def tearDownClass(cls):
        code = cls.server.terminate()
        assert code == 0, cls.server.log()

    def grpcurl(self, *args, data=None, ok=True, options=()):
        """grpcurl -plaintext [options] [-d DATA] ADDRESS args..."""
        cmd = [grpcurl(), "-plaintext", *options]
        if data is not None:
            cmd += ["-d", json.dumps(data, ensure_ascii=False)]
        cmd += [self.server.target, *args]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if ok:
            self.assertEqual(out.returncode, 0, f"{cmd}:\n{out.stdout}{out.stderr}")
        return out

    def test_list_shows_every_service(self):
        services = self.grpcurl("list").stdout.split()
        for name in ("eaos.v1.EaosService", "eaos.v1.EaosAdmin", "grpc.health.v1.Health"):
            self.assertIn(name, services)

    def test_describe_item_text_is_bytes(self):
        out = self.grpcurl("describe", "eaos.v1.Item").stdout
        self.assertRegex(out, r"bytes text = 2;")
        out = self.grpcurl("describe", "eaos.v1.EaosService").stdout
        self.assertIn("rpc Predict", out)

    def test_predict_with_base64_text(self):
        text = base64.b64encode(TEXT.encode("utf-8")).decode("ascii")
        out = self.grpcurl("eaos.v1.EaosService/Predict",
                           data={"items": [{"id": "c1", "text": text}, {"id": "c2", "text": ""}]})
        results = json.loads(out.stdout)["results"]
        self.assertEqual([r["id"] for r in results], ["c1", "c2"])
        self.assertTrue(results[0]["tuples"], results[0])
        self.assertIn(results[0]["tuples"][0]["entity"], TEXT)
        self.assertEqual(results[1]["error"]["code"], 3, "empty text: per-item INVALID_ARGUMENT")

    def test_plain_text_is_refused_by_grpcurl(self):
        # What a user who skips the base64 step sees: grpcurl itself refuses the JSON.
        out = self.grpcurl("eaos.v1.EaosService/Predict",
                           data={"items": [{"id": "x", "text": TEXT}]}, ok=False)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("base64", out.stderr)

    def test_get_model_info(self):
        info = json.loads(self.grpcurl("eaos.v1.EaosService/GetModelInfo", data={}).stdout)
        self.assertEqual(info["name"], "eaos-demo")
        self.assertTrue(info["aspects"])

    def test_health_with_the_proto_path(self):
        for service in ("eaos.v1.EaosService", "liveness", ""):
            with self.subTest(service=service):
                out = self.grpcurl("grpc.health.v1.Health/Check", data={"service": service},
                                   options=["-import-path", HEALTH_PROTO_ROOT,
                                            "-proto", HEALTH_PROTO])
                self.assertEqual(json.loads(out.stdout)["status"], "SERVING")

    @unittest.skipUnless(os.environ.get("EAOS_EXPECT_HEALTH_REFLECTION") == "1",
                         "health through reflection needs the server fix (see module docstring)")
    def test_health_through_reflection(self):
        self.grpcurl("describe", "grpc.health.v1.Health")
        out = self.grpcurl("grpc.health.v1.Health/Check", data={"service": "eaos.v1.EaosService"})
        self.assertEqual(json.loads(out.stdout)["status"], "SERVING")


if __name__ == "__main__":
    unittest.main(verbosity=2)
