"""The health service names the Kubernetes probes and the Docker HEALTHCHECK use answer SERVING on
a real, loaded eaos-server, checked with the same command the images run (`eaos-client --health`).

  startup/readiness probes, HEALTHCHECK: eaos.v1.EaosService
  liveness probe:                        liveness (SERVING from listen to exit, model or not)
"""
import subprocess
import unittest

import ops_common as oc


class ProbeServicesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = oc.Server()

    @classmethod
    def tearDownClass(cls):
        assert cls.server.terminate() == 0

    def health(self, *flags):
        return subprocess.run([oc.client_binary(), f"--target={self.server.target}",
                               "--timeout=5s", "--health", *flags],
                              capture_output=True, text=True, timeout=30)

    def test_probe_services_are_serving(self):
        for service in (oc.SERVICE_NAME, oc.LIVENESS_SERVICE, ""):
            out = self.health(f"--health_service={service}")
            self.assertEqual(out.returncode, 0, f"{service!r}: {out.stdout}{out.stderr}")
            self.assertIn("SERVING", out.stdout)

    def test_default_is_the_model_service(self):
        out = self.health()
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)

    def test_unknown_service_is_unhealthy(self):
        out = self.health("--health_service=no.such.Service")
        self.assertNotEqual(out.returncode, 0, out.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
