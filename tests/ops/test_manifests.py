"""Renders one kustomization of deploy/ and validates every object in it, offline.

  test_manifests.py OVERLAY      (base, overlays/cpu, overlays/gpu, overlays/gpu-tls)

1. `kustomize build` must succeed.
2. Built-in kinds: kubernetes-validate's strict JSON schemas (unknown fields fail) for the oldest
   and newest Kubernetes versions we claim (1.29, 1.37).
3. CRDs (ServiceMonitor, PrometheusRule): kubernetes-validate has no schemas for them; they are
   checked against tests/ops/schemas/*.json, hand-written subsets of the Prometheus Operator API
   that allow only the fields we use (so a typo fails rather than being silently ignored).
   Any other kind fails the test.
4. Cross-object checks a schema cannot make: selectors select the pods, ports and probes line up
   with the server's flags, the flags exist in the real eaos-server binary, the drain timings
   add up, GPU overlays ask for a GPU and run --device=cuda; where the edge proxy
   (components/edge-proxy) fronts the server, the pod's gRPC port is nginx's, the server listens
   on 127.0.0.1 at the upstream nginx.conf names, and the ConfigMap carries the very nginx.conf
   and listen.conf that tests/edge runs in CI; with components/edge-proxy-tls (gpu-tls) nginx
   terminates mutual TLS from the mounted Secret, the server has no --tls_* flags, and the probes
   go to nginx's plaintext health-only port.
"""
import json
import os
import re
import sys
import unittest

import jsonschema
import kubernetes_validate

import ops_common as oc

K8S_VERSIONS = ["1.29.0", "1.37.0"]
CRD_SCHEMAS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor.monitoring.coreos.com-v1.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule.monitoring.coreos.com-v1.json",
}
SCHEMA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schemas")
BUNDLED_DEMO_MODEL = "/opt/eaos/share/eaos/models/demo"  # cmake --install prefix in docker/
IMAGE_UID = 10001  # the USER of docker/Dockerfile.*
# The image each variant must render (docs/deploy.md, docker/README.md). The base sets none: its
# `eaos-server` is the placeholder each overlay's `images:` entry resolves.
REGISTRY_IMAGE = "registry.example.com/eaos/eaos-server"
EXPECTED_IMAGE = {
    "base": "eaos-server",
    "overlays/cpu": REGISTRY_IMAGE + ":0.1.0-cpu",
    "overlays/gpu": REGISTRY_IMAGE + ":0.1.0-cuda",
    "overlays/gpu-tls": REGISTRY_IMAGE + ":0.1.0-cuda",
}

# Overlays whose pods put the nginx edge proxy (deploy/components/edge-proxy) in front of the
# server, and the listen.conf its ConfigMap must carry: plaintext h2c, or (gpu-tls,
# components/edge-proxy-tls) mutual TLS plus the probes' plaintext port.
EDGE_PROXY = {"base": False, "overlays/cpu": True, "overlays/gpu": True, "overlays/gpu-tls": True}
EDGE_PROXY_CONF = os.path.join(oc.DEPLOY_DIR, "components", "edge-proxy", "nginx.conf")
PLAIN_LISTEN_CONF = os.path.join(oc.DEPLOY_DIR, "components", "edge-proxy", "listen.conf")
TLS_LISTEN_CONF = os.path.join(oc.DEPLOY_DIR, "components", "edge-proxy-tls", "listen-tls.conf")
EDGE_LISTEN_CONF = {"overlays/cpu": PLAIN_LISTEN_CONF, "overlays/gpu": PLAIN_LISTEN_CONF,
                    "overlays/gpu-tls": TLS_LISTEN_CONF}
LISTEN_RE = re.compile(r"^\s*listen (\d+)( ssl)? http2;", re.M)

OVERLAY = None


def one(objects, kind, name=None):
    found = [o for o in objects if o["kind"] == kind
             and (name is None or o["metadata"]["name"] == name)]
    if len(found) != 1:
        raise AssertionError(f"expected exactly one {kind} {name or ''}, found {len(found)}")
    return found[0]


def selects(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())


def port_of(address):
    return int(address.rsplit(":", 1)[1])


class ManifestTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.objects = oc.render(OVERLAY)
        cls.deployment = one(cls.objects, "Deployment", "eaos-server")
        cls.pod = cls.deployment["spec"]["template"]
        cls.container = next(c for c in cls.pod["spec"]["containers"] if c["name"] == "server")
        cls.proxy = next((c for c in cls.pod["spec"]["containers"] if c["name"] == "edge-proxy"),
                         None)
        cls.flags = cls.effective_flags()

    @classmethod
    def effective_flags(cls):
        """The server's flags as it will parse them: each --flagfile in order, then later args."""
        mounts = {m["mountPath"]: m["name"] for m in cls.container.get("volumeMounts", [])}
        volumes = {v["name"]: v for v in cls.pod["spec"].get("volumes", [])}
        configmaps = {o["metadata"]["name"]: o for o in cls.objects if o["kind"] == "ConfigMap"}
        flags = {}
        for arg in cls.container.get("args", []):
            name, _, value = arg[2:].partition("=")
            if name != "flagfile":
                flags[name] = value
                continue
            for path in value.split(","):
                directory, filename = os.path.split(path)
                assert directory in mounts, f"{path}: nothing mounted at {directory}"
                volume = volumes[mounts[directory]]
                assert "configMap" in volume, f"{path}: {directory} is not a ConfigMap volume"
                cm_name = volume["configMap"]["name"]
                assert cm_name in configmaps, f"ConfigMap {cm_name} is not in the rendering"
                data = configmaps[cm_name].get("data", {})
                assert filename in data, f"{path}: ConfigMap {cm_name} has no key {filename}"
                for flag, flag_value in oc.parse_flagfile(data[filename]):
                    flags[flag] = flag_value
        return flags

    def test_every_object_validates(self):
        kinds = set()
        for obj in self.objects:
            kinds.add(obj["kind"])
            key = (obj["apiVersion"], obj["kind"])
            where = f'{obj["kind"]}/{obj["metadata"]["name"]}'
            if key in CRD_SCHEMAS:
                with open(os.path.join(SCHEMA_DIR, CRD_SCHEMAS[key]), encoding="utf-8") as f:
                    schema = json.load(f)
                try:
                    jsonschema.Draft202012Validator(schema).validate(obj)
                except jsonschema.ValidationError as e:
                    self.fail(f"{where}: {'.'.join(map(str, e.absolute_path))}: {e.message}")
                continue
            for version in K8S_VERSIONS:
                try:
                    kubernetes_validate.validate(obj, version, strict=True)
                except kubernetes_validate.ValidationError as e:
                    self.fail(f"{where} (Kubernetes {version}): "
                              f"{'.'.join(map(str, e.path))}: {e.message}")
                except kubernetes_validate.SchemaNotFoundError as e:
                    self.fail(f"{where}: no schema to validate it: {e.message}")
        expected = {"ServiceAccount", "ConfigMap", "Service", "Deployment", "PodDisruptionBudget",
                    "HorizontalPodAutoscaler", "ServiceMonitor", "PrometheusRule"}
        self.assertTrue(expected <= kinds, f"missing kinds: {expected - kinds}")

    def test_selectors_select_the_pods(self):
        labels = self.pod["metadata"]["labels"]
        self.assertTrue(selects(self.deployment["spec"]["selector"]["matchLabels"], labels))
        services = [o for o in self.objects if o["kind"] == "Service"]
        self.assertEqual({s["metadata"]["name"] for s in services},
                         {"eaos-server", "eaos-server-headless"})
        port_names = {p["name"] for c in self.pod["spec"]["containers"] for p in c.get("ports", [])}
        for svc in services:
            self.assertTrue(selects(svc["spec"]["selector"], labels), svc["metadata"]["name"])
            for port in svc["spec"]["ports"]:
                self.assertIn(port["targetPort"], port_names, svc["metadata"]["name"])
        self.assertEqual(one(services, "Service", "eaos-server-headless")["spec"]["clusterIP"],
                         "None")
        self.assertEqual(one(services, "Service", "eaos-server")["spec"].get("type", "ClusterIP"),
                         "ClusterIP")
        pdb = one(self.objects, "PodDisruptionBudget")
        self.assertTrue(selects(pdb["spec"]["selector"]["matchLabels"], labels))

    def test_servicemonitor_scrapes_one_service_once(self):
        monitor = one(self.objects, "ServiceMonitor")
        matched = [s for s in self.objects if s["kind"] == "Service"
                   and selects(monitor["spec"]["selector"]["matchLabels"], s["metadata"]["labels"])]
        self.assertEqual([s["metadata"]["name"] for s in matched], ["eaos-server"],
                         "exactly the ClusterIP Service, or pods get scraped twice")
        svc_ports = {p["name"] for p in matched[0]["spec"]["ports"]}
        for endpoint in monitor["spec"]["endpoints"]:
            self.assertIn(endpoint["port"], svc_ports)
            self.assertEqual(endpoint.get("path", "/metrics"), "/metrics")

    def test_hpa_scales_the_deployment_on_the_adapter_metric(self):
        hpa = one(self.objects, "HorizontalPodAutoscaler")
        self.assertEqual(hpa["apiVersion"], "autoscaling/v2")
        ref = hpa["spec"]["scaleTargetRef"]
        self.assertEqual((ref["kind"], ref["name"]), ("Deployment", "eaos-server"))
        published = {r["name"]["as"] for r in oc.adapter_rules()}
        for metric in hpa["spec"]["metrics"]:
            self.assertEqual(metric["type"], "Pods")
            self.assertIn(metric["pods"]["metric"]["name"], published,
                          "the prometheus-adapter rule publishes no such metric")
        self.assertLessEqual(hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"])

    def test_flags_exist_in_the_server_binary(self):
        known = oc.binary_flags(oc.server_binary())
        unknown = sorted(set(self.flags) - known)
        self.assertEqual(unknown, [], "flags the server does not define (it would refuse to start)")

    def proxy_conf(self, filename=None):
        """A file of the edge proxy's config folder, as its container reads it (from its
        ConfigMap): nginx.conf (the -c file), or `filename` beside it (what it includes)."""
        mounts = {m["mountPath"]: m["name"] for m in self.proxy.get("volumeMounts", [])}
        conf_path = self.proxy["command"][self.proxy["command"].index("-c") + 1]
        directory, conf_name = os.path.split(conf_path)
        filename = filename or conf_name
        self.assertIn(directory, mounts, f"{conf_path}: nothing mounted there")
        volume = next(v for v in self.pod["spec"]["volumes"] if v["name"] == mounts[directory])
        self.assertIn("configMap", volume, f"{conf_path} must come from a ConfigMap")
        cm = one(self.objects, "ConfigMap", volume["configMap"]["name"])
        self.assertIn(filename, cm.get("data", {}))
        return cm["data"][filename]

    def proxy_listens(self):
        """{port: True if TLS} of the listen lines in the proxy's listen.conf."""
        return {int(m.group(1)): bool(m.group(2))
                for m in LISTEN_RE.finditer(self.proxy_conf("listen.conf"))}

    def proxy_secret_dirs(self):
        """{mount path: volume} of the proxy's Secret volumes."""
        volumes = {v["name"]: v for v in self.pod["spec"]["volumes"]}
        return {m["mountPath"]: volumes[m["name"]] for m in self.proxy.get("volumeMounts", [])
                if "secret" in volumes[m["name"]]}

    def test_edge_proxy_fronts_the_server(self):
        self.assertEqual(self.proxy is not None, EDGE_PROXY[OVERLAY],
                         "the edge-proxy container (components/edge-proxy)")
        if self.proxy is None:
            return
        tls_flags = sorted(k for k in self.flags if k.startswith("tls_"))
        self.assertEqual(tls_flags, [], "behind the proxy, nginx terminates TLS (if any), not the "
                                        "server: it speaks plaintext gRPC to nginx on localhost")
        self.assertNotIn("health_listen", self.flags,
                         "behind the proxy the server has no port outside localhost: the probes "
                         "reach it through nginx")
        conf = self.proxy_conf()
        with open(EDGE_PROXY_CONF, encoding="utf-8") as f:
            self.assertEqual(conf, f.read(), "the ConfigMap must carry the nginx.conf CI floods")
        self.assertRegex(conf, r"(?m)^\s*include listen\.conf;",
                         "nginx.conf takes its listeners from listen.conf")
        self.assertNotRegex(conf, r"(?m)^\s*listen ", "listeners belong in listen.conf only")
        with open(EDGE_LISTEN_CONF[OVERLAY], encoding="utf-8") as f:
            self.assertEqual(self.proxy_conf("listen.conf"), f.read(),
                             f"the ConfigMap's listen.conf must be {EDGE_LISTEN_CONF[OVERLAY]}, "
                             "the file tests/edge runs")
        self.assertEqual(self.proxy["command"][0], "nginx")
        self.assertEqual(self.proxy["image"], self.container["image"],
                         "nginx comes from the server's image (docker/: scripts/deps.d/60-proxy.sh)")
        # The server: localhost only, at the upstream nginx proxies to.
        upstream = re.search(r"^\s*server 127\.0\.0\.1:(\d+);", conf, re.M)
        self.assertIsNotNone(upstream, "nginx.conf names no upstream on 127.0.0.1")
        self.assertEqual(self.flags["listen"], f"127.0.0.1:{upstream.group(1)}",
                         "the server must listen only on localhost, where nginx proxies to")
        listens = self.proxy_listens()
        self.assertTrue(listens, "listen.conf listens on no HTTP/2 port")
        proxy_ports = {p["name"]: p["containerPort"] for p in self.proxy["ports"]}
        self.assertIn(proxy_ports.get("grpc"), listens, "the pod's grpc port must be nginx's")
        self.assertEqual(set(proxy_ports.values()), set(listens),
                         "the proxy declares exactly the ports nginx listens on")
        self.assertNotIn("grpc", {p["name"] for p in self.container.get("ports", [])})
        tls = OVERLAY in ("overlays/gpu-tls",)
        self.assertEqual(listens[proxy_ports["grpc"]], tls,
                         "the grpc port is TLS in gpu-tls, plaintext h2c in cpu/gpu")
        if tls:
            self.check_proxy_tls(self.proxy_conf("listen.conf"), listens, proxy_ports)
        sc = self.proxy["securityContext"]
        self.assertFalse(sc["allowPrivilegeEscalation"])
        self.assertTrue(sc["readOnlyRootFilesystem"])
        self.assertEqual(sc["capabilities"]["drop"], ["ALL"])
        self.assertIn("memory", self.proxy["resources"].get("limits", {}))
        # nginx's prefix (pid, temp files) must be writable: an emptyDir.
        prefix = self.proxy["command"][self.proxy["command"].index("-p") + 1].rstrip("/")
        mounts = {m["mountPath"]: m["name"] for m in self.proxy.get("volumeMounts", [])}
        self.assertIn(prefix, mounts, f"nginx's prefix {prefix} is on no volume")
        volume = next(v for v in self.pod["spec"]["volumes"] if v["name"] == mounts[prefix])
        self.assertIn("emptyDir", volume)

    def check_proxy_tls(self, listen, listens, proxy_ports):
        """nginx terminates mutual TLS with files from a mounted Secret; its one plaintext port is
        the probes', health-only, and in no Service."""
        paths = dict(re.findall(r"^\s*(ssl_certificate|ssl_certificate_key|ssl_client_certificate) "
                                r"(\S+);", listen, re.M))
        self.assertEqual(set(paths), {"ssl_certificate", "ssl_certificate_key",
                                      "ssl_client_certificate"})
        self.assertRegex(listen, r"(?m)^\s*ssl_verify_client on;", "mutual TLS: verify clients")
        secrets = self.proxy_secret_dirs()
        for directive, path in paths.items():
            directory = os.path.dirname(path)
            self.assertIn(directory, secrets, f"{directive} {path}: no Secret mounted there")
            self.assertEqual(secrets[directory]["secret"]["secretName"], "eaos-server-tls")
        self.assertEqual(sorted(os.path.basename(p) for p in paths.values()),
                         ["ca.crt", "tls.crt", "tls.key"], "the keys cert-manager writes")
        self.assertEqual(secrets[os.path.dirname(paths["ssl_certificate_key"])]["secret"]
                         .get("defaultMode"), 0o440, "the key readable by the pod's group only")
        plain = [port for port, is_tls in listens.items() if not is_tls]
        self.assertEqual(plain, [proxy_ports.get("health")],
                         "one plaintext port, the probes' (named health)")
        self.assertRegex(listen, r'(?m)^\s*if \(\$eaos_route !~ "\^\(on/\|/grpc\\.health\\.v1'
                                 r'\\.Health/\)"\)', "the plaintext port answers grpc.health.v1 only")
        self.assertRegex(listen, r"(?m)^\s*grpc_set_header x-client-dn \$ssl_client_s_dn;")
        for svc in (o for o in self.objects if o["kind"] == "Service"):
            for port in svc["spec"]["ports"]:
                self.assertNotIn(port["targetPort"], ("health", plain[0]),
                                 f"Service {svc['metadata']['name']} exposes the probes' port")

    def test_ports_and_probes_match_the_flags(self):
        ports = {p["name"]: p["containerPort"] for c in self.pod["spec"]["containers"]
                 for p in c.get("ports", [])}
        if self.proxy is None:
            self.assertEqual(port_of(self.flags["listen"]), ports["grpc"])
        self.assertEqual(port_of(self.flags["metrics_listen"]), ports["metrics"])
        # Behind the edge proxy the probes reach the server through nginx, on its plaintext port:
        # the pod's grpc port (cpu, gpu), or the health-only port beside the TLS one (gpu-tls).
        if self.proxy is not None:
            plain = [port for port, is_tls in self.proxy_listens().items() if not is_tls]
            self.assertEqual(len(plain), 1, "nginx has one plaintext port, the probes'")
            probe_port = plain[0]
            self.assertEqual(probe_port, ports["health" if "health" in ports else "grpc"])
        else:
            probe_port = port_of(self.flags["health_listen"]) if "health_listen" in self.flags \
                else port_of(self.flags["listen"])
        if "tls_cert" in self.flags:
            self.assertIn("health_listen", self.flags,
                          "kubelet's gRPC probes are plaintext: TLS needs --health_listen")
        probes = {k: self.container[k] for k in ("startupProbe", "readinessProbe", "livenessProbe")}
        for kind, probe in probes.items():
            self.assertIn("grpc", probe, f"{kind} must be a native gRPC probe")
            self.assertEqual(probe["grpc"]["port"], probe_port, kind)
            self.assertIn(probe_port, ports.values(), f"{kind} probes a port the pod does not declare")
        self.assertEqual(probes["startupProbe"]["grpc"]["service"], oc.SERVICE_NAME)
        self.assertEqual(probes["readinessProbe"]["grpc"]["service"], oc.SERVICE_NAME)
        self.assertEqual(probes["livenessProbe"]["grpc"]["service"], oc.LIVENESS_SERVICE,
                         "liveness must not depend on the model being loaded")
        startup = probes["startupProbe"]
        self.assertGreaterEqual(startup["failureThreshold"] * startup["periodSeconds"], 300,
                                "the startup probe must allow minutes for model load + warm-up")

    def test_drain_fits_in_the_termination_grace_period(self):
        pre_stop = self.container["lifecycle"]["preStop"]["exec"]["command"]
        self.assertEqual(pre_stop[0], "sleep")
        sleep_s = float(pre_stop[1])
        grace = oc.parse_duration(self.flags.get("shutdown_grace", "30s"))
        total = self.pod["spec"]["terminationGracePeriodSeconds"]
        self.assertGreaterEqual(total, sleep_s + grace + 10,
                                "terminationGracePeriodSeconds < preStop + --shutdown_grace + 10s")
        self.assertIn("max_connection_age", self.flags,
                      "without it, clients of the headless Service never see new pods")
        self.assertLess(oc.parse_duration(self.flags["max_connection_age"]), float("inf"))

    def test_model_dir_is_mounted_or_bundled(self):
        model_dir = self.flags["model_dir"]
        if model_dir.startswith(BUNDLED_DEMO_MODEL):
            return
        mounts = {m["mountPath"]: m for m in self.container["volumeMounts"]}
        mount = next((m for p, m in mounts.items() if model_dir.startswith(p.rstrip("/") + "/")),
                     None)
        self.assertIsNotNone(mount, f"--model_dir={model_dir} is on no volume")
        self.assertTrue(mount.get("readOnly"), "the model volume is mounted read-only")
        volume = next(v for v in self.pod["spec"]["volumes"] if v["name"] == mount["name"])
        if "persistentVolumeClaim" in volume:
            one(self.objects, "PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])

    def test_device_and_gpu_resources_agree(self):
        limits = self.container["resources"].get("limits", {})
        if "gpu" in OVERLAY:
            self.assertEqual(self.flags["device"], "cuda")
            self.assertEqual(str(limits.get("nvidia.com/gpu")), "1", "one whole GPU per server")
        else:
            self.assertEqual(self.flags["device"], "cpu")
            self.assertNotIn("nvidia.com/gpu", limits)
        self.assertIn("memory", limits)

    def test_renders_the_variants_image(self):
        images = sorted({c["image"] for o in self.objects if o["kind"] == "Deployment"
                         for c in o["spec"]["template"]["spec"]["containers"]})
        self.assertEqual(images, [EXPECTED_IMAGE[OVERLAY]])

    def test_cuda_device_only_with_the_cuda_image_and_a_gpu(self):
        image = self.container["image"]
        limits = self.container["resources"].get("limits", {})
        cuda_image = image.endswith("-cuda")
        cuda_device = self.flags["device"].startswith("cuda")
        self.assertEqual(cuda_device, cuda_image,
                         f"--device={self.flags['device']} with image {image}: a CPU image cannot "
                         "run --device=cuda (the pod crash-loops), a CUDA image wastes its GPU on cpu")
        if cuda_device:
            self.assertIn("nvidia.com/gpu", limits, "--device=cuda without a GPU limit")
        # No flagfile in the rendering may smuggle --device=cuda into a CPU pod either.
        for cm in (o for o in self.objects if o["kind"] == "ConfigMap"):
            for key, text in cm.get("data", {}).items():
                if not key.endswith(".flags"):
                    continue  # e.g. the edge proxy's nginx.conf
                for name, value in oc.parse_flagfile(text):
                    if name == "device" and value.startswith("cuda"):
                        self.assertTrue(cuda_image and "nvidia.com/gpu" in limits,
                                        f"{cm['metadata']['name']}/{key}: --device={value} "
                                        f"beside image {image}")

    def test_runs_as_the_image_user_without_privileges(self):
        pod_sc = self.pod["spec"]["securityContext"]
        self.assertTrue(pod_sc["runAsNonRoot"])
        self.assertEqual(pod_sc["runAsUser"], IMAGE_UID)
        sc = self.container["securityContext"]
        self.assertFalse(sc["allowPrivilegeEscalation"])
        self.assertTrue(sc["readOnlyRootFilesystem"])
        self.assertEqual(sc["capabilities"]["drop"], ["ALL"])

    def test_tls_files_are_mounted(self):
        tls = {k: v for k, v in self.flags.items() if k.startswith("tls_")}
        if not tls:
            return
        mounts = {m["mountPath"]: m["name"] for m in self.container["volumeMounts"]}
        volumes = {v["name"]: v for v in self.pod["spec"]["volumes"]}
        for flag, path in tls.items():
            directory = os.path.dirname(path)
            self.assertIn(directory, mounts, f"--{flag}={path}: nothing mounted there")
            self.assertIn("secret", volumes[mounts[directory]], f"--{flag} must come from a Secret")


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in oc.OVERLAYS:
        sys.exit(f"usage: {sys.argv[0]} {{{','.join(oc.OVERLAYS)}}}")
    OVERLAY = sys.argv.pop(1)
    unittest.main(verbosity=2)
