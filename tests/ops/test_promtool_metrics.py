"""The live /metrics exposition of a real eaos-server passes `promtool check metrics` and our naming
rules, and the metric lists in README.md and docs/deploy.md match what the server exposes.

Naming rules (Prometheus conventions): eaos_ prefix, snake_case; counters and only counters end
in _total; durations are histograms in _seconds; byte sizes end in _bytes; info metrics end in
_info with value 1.
"""
import os
import re
import subprocess
import unittest

import ops_common as oc


class PromtoolMetricsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = oc.Server()
        try:
            oc.run_client([f"--target={cls.server.target}", "Chương trình rất hay!", "MC hơi ồn"])
            cls.exposition = cls.server.metrics()
        finally:
            code = cls.server.terminate()
        assert code == 0, f"eaos-server exited {code} after SIGTERM"
        cls.families, cls.samples = oc.parse_exposition(cls.exposition)

    def test_promtool_check_metrics_passes(self):
        out = subprocess.run([oc.promtool(), "check", "metrics"], input=self.exposition,
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertEqual(out.stdout.strip() + out.stderr.strip(), "", "promtool lint findings")

    def test_names_follow_conventions(self):
        self.assertTrue(self.families)
        for name, kind in self.families.items():
            self.assertRegex(name, r"^eaos_[a-z][a-z0-9_]*[a-z0-9]$")
            self.assertEqual(name.endswith("_total"), kind == "counter", f"{name} ({kind})")
            if re.search(r"(latency|duration|wait|time)", name):
                self.assertTrue(name.endswith("_seconds"), name)
                self.assertEqual(kind, "histogram", name)
            if "memory" in name:
                self.assertTrue(name.endswith("_bytes"), name)
            if name.endswith("_info"):
                values = {v for n, _, v in self.samples if n == name}
                self.assertEqual(values, {1.0}, name)

    def test_the_metrics_operators_rely_on_exist(self):
        for name, kind in {"eaos_queue_items": "gauge", "eaos_model_info": "gauge",
                           "eaos_items_total": "counter", "eaos_requests_total": "counter",
                           "eaos_item_latency_seconds": "histogram",
                           "eaos_batch_items": "histogram",
                           "eaos_batch_failures_total": "counter"}.items():
            self.assertEqual(self.families.get(name), kind, name)
        info = [labels for n, labels, _ in self.samples if n == "eaos_model_info"]
        self.assertEqual(len(info), 1)
        self.assertEqual(set(info[0]), {"name", "version", "device"})
        self.assertEqual(info[0]["device"], "cpu")
        # GPU memory is set by the CUDA runtime only: a CPU server must not claim 0 bytes.
        self.assertFalse([n for n, _, _ in self.samples if n.startswith("eaos_device_memory")])

    def documented(self, path, pattern):
        with open(os.path.join(oc.SOURCE_DIR, path), encoding="utf-8") as f:
            text = f.read()
        m = re.search(pattern, text, re.S)
        self.assertIsNotNone(m, f"{path}: metrics section not found")
        return set(re.findall(r"\beaos_[a-z0-9_]+[a-z0-9]", m.group(0)))

    def exposed(self):
        return set(self.families) | set(oc.GPU_ONLY_FAMILIES)

    def test_readme_lists_exactly_the_exposed_metrics(self):
        names = self.documented("README.md", r"\*\*Health and metrics\.\*\*.*?\n\n")
        self.assertEqual(names, self.exposed())

    def test_deploy_doc_lists_exactly_the_exposed_metrics(self):
        names = self.documented("docs/deploy.md", r"## Metrics that matter.*?\n## ")
        names = {n for n in names if not n.startswith("eaos_queue_items_avg")}  # HPA's name
        self.assertEqual(names, self.exposed())


if __name__ == "__main__":
    unittest.main(verbosity=2)
