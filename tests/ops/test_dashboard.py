"""deploy/grafana/eaos-serve.json: valid JSON of a Grafana dashboard whose every PromQL expression
parses (promtool, as recording rules once Grafana's variables are substituted) and reads only
metrics a real eaos-server exposes. test_prometheus_scrape.py also runs them on a live Prometheus.
"""
import os
import subprocess
import unittest

import yaml

import ops_common as oc


class DashboardTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dashboard, cls.exprs = oc.dashboard_exprs()
        server = oc.Server()
        try:
            families, _ = oc.parse_exposition(server.metrics())
        finally:
            code = server.terminate()
        assert code == 0, f"eaos-server exited {code} after SIGTERM"
        cls.known = oc.series_names({**families, **oc.GPU_ONLY_FAMILIES}) | {"up"}

    def test_dashboard_shape(self):
        self.assertEqual(self.dashboard["uid"], "eaos-serve")
        ids = [p["id"] for p in self.dashboard["panels"]]
        self.assertEqual(len(ids), len(set(ids)), "panel ids must be unique")
        variables = {v["name"] for v in self.dashboard["templating"]["list"]}
        self.assertEqual(variables, {"datasource", "namespace"})
        for panel in self.dashboard["panels"]:
            self.assertTrue(panel.get("targets"), panel["title"])
            self.assertEqual(panel["datasource"]["uid"], "${datasource}", panel["title"])
            self.assertIn("gridPos", panel)

    def test_every_expression_reads_exposed_metrics(self):
        self.assertGreaterEqual(len(self.exprs), 10)
        for title, expr in self.exprs:
            names = oc.metric_names_in(expr)
            self.assertTrue(names, f"{title}: no metric in {expr}")
            self.assertEqual(names - self.known, set(), f"{title}: {expr}")
            self.assertIn('job="eaos-server"', expr, title)

    def test_every_expression_parses(self):
        work = oc.temp_dir("eaos-dash-")
        rules = [{"record": f"dashboard:panel{i}", "expr": oc.grafana_to_promql(expr)}
                 for i, (_, expr) in enumerate(self.exprs)]
        path = os.path.join(work, "dashboard-exprs.yaml")
        with open(path, "w", encoding="utf-8") as f:
            yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)
        out = subprocess.run([oc.promtool(), "check", "rules", path], capture_output=True,
                             text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
