"""The flagfiles an overlay's ConfigMap holds really start eaos-server.

For overlays/cpu and overlays/gpu: renders the overlay, writes its ConfigMap's flagfiles to a temp
dir, and starts the real eaos-server exactly as the Deployment's args say (--flagfile=...), with
only what cannot work on this machine overridden by later flags: loopback ephemeral ports, the
demo model from the source tree, and --device=cpu for the GPU overlay. The server must parse every
flag value, reach SERVING, and exit 0 on SIGTERM.
"""
import os
import unittest

import ops_common as oc


class OverlayFlagsRunTest(unittest.TestCase):
    def run_overlay(self, overlay, overrides):
        objects = oc.render(overlay)
        deployment = next(o for o in objects if o["kind"] == "Deployment")
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        configmap = next(o for o in objects if o["kind"] == "ConfigMap"
                         and o["metadata"]["name"].startswith("eaos-server-flags"))
        work = oc.temp_dir("eaos-flags-")
        for key, text in configmap["data"].items():
            with open(os.path.join(work, key), "w", encoding="utf-8") as f:
                f.write(text)
        args = [a.replace("/etc/eaos/", work + "/") for a in container["args"]]
        model = os.path.join(oc.SOURCE_DIR, "models", "demo")
        server = oc.Server([*args, f"--model_dir={model}", *overrides])
        try:
            self.assertIn("SERVING", server.log())
            families, _ = oc.parse_exposition(server.metrics())
            self.assertIn("eaos_model_info", families)
        finally:
            code = server.terminate()
        self.assertEqual(code, 0, server.log())

    def test_cpu_overlay(self):
        self.run_overlay("overlays/cpu", [])

    def test_gpu_overlay_on_cpu(self):
        self.run_overlay("overlays/gpu", ["--device=cpu"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
