"""Policy checks on the rendered overlays: probes, resources, non-root, images, secrets,
persistence, network isolation, rollout and availability settings."""

import base64
import math
import re
from collections import Counter
from pathlib import Path

import pytest

from conftest import (
    K8S,
    all_images,
    containers,
    find,
    image_has_tag_or_digest,
    key,
    one,
    pod_labels,
    pod_spec,
    render,
    selector_matches,
    workloads,
)

LONG_RUNNING = {"Deployment", "StatefulSet", "DaemonSet"}


# ---------------------------------------------------------------- containers


def test_app_containers_have_liveness_and_readiness_probes(objs):
    for obj in objs:
        if obj["kind"] not in LONG_RUNNING:
            continue
        for c in containers(obj, init=False):
            where = f"{key(obj)}:{c['name']}"
            assert c.get("livenessProbe"), f"{where} has no livenessProbe"
            assert c.get("readinessProbe"), f"{where} has no readinessProbe"


@pytest.mark.parametrize("field", ["requests", "limits"])
def test_every_container_has_cpu_and_memory(objs, field):
    for obj in objs:
        for c in containers(obj):
            res = c.get("resources", {}).get(field, {})
            assert {"cpu", "memory"} <= set(res), f"{key(obj)}:{c['name']} lacks {field}"


def test_pods_run_as_non_root_with_read_only_root_filesystem(objs):
    for obj in objs:
        spec = pod_spec(obj)
        if spec is None:
            continue
        pod_sc = spec.get("securityContext", {})
        assert spec.get("automountServiceAccountToken") is False, f"{key(obj)} mounts an SA token"
        assert pod_sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", key(obj)
        for c in containers(obj):
            where = f"{key(obj)}:{c['name']}"
            sc = c.get("securityContext", {})
            assert sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True, f"{where}: runAsNonRoot"
            assert sc.get("runAsUser", pod_sc.get("runAsUser", 1)) != 0, f"{where}: runAsUser 0"
            assert sc.get("readOnlyRootFilesystem") is True, f"{where}: readOnlyRootFilesystem"
            assert sc.get("allowPrivilegeEscalation") is False, f"{where}: allowPrivilegeEscalation"
            assert not sc.get("privileged"), f"{where}: privileged"
            assert sc.get("capabilities", {}).get("drop") == ["ALL"], f"{where}: capabilities"


def test_images_are_tagged_and_not_latest(objs):
    bad = [f"{where}: {image!r}" for where, image in all_images(objs) if not image_has_tag_or_digest(image)]
    assert not bad, "untagged or :latest images:\n" + "\n".join(bad)


def test_spincrud_images_come_from_the_images_component(objs):
    """Images are set in one place: k8s/components/images (kustomize `images:`)."""
    for where, image in all_images(objs):
        if "spincrud" in image.split("@")[0].rsplit(":", 1)[0]:
            assert image.startswith(("ghcr.io/spincrud/host-runner:", "ghcr.io/spincrud/spincrud:")), where
    text = "\n".join(p.read_text() for p in K8S.rglob("kustomization.yaml"))
    assert text.count("newTag:") == 2, "image tags must be set only in k8s/components/images"


# ------------------------------------------------------------ config/secrets

SECRETISH_KEY = re.compile(r"(?i)(pass(word|wd)?|secret|token|credential|private|api[_-]?key|auth[_-]?key)")
SECRETISH_VALUE = [
    re.compile(r"://[^/\s:@]*:[^/\s@]+@"),  # URL with user:password@
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9+/=._-]{8,}"),
    re.compile(r"\b(ghp|gho|ghs|github_pat|glpat|xox[baprs])[-_][A-Za-z0-9_-]{10,}"),
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
]


def entropy(s):
    counts = Counter(s)
    return -sum(n / len(s) * math.log2(n / len(s)) for n in counts.values())


def test_configmaps_hold_no_secret_looking_values(objs):
    for cm in find(objs, "ConfigMap"):
        for k, v in (cm.get("data") or {}).items():
            where = f"{key(cm)}[{k}]"
            assert not SECRETISH_KEY.search(k), f"{where}: secret-looking key, use a Secret"
            for pattern in SECRETISH_VALUE:
                assert not pattern.search(v), f"{where}: secret-looking value ({pattern.pattern})"
            for word in re.findall(r"[A-Za-z0-9+/=_-]{24,}", v):
                assert entropy(word) < 4.0, f"{where}: high-entropy value {word[:6]}..."


def secret_data(objs, name):
    s = one(objs, "Secret", name)
    data = {k: base64.b64decode(v).decode() for k, v in (s.get("data") or {}).items()}
    data.update(s.get("stringData") or {})
    return data


def test_committed_secrets_are_placeholders(objs):
    """Real credentials never go into git: every value is a 'change-me' placeholder
    (or a non-secret such as a user or database name, or a URL built from placeholders)."""
    non_secret = {"POSTGRES_USER", "POSTGRES_DB"}
    for s in find(objs, "Secret"):
        for k, v in secret_data(objs, s["metadata"]["name"]).items():
            if k in non_secret:
                continue
            assert "change-me" in v, f"{key(s)}[{k}] is not a placeholder: never commit secrets"


def test_secret_urls_agree_with_passwords(objs):
    db = secret_data(objs, "spincrud-db")
    assert db["DATABASE_URL"] == (
        f"postgres://{db['POSTGRES_USER']}:{db['POSTGRES_PASSWORD']}"
        f"@spincrud-postgres:5432/{db['POSTGRES_DB']}"
    )
    redis = secret_data(objs, "spincrud-redis")
    assert redis["REDIS_URL"].startswith(f"redis://:{redis['REDIS_PASSWORD']}@spincrud-redis:6379")


def refs(obj):
    """(kind, name, key) of every Secret/ConfigMap a workload or SpinApp references."""
    out = []

    def walk(node):
        if isinstance(node, dict):
            for ref_field, kind in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
                if ref_field in node:
                    out.append((kind, node[ref_field]["name"], node[ref_field]["key"]))
            for ref_field, kind in (("secretRef", "Secret"), ("configMapRef", "ConfigMap")):
                if ref_field in node and "name" in node[ref_field]:
                    out.append((kind, node[ref_field]["name"], None))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(obj.get("spec", {}))
    return out


def test_referenced_secrets_and_configmaps_exist_with_their_keys(objs):
    for obj in workloads(objs):
        for kind, name, k in refs(obj):
            target = one(objs, kind, name)
            if k is not None:
                keys = set(target.get("data") or {}) | set(target.get("stringData") or {})
                assert k in keys, f"{key(obj)} references missing key {kind}/{name}[{k}]"


def test_secrets_never_passed_as_plain_env_values(objs):
    for obj in workloads(objs):
        for c in containers(obj):
            for e in c.get("env", []):
                if SECRETISH_KEY.search(e["name"]) or e["name"] in ("DATABASE_URL", "REDIS_URL"):
                    assert "valueFrom" in e, f"{key(obj)}:{c['name']} sets {e['name']} in plain text"


# ------------------------------------------------------------------- stores


@pytest.mark.parametrize(
    "component,mount", [("postgres", "/var/lib/postgresql/data"), ("redis", "/data")]
)
def test_stores_keep_their_data_on_a_pvc(objs, component, mount):
    sts = one(objs, "StatefulSet", f"spincrud-{component}")
    claims = {t["metadata"]["name"]: t for t in sts["spec"].get("volumeClaimTemplates", [])}
    assert "data" in claims, f"{key(sts)} has no volumeClaimTemplate 'data'"
    assert claims["data"]["spec"]["resources"]["requests"]["storage"]
    assert "ReadWriteOnce" in claims["data"]["spec"]["accessModes"]
    (c,) = containers(sts, init=False)
    mounts = {m["name"]: m["mountPath"] for m in c.get("volumeMounts", [])}
    assert mounts.get("data") == mount
    assert sts["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Retain"
    # the governing service exists and is headless
    svc = one(objs, "Service", sts["spec"]["serviceName"])
    assert svc["spec"].get("clusterIP") == "None"


def test_redis_persists_with_aof(objs):
    (c,) = containers(one(objs, "StatefulSet", "spincrud-redis"), init=False)
    args = c.get("command", []) + c.get("args", [])
    assert args[args.index("--appendonly") + 1] == "yes"
    assert args[args.index("--dir") + 1] == "/data"
    assert "--requirepass" in args


def test_postgres_data_is_a_subdirectory_of_the_volume(objs):
    (c,) = containers(one(objs, "StatefulSet", "spincrud-postgres"), init=False)
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["PGDATA"].startswith("/var/lib/postgresql/data/")


# ---------------------------------------------------------- network policies


def policies_for(objs, labels):
    return [
        p
        for p in find(objs, "NetworkPolicy")
        if "Ingress" in p["spec"].get("policyTypes", ["Ingress"])
        and selector_matches(p["spec"]["podSelector"], labels)
    ]


def app_pod_labels(objs):
    """Pod label sets of the API (Deployment or SpinApp) and of the migration Job."""
    out = {}
    for obj in workloads(objs):
        labels = pod_labels(obj)
        if labels.get("app.kubernetes.io/component") in ("api", "migrate"):
            out[key(obj)] = labels
    return out


def test_namespace_denies_ingress_by_default(objs):
    deny = one(objs, "NetworkPolicy", "spincrud-default-deny-ingress")
    assert deny["spec"]["podSelector"] == {}
    assert deny["spec"]["policyTypes"] == ["Ingress"]
    assert not deny["spec"].get("ingress")


@pytest.mark.parametrize(
    "component,port,clients",
    [("postgres", 5432, {"api", "migrate"}), ("redis", 6379, {"api"})],
)
def test_only_the_app_reaches_the_stores(objs, component, port, clients):
    sts = one(objs, "StatefulSet", f"spincrud-{component}")
    store_labels = pod_labels(sts)
    policies = policies_for(objs, store_labels)
    assert policies, f"no NetworkPolicy selects the {component} pods"
    # every workload allowed in by any rule of any policy that selects the store pods
    allowed = set()
    for p in policies:
        for rule in p["spec"].get("ingress", []):
            peers = rule.get("from")
            assert peers, f"{key(p)} lets everyone reach {component}"
            assert [pt["port"] for pt in rule.get("ports", [])] == [port], key(p)
            for peer in peers:
                assert set(peer) == {"podSelector"}, f"{key(p)}: only same-namespace pod selectors"
                for obj in workloads(objs):
                    if selector_matches(peer["podSelector"], pod_labels(obj)):
                        allowed.add(pod_labels(obj).get("app.kubernetes.io/component"))
    assert allowed == clients, f"{component} reachable from {allowed}, expected {clients}"


def test_api_pods_accept_traffic_on_their_http_port(objs):
    api = [o for o in workloads(objs) if pod_labels(o).get("app.kubernetes.io/component") == "api"]
    assert len(api) == 1
    policies = policies_for(objs, pod_labels(api[0]))
    ports = {pt["port"] for p in policies for r in p["spec"].get("ingress", []) for pt in r.get("ports", [])}
    if api[0]["kind"] == "Deployment":
        (c,) = containers(api[0], init=False)
        assert ports & {p["name"] for p in c["ports"]}, f"no allowed port among {c['ports']}"
    else:
        # spin-operator names the SpinApp container port "http-app" (port 80)
        assert "http-app" in ports


# ----------------------------------------------------------------- workloads


def test_spinapp():
    objs = render("spinkube")
    app = one(objs, "SpinApp", "spincrud")
    spec = app["spec"]
    assert spec["executor"] == "containerd-shim-spin"
    one(objs, "SpinAppExecutor", "containerd-shim-spin")
    assert spec["replicas"] >= 2
    assert not spec.get("enableAutoscaling"), "replicas and enableAutoscaling exclude each other"
    assert spec["checks"]["liveness"]["httpGet"]["path"] == "/healthz"
    assert spec["checks"]["readiness"]["httpGet"]["path"] == "/readyz"
    for field in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(spec["resources"][field])
    variables = {v["name"]: v for v in spec["variables"]}
    for name, secret in (("database_url", "spincrud-db"), ("api_tokens", "spincrud-api")):
        assert variables[name]["valueFrom"]["secretKeyRef"]["name"] == secret
    (kv,) = [s for s in spec["runtimeConfig"]["keyValueStores"] if s["name"] == "default"]
    assert kv["type"] == "redis"
    (url,) = [o for o in kv["options"] if o["name"] == "url"]
    assert url["valueFrom"]["secretKeyRef"] == {"name": "spincrud-redis", "key": "REDIS_URL"}
    labels = spec["podLabels"]
    assert labels["app.kubernetes.io/component"] == "api"
    assert labels.get("spincrud.dev/postgres-client") == labels.get("spincrud.dev/redis-client") == "true"


def test_spinapp_executor_uses_the_shim_runtime_class():
    ex = one(render("spinkube"), "SpinAppExecutor", "containerd-shim-spin")
    assert ex["spec"]["createDeployment"] is True
    assert ex["spec"]["deploymentConfig"]["runtimeClassName"] == "wasmtime-spin-v2"


def test_host_runner_deployment_rolls_without_losing_capacity():
    objs = render("host-runner")
    dep = one(objs, "Deployment", "spincrud")
    assert dep["spec"]["replicas"] == 3
    strategy = dep["spec"]["strategy"]
    assert strategy["type"] == "RollingUpdate"
    assert strategy["rollingUpdate"]["maxUnavailable"] == 0
    assert strategy["rollingUpdate"]["maxSurge"] >= 1
    spec = pod_spec(dep)
    assert spec["automountServiceAccountToken"] is False
    (c,) = containers(dep, init=False)
    assert c["args"] == ["serve"]
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    # the writable places of a read-only root filesystem are volumes
    env = {e["name"] for e in c.get("env", [])}
    assert {"DATABASE_URL", "REDIS_URL", "API_TOKENS"} <= env
    config = one(objs, "ConfigMap", "spincrud-config")["data"]
    mounts = {m["mountPath"] for m in c["volumeMounts"]}
    assert config["DATA_DIR"] in mounts and "/tmp" in mounts
    assert config["LISTEN"].endswith(":3000") and not config["LISTEN"].startswith("127.")
    shutdown = int(config["SHUTDOWN_TIMEOUT"]) + c["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert spec["terminationGracePeriodSeconds"] > shutdown


def test_hpa_pdb_and_service_target_the_api():
    objs = render("host-runner")
    dep = one(objs, "Deployment", "spincrud")
    labels = pod_labels(dep)
    hpa = one(objs, "HorizontalPodAutoscaler", "spincrud")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "spincrud"}
    assert hpa["spec"]["minReplicas"] >= dep["spec"]["replicas"]
    pdb = one(objs, "PodDisruptionBudget", "spincrud-api")
    assert selector_matches(pdb["spec"]["selector"], labels)
    svc = one(objs, "Service", "spincrud")
    assert selector_matches({"matchLabels": svc["spec"]["selector"]}, labels)
    (c,) = containers(dep, init=False)
    assert svc["spec"]["ports"][0]["targetPort"] in {p["name"] for p in c["ports"]}


def test_pdb_selects_the_spinapp_pods_too():
    objs = render("spinkube")
    pdb = one(objs, "PodDisruptionBudget", "spincrud-api")
    assert selector_matches(pdb["spec"]["selector"], pod_labels(one(objs, "SpinApp", "spincrud")))


def test_ingress_routes_to_the_api_service(objs):
    ing = one(objs, "Ingress", "spincrud")
    backends = [
        p["backend"]["service"] for r in ing["spec"]["rules"] for p in r["http"]["paths"]
    ]
    assert backends == [{"name": "spincrud", "port": {"number": 80}}]
    # host-runner defines Service "spincrud"; spin-operator creates it for SpinApp "spincrud"
    assert find(objs, "Service", "spincrud") or find(objs, "SpinApp", "spincrud")


def test_services_select_pods_that_exist(objs):
    for svc in find(objs, "Service"):
        sel = svc["spec"].get("selector")
        assert sel, f"{key(svc)} has no selector"
        assert any(
            selector_matches({"matchLabels": sel}, pod_labels(w)) for w in workloads(objs)
        ), f"{key(svc)} selects no pods"


def test_migration_job_runs_host_runner_migrate(objs):
    job = one(objs, "Job", "spincrud-migrate")
    (c,) = containers(job)
    assert c["args"] == ["migrate"]
    assert c["image"].startswith("ghcr.io/spincrud/host-runner")
    assert job["spec"]["backoffLimit"] >= 3
    assert pod_labels(job).get("spincrud.dev/postgres-client") == "true"


def test_namespace_pod_security_labels():
    ns = one(render("spinkube"), "Namespace", "spincrud")
    labels = ns["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] in ("baseline", "restricted")
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"


def test_sql_connections_fit_postgres_max_connections():
    """Every API pod opens up to POOL_SIZE connections: at the HPA's maximum they must stay
    below PostgreSQL's max_connections (default 100, or `-c max_connections=N`)."""
    objs = render("host-runner")
    pool = int(one(objs, "ConfigMap", "spincrud-config")["data"]["POOL_SIZE"])
    pods = one(objs, "HorizontalPodAutoscaler", "spincrud")["spec"]["maxReplicas"]
    (c,) = containers(one(objs, "StatefulSet", "spincrud-postgres"), init=False)
    args = c.get("args", [])
    max_conn = next((int(a.split("=", 1)[1]) for a in args if a.startswith("max_connections=")), 100)
    migrate_job = pool  # the migration Job may run during a rollout
    assert pods * pool + migrate_job <= max_conn - 3, f"{pods} pods x {pool} + {migrate_job} > {max_conn}"
