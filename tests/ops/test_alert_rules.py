"""The alert and recording rules of deploy/base/prometheusrule.yaml, as a plain rules file:
`promtool check rules` passes, `promtool test rules` (alerts_test.yaml: synthetic series) shows
each alert fires when it should and stays quiet when it should, and every metric the rules read
is one the server exposes (or a series Prometheus itself makes, or one of the recorded rules).
"""
import os
import shutil
import subprocess
import unittest

import yaml

import ops_common as oc

HERE = os.path.dirname(os.path.abspath(__file__))


class AlertRulesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = oc.temp_dir("eaos-rules-")
        cls.groups = oc.prometheus_rule_groups()
        cls.rules_file = os.path.join(cls.work, "eaos-rules.yaml")
        with open(cls.rules_file, "w", encoding="utf-8") as f:
            yaml.safe_dump({"groups": cls.groups}, f, sort_keys=False)
        shutil.copy(os.path.join(HERE, "alerts_test.yaml"), cls.work)

    def promtool(self, *args):
        out = subprocess.run([oc.promtool(), *args], capture_output=True, text=True,
                             timeout=120, cwd=self.work)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        return out.stdout

    def test_promtool_check_rules(self):
        out = self.promtool("check", "rules", self.rules_file)
        self.assertIn("SUCCESS", out)

    def test_promtool_test_rules(self):
        self.promtool("test", "rules", "alerts_test.yaml")

    def test_every_alert_has_a_unit_test(self):
        with open(os.path.join(HERE, "alerts_test.yaml"), encoding="utf-8") as f:
            tests = yaml.safe_load(f)
        tested = {case["alertname"] for t in tests["tests"] for case in t.get("alert_rule_test", [])}
        alerts = {r["alert"] for g in self.groups for r in g["rules"] if "alert" in r}
        self.assertEqual(alerts - tested, set())

    def test_rules_read_only_exposed_metrics(self):
        server = oc.Server()
        try:
            families, _ = oc.parse_exposition(server.metrics())
        finally:
            self.assertEqual(server.terminate(), 0)
        known = oc.series_names({**families, **oc.GPU_ONLY_FAMILIES}) | {"up"}
        known |= {r["record"] for g in self.groups for r in g["rules"] if "record" in r}
        for group in self.groups:
            for rule in group["rules"]:
                names = oc.metric_names_in(str(rule["expr"]))
                self.assertTrue(names, rule)
                self.assertEqual(names - known, set(), rule.get("alert") or rule.get("record"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
