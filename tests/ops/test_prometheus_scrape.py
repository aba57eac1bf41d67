"""A real Prometheus scrapes a real eaos-server; its HTTP API must give the server's counters back.

Starts eaos-server (demo model, loopback ephemeral ports), sends known traffic with eaos-client
(2 Predict calls with 5 texts, one --input run of 6 items of which one is blank (the server answers INVALID_ARGUMENT for it), one --info),
starts Debian's `prometheus` with a generated config (1s scrape of the metrics port, temp storage,
the alert rules of deploy/base/prometheusrule.yaml loaded), then, over /api/v1:
  - waits (bounded) until the scraped counters equal what was sent;
  - runs the prometheus-adapter rule's series and metrics queries (what the HPA would get);
  - runs every Grafana dashboard expression: each must succeed, and return data unless it is
    GPU-only;
  - checks every rule group loaded, evaluated without error, and that no alert fires.
The scrape target carries the namespace/pod labels the Prometheus Operator adds in a cluster.
"""
import json
import os
import signal
import subprocess
import sys
import time
import unittest
import urllib.parse

import ops_common as oc

NAMESPACE, POD = "eaos-test", "eaos-server-0"
UNARY_CALLS = [["Chương trình rất hay!", "MC dẫn duyên quá", "Âm thanh hơi rè."],
               ["Khách mời dễ thương", "Hình ảnh mờ quá"]]
STREAM_TEXTS = ["Chương trình rất hay", " \t ", "MC nói hơi nhiều", "Âm thanh quá tệ",
                "Sân khấu đẹp", "Ca sĩ hát hay"]


class PrometheusScrapeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = oc.temp_dir("eaos-prom-")
        cls.server = oc.Server()
        cls.prom = None
        try:
            cls.send_traffic()
            cls.start_prometheus()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.prom is not None and cls.prom.poll() is None:
            cls.prom.send_signal(signal.SIGTERM)
            try:
                cls.prom.wait(timeout=30)
            except subprocess.TimeoutExpired:
                cls.prom.kill()
                cls.prom.wait(timeout=10)
        if cls.server is not None:
            code = cls.server.terminate()
            cls.server = None
            assert code == 0, f"eaos-server exited {code} after SIGTERM"

    @classmethod
    def send_traffic(cls):
        for texts in UNARY_CALLS:
            out = oc.run_client([f"--target={cls.server.target}", *texts])
            assert len(out.splitlines()) == len(texts), out
        jsonl = os.path.join(cls.work, "items.jsonl")
        with open(jsonl, "w", encoding="utf-8") as f:
            for i, text in enumerate(STREAM_TEXTS):
                f.write(json.dumps({"id": f"s{i}", "text": text}, ensure_ascii=False) + "\n")
        out = oc.run_client([f"--target={cls.server.target}", f"--input={jsonl}",
                             f"--output={os.path.join(cls.work, 'out.jsonl')}", "--streams=2"])
        oc.run_client([f"--target={cls.server.target}", "--info"])

    @classmethod
    def start_prometheus(cls):
        import yaml
        rules = os.path.join(cls.work, "rules.yaml")
        with open(rules, "w", encoding="utf-8") as f:
            yaml.safe_dump({"groups": oc.prometheus_rule_groups()}, f, sort_keys=False)
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [rules],
            "scrape_configs": [{
                "job_name": oc.JOB,
                "scrape_interval": "1s",
                "scrape_timeout": "1s",
                "static_configs": [{
                    "targets": [f"127.0.0.1:{cls.server.metrics_port}"],
                    "labels": {"namespace": NAMESPACE, "pod": POD},
                }],
            }],
        }
        config_path = os.path.join(cls.work, "prometheus.yml")
        with open(config_path, "w", encoding="utf-8") as f:
            yaml.safe_dump(config, f, sort_keys=False)
        port = oc.free_port()
        cls.api = f"http://127.0.0.1:{port}/api/v1"
        cls.prom_log = open(os.path.join(cls.work, "prometheus.log"), "w")
        cls.prom = subprocess.Popen(
            [oc.prometheus(), f"--config.file={config_path}",
             f"--storage.tsdb.path={os.path.join(cls.work, 'data')}",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            stdout=cls.prom_log, stderr=subprocess.STDOUT)

        def ready():
            if cls.prom.poll() is not None:
                raise oc.ProcessExited(f"prometheus exited {cls.prom.returncode}: {cls.log()}")
            return oc.http_get(f"http://127.0.0.1:{port}/-/ready")[0] == 200
        oc.wait_for("prometheus /-/ready", ready, 60)

    @classmethod
    def log(cls):
        with open(os.path.join(cls.work, "prometheus.log"), encoding="utf-8") as f:
            return f.read()

    def api_get(self, path, **params):
        url = f"{self.api}/{path}?{urllib.parse.urlencode(params, doseq=True)}"
        status, body = oc.http_get(url, timeout=10)
        reply = json.loads(body)
        self.assertEqual(reply["status"], "success", f"{path} {params}: {reply}")
        return reply["data"]

    def query(self, expr):
        data = self.api_get("query", query=expr)
        self.assertEqual(data["resultType"], "vector", expr)
        return {json.dumps(r["metric"], sort_keys=True): float(r["value"][1])
                for r in data["result"]}

    def value(self, expr):
        result = self.query(expr)
        return next(iter(result.values())) if len(result) == 1 else None

    def test_1_counters_come_back_through_the_http_api(self):
        unary_items = sum(len(t) for t in UNARY_CALLS)
        stream_ok = sum(1 for t in STREAM_TEXTS if t.strip())
        stream_errors = len(STREAM_TEXTS) - stream_ok
        expected = {
            f'eaos_items_total{{job="{oc.JOB}",outcome="ok"}}': unary_items + stream_ok,
            f'eaos_items_total{{job="{oc.JOB}",outcome="error"}}': stream_errors,
            f'eaos_items_total{{job="{oc.JOB}",outcome="rejected"}}': 0,
            f'eaos_requests_total{{job="{oc.JOB}",method="Predict",code="OK"}}': len(UNARY_CALLS),
            f'eaos_requests_total{{job="{oc.JOB}",method="GetModelInfo",code="OK"}}': 1,
            f'eaos_model_info{{job="{oc.JOB}",name="eaos-demo",device="cpu"}}': 1,
            f'eaos_queue_items{{job="{oc.JOB}"}}': 0,
            f'up{{job="{oc.JOB}",namespace="{NAMESPACE}",pod="{POD}"}}': 1,
            # Items that reached the model (the blank one was refused before batching).
            f'eaos_batch_items_sum{{job="{oc.JOB}"}}': unary_items + stream_ok,
        }

        def all_match():
            got = {expr: self.value(expr) for expr in expected}
            self.last = got
            return got == expected
        try:
            oc.wait_for("Prometheus to return the server's counters", all_match, 60, 0.5)
        except AssertionError as e:
            self.fail(f"{e}\nexpected {expected}\ngot      {getattr(self, 'last', None)}\n"
                      f"server log:\n{self.server.log()}\nprometheus log:\n{self.log()}")
        streams = self.value(f'eaos_requests_total{{method="PredictStream",code="OK"}}')
        self.assertGreaterEqual(streams, 1)
        self.assertGreater(self.value("sum(eaos_batch_items_count)"), 0)

    def test_2_adapter_rule_gives_the_hpa_a_value(self):
        for rule in oc.adapter_rules():
            series = self.api_get("series", **{"match[]": rule["seriesQuery"]})
            self.assertTrue(series, f"seriesQuery matches nothing: {rule['seriesQuery']}")
            for s in series:
                for label in rule["resources"]["overrides"]:
                    self.assertIn(label, s)
            metric = series[0]["__name__"]
            query = (rule["metricsQuery"]
                     .replace("<<.Series>>", metric)
                     .replace("<<.LabelMatchers>>", f'namespace="{NAMESPACE}",pod=~"{POD}"')
                     .replace("<<.GroupBy>>", "pod"))
            result = oc.wait_for(f"adapter query {query}", lambda: self.query(query), 30, 0.5)
            self.assertEqual(list(result.values()), [0.0], f"{query}: {result}")
            self.assertIn(POD, next(iter(result)))

    def test_3_dashboard_expressions_run(self):
        _, exprs = oc.dashboard_exprs()
        self.assertTrue(exprs)
        # Rates need two samples inside the 1m window.
        oc.wait_for("a minute's worth of samples",
                    lambda: self.query(f'count_over_time(up{{job="{oc.JOB}"}}[1m])')
                    and max(self.query(f'count_over_time(up{{job="{oc.JOB}"}}[1m])').values()) >= 3,
                    30, 0.5)
        for title, expr in exprs:
            promql = oc.grafana_to_promql(expr)
            result = self.query(promql)
            if oc.metric_names_in(expr) & set(oc.GPU_ONLY_FAMILIES):
                self.assertEqual(result, {}, f"{title}: a CPU server exposes no GPU memory")
            else:
                self.assertTrue(result, f"{title}: {promql} returned nothing")

    def test_4_rules_load_evaluate_and_stay_quiet(self):
        def evaluated():
            groups = self.api_get("rules")["groups"]
            return groups if all(r.get("lastEvaluation", "").startswith("20")
                                 and not r["lastEvaluation"].startswith("0001")
                                 for g in groups for r in g["rules"]) else None
        groups = oc.wait_for("every rule evaluated once", evaluated, 30, 0.5)
        self.assertEqual({g["name"] for g in groups},
                         {g["name"] for g in oc.prometheus_rule_groups()})
        for group in groups:
            for rule in group["rules"]:
                self.assertEqual(rule["health"], "ok",
                                 f'{rule["name"]}: {rule.get("lastError")}')
        firing = [a for a in self.api_get("alerts")["alerts"]]
        self.assertEqual(firing, [], "a healthy server must not raise alerts")


if __name__ == "__main__":
    unittest.main(verbosity=2)
