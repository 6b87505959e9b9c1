"""The optional trace view, k8s/components/tracing (an OpenTelemetry Collector and Jaeger), with
either overlay; and compose.yaml's `tracing` profile. (The policy checks of test_policy.py run
on "<overlay>+tracing" too: conftest.OVERLAYS.)"""

from urllib.parse import urlsplit

import kubernetes_validate
import jsonschema
import pytest
import yaml

import test_crosscheck
import test_schemas
from conftest import REPO, containers, crds, find, key, one, pod_labels, render, selector_matches, workloads

FLAVOURS = ["spinkube", "host-runner"]
TRACING = {
    "ConfigMap/spincrud-otel-collector",
    "Deployment/spincrud-otel-collector",
    "Service/spincrud-otel-collector",
    "Deployment/spincrud-jaeger",
    "Service/spincrud-jaeger",
    "NetworkPolicy/spincrud-otel-collector-ingress",
    "NetworkPolicy/spincrud-jaeger-ingress",
}
DOC = REPO / "docs" / "observability.md"


def keys(objs):
    # Generated ConfigMaps carry a content hash: compare by their base name.
    out = set()
    for o in objs:
        name = o["metadata"]["name"]
        if o["kind"] == "ConfigMap" and name.startswith("spincrud-otel-collector-"):
            name = "spincrud-otel-collector"
        out.add(f"{o['kind']}/{name}")
    return out


def collector_config(objs) -> dict:
    (cm,) = [o for o in find(objs, "ConfigMap") if o["metadata"]["name"].startswith("spincrud-otel-collector")]
    return yaml.safe_load(cm["data"]["config.yaml"])


def service_port(objs, url: str) -> tuple[dict, dict]:
    """The Service and port a same-namespace URL (`http://name:port/...`) reaches."""
    parts = urlsplit(url if "://" in url else f"//{url}")
    svc = one(objs, "Service", parts.hostname)
    (port,) = [p for p in svc["spec"]["ports"] if p["port"] == parts.port]
    return svc, port


def serving_pods(objs, svc):
    return [w for w in workloads(objs) if selector_matches({"matchLabels": svc["spec"]["selector"]}, pod_labels(w))]


def container_port(objs, svc, port) -> int:
    """The container port a Service port leads to (by name or number)."""
    (workload,) = serving_pods(objs, svc)
    (c,) = containers(workload, init=False)
    target = port.get("targetPort", port["port"])
    for p in c.get("ports", []):
        if target in (p.get("name"), p["containerPort"]):
            return p["containerPort"]
    pytest.fail(f"{key(svc)} port {port['port']} leads to no container port of {key(workload)}")


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_the_component_adds_the_trace_view_and_nothing_else(flavour):
    plain, traced = keys(render(flavour)), keys(render(f"{flavour}+tracing"))
    assert not plain & TRACING, "the trace view is optional: the overlays alone do not have it"
    assert traced == plain | TRACING, f"unexpected: {sorted(traced - plain - TRACING)}, missing: {sorted(TRACING - traced)}"


@pytest.mark.parametrize("version", test_schemas.K8S_VERSIONS)
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_renders_are_valid(flavour, version):
    errors = []
    for obj in render(f"{flavour}+tracing"):
        if test_schemas.is_custom(obj):
            group, api_version = obj["apiVersion"].split("/")
            validator = jsonschema.Draft7Validator(test_schemas.strict_schema(crds()[(group, api_version, obj["kind"])]))
            errors += [f"{key(obj)}: {e.message}" for e in validator.iter_errors(obj)]
            continue
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            errors.append(f"{key(obj)} at {'/'.join(str(p) for p in e.path)}: {e.message}")
    assert not errors, "\n".join(errors)


def test_host_runner_exports_to_the_collector():
    objs = render("host-runner+tracing")
    config = one(objs, "ConfigMap", "spincrud-config")["data"]
    svc, port = service_port(objs, config["OTEL_EXPORTER_OTLP_ENDPOINT"])
    assert svc["metadata"]["name"] == "spincrud-otel-collector"
    receivers = collector_config(objs)["receivers"]["otlp"]["protocols"]
    assert receivers["http"]["endpoint"].endswith(f":{container_port(objs, svc, port)}"), "http/protobuf goes to the OTLP/HTTP receiver"
    assert config["OTEL_SERVICE_NAME"] == "spincrud"
    (c,) = containers(one(objs, "Deployment", "spincrud"), init=False)
    assert {"configMapRef": {"name": "spincrud-config"}} in c["envFrom"], "the Deployment loads the ConfigMap"
    # ...and host-runner reads both variables (`serve --help` lists them).
    test_crosscheck.test_host_runner_containers_only_get_env_vars_it_reads("host-runner+tracing")


def test_spinkube_exports_to_the_collectors_spin_receiver():
    objs = render("spinkube+tracing")
    otel = one(objs, "SpinAppExecutor", "containerd-shim-spin")["spec"]["deploymentConfig"]["otel"]
    # Traces only: Spin would export metrics too with the general endpoint, and Jaeger takes none.
    assert set(otel) == {"exporter_otlp_traces_endpoint"}
    url = otel["exporter_otlp_traces_endpoint"]
    assert urlsplit(url).path == "/v1/traces", "a signal's own endpoint is used as it is"
    svc, port = service_port(objs, url)
    config = collector_config(objs)
    receiver = config["receivers"]["otlp/spin"]["protocols"]["http"]
    assert receiver["endpoint"].endswith(f":{container_port(objs, svc, port)}")
    (pipeline,) = [p for p in config["service"]["pipelines"].values() if "otlp/spin" in p["receivers"]]
    renamed = [p for p in pipeline["processors"] if p.startswith("resource")]
    assert renamed, "Spin's spans get spincrud's service name"
    attributes = {a["key"]: a for a in config["processors"][renamed[0]]["attributes"]}
    assert attributes["service.name"]["value"] == "spincrud" and attributes["service.name"]["action"] == "upsert"
    # The SpinApp's pods are the API pods the collector's NetworkPolicy admits.
    assert pod_labels(one(objs, "SpinApp", "spincrud"))["app.kubernetes.io/component"] == "api"


def test_the_host_runner_flavour_has_no_executor_to_patch():
    assert not find(render("host-runner+tracing"), "SpinAppExecutor")


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_the_collector_config_holds_together(flavour):
    objs = render(f"{flavour}+tracing")
    config = collector_config(objs)
    for name, pipeline in config["service"]["pipelines"].items():
        for kind in ("receivers", "processors", "exporters"):
            for component in pipeline.get(kind, []):
                assert component in config[kind], f"pipeline {name}: {component} is not configured"
        assert pipeline["exporters"] == ["otlp/jaeger"], name
    for extension in config["service"]["extensions"]:
        assert extension in config["extensions"]
    # Every receiver listens on a port the container and the Service expose.
    deployment = one(objs, "Deployment", "spincrud-otel-collector")
    (c,) = containers(deployment, init=False)
    exposed = {p["containerPort"] for p in c["ports"]}
    svc = one(objs, "Service", "spincrud-otel-collector")
    published = {container_port(objs, svc, p) for p in svc["spec"]["ports"]}
    for receiver in config["receivers"].values():
        for protocol in receiver["protocols"].values():
            port = int(protocol["endpoint"].rsplit(":", 1)[1])
            assert port in exposed and port in published, protocol["endpoint"]
    # The probes ask the health_check extension.
    health = int(config["extensions"]["health_check"]["endpoint"].rsplit(":", 1)[1])
    named = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert named[c["readinessProbe"]["httpGet"]["port"]] == health
    # Spans go to Jaeger's OTLP port.
    jaeger_svc, jaeger_port = service_port(objs, config["exporters"]["otlp/jaeger"]["endpoint"])
    assert jaeger_svc["metadata"]["name"] == "spincrud-jaeger"
    assert container_port(objs, jaeger_svc, jaeger_port) == 4317
    # The config file is where the container reads it.
    (mount,) = c["volumeMounts"]
    assert c["args"] == [f"--config={mount['mountPath']}/config.yaml"]


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_only_the_api_reaches_the_collector_and_only_the_collector_reaches_jaeger(flavour):
    objs = render(f"{flavour}+tracing")
    for target, clients in (("otel-collector", {"api"}), ("jaeger", {"otel-collector"})):
        (workload,) = [w for w in workloads(objs) if pod_labels(w).get("app.kubernetes.io/component") == target]
        policies = [p for p in find(objs, "NetworkPolicy") if selector_matches(p["spec"]["podSelector"], pod_labels(workload))]
        allowed = set()
        for p in policies:
            for rule in p["spec"].get("ingress", []):
                assert rule.get("from"), f"{key(p)} lets everyone reach {target}"
                for peer in rule["from"]:
                    assert set(peer) == {"podSelector"}, f"{key(p)}: only same-namespace pod selectors"
                    allowed |= {
                        pod_labels(w).get("app.kubernetes.io/component")
                        for w in workloads(objs)
                        if selector_matches(peer["podSelector"], pod_labels(w))
                    }
        assert allowed == clients, f"{target} reachable from {allowed}, expected {clients}"


def test_jaeger_listens_beyond_localhost():
    objs = render("host-runner+tracing")
    (c,) = containers(one(objs, "Deployment", "spincrud-jaeger"), init=False)
    env = {e["name"]: e.get("value") for e in c.get("env", [])}
    assert env.get("JAEGER_LISTEN_HOST") == "0.0.0.0", "Jaeger v2's all-in-one listens on localhost by default"


# ------------------------------------------------------------------------------- compose


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((REPO / "compose.yaml").read_text())


def test_compose_tracing_profile_starts_jaeger_only_when_asked(compose):
    jaeger = compose["services"]["jaeger"]
    assert jaeger["profiles"] == ["tracing"]
    for name, svc in compose["services"].items():
        if name != "jaeger":
            assert "tracing" not in svc.get("profiles", []), f"{name} must run without the tracing profile"
            assert "jaeger" not in (svc.get("depends_on") or {}), f"{name} must not need the trace view"


def test_compose_jaeger_is_the_kubernetes_one_and_hardened(compose):
    jaeger = compose["services"]["jaeger"]
    (c,) = containers(one(render("host-runner+tracing"), "Deployment", "spincrud-jaeger"), init=False)
    assert jaeger["image"] == c["image"]
    assert jaeger["environment"]["JAEGER_LISTEN_HOST"] == "0.0.0.0"
    assert jaeger.get("read_only") is True and jaeger.get("cap_drop") == ["ALL"]
    assert all(str(p).startswith("127.0.0.1:") for p in jaeger["ports"]), "the UI has no login: this host only"
    assert any(str(p).endswith(":16686") for p in jaeger["ports"])


def test_compose_host_runner_traces_only_when_configured(compose):
    env = compose["services"]["host-runner"]["environment"]
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "${OTEL_EXPORTER_OTLP_ENDPOINT:-}", "off by default"
    assert "spincrud" in env["OTEL_SERVICE_NAME"]


# ---------------------------------------------------------------------------------- docs


def test_observability_doc_gives_the_commands():
    text = DOC.read_text()
    for command in (
        "k8s/components/tracing",
        "kubectl -n spincrud port-forward service/spincrud-jaeger 16686",
        "docker compose --profile tracing up",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "traceparent",
        "exporter_otlp_traces_endpoint",
        "spin up",
    ):
        assert command in text, f"docs/observability.md lacks `{command}`"
    assert "../shared" not in text
