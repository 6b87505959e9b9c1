"""Stopping a pod fails no request, whichever flavour runs it: the drain period, probes and grace
periods agree across the host-runner overlay, the SpinKube overlay with its drain component
(k8s/components/spinkube-drain), and compose.yaml with its nginx (nginx/). The replica tests
(tests/tests/replicas.rs) show what these settings do under load; these check that the
manifests keep them."""

import re

import kubernetes_validate
import pytest
import yaml

from conftest import REPO, containers, find, key, one, pod_labels, pod_spec, render, selector_matches

DRAIN = "spinkube+spinkube-drain"


def seconds(text: str) -> float:
    """A host-runner duration (`5s`, `500ms`, `2m`, or plain seconds)."""
    m = re.fullmatch(r"\s*([0-9.]+)\s*(ms|s|m)?\s*", str(text))
    assert m, f"not a duration: {text!r}"
    n, unit = float(m.group(1)), m.group(2) or "s"
    return n / 1000 if unit == "ms" else n * 60 if unit == "m" else n


def host_runner_pod():
    objs = render("host-runner")
    dep = one(objs, "Deployment", "spincrud")
    (c,) = containers(dep, init=False)
    config = one(objs, "ConfigMap", "spincrud-config")["data"]
    return pod_spec(dep), c, config


def policy_values():
    """(preStop sleep, terminationGracePeriodSeconds) that the drain policy writes into the
    SpinApp's pods (its CEL expression)."""
    policy = one(render(DRAIN), "MutatingAdmissionPolicy", "spincrud-spinapp-drain")
    (mutation,) = policy["spec"]["mutations"]
    assert mutation["patchType"] == "ApplyConfiguration"
    expr = mutation["applyConfiguration"]["expression"]
    sleep = re.search(r"preStop\.sleep\{\s*seconds:\s*(\d+)\s*\}", expr)
    grace = re.search(r"terminationGracePeriodSeconds:\s*(\d+)", expr)
    assert sleep and grace, f"the policy sets no preStop sleep or grace period:\n{expr}"
    assert "object.spec.containers.map(" in expr, "every container of the pod gets the pause"
    return int(sleep.group(1)), int(grace.group(1))


def test_host_runner_pods_drain_within_their_grace_period():
    spec, c, config = host_runner_pod()
    pause = c["lifecycle"]["preStop"]["sleep"]["seconds"]
    drain, shutdown = seconds(config["DRAIN_PERIOD"]), int(config["SHUTDOWN_TIMEOUT"])
    assert 0 < drain <= 10 and pause > 0
    assert spec["terminationGracePeriodSeconds"] > pause + drain + shutdown


def test_spinkube_pods_pause_as_long_as_host_runner_pods_serve():
    """Spin stops at once on SIGTERM, so its preStop pause is the whole drain: as long as a
    host-runner pod goes on serving after it is marked for deletion (preStop + DRAIN_PERIOD).
    The grace period is the same for both flavours."""
    spec, c, config = host_runner_pod()
    sleep, grace = policy_values()
    assert sleep == c["lifecycle"]["preStop"]["sleep"]["seconds"] + seconds(config["DRAIN_PERIOD"])
    assert grace == spec["terminationGracePeriodSeconds"]
    assert grace > sleep


def test_the_drain_policy_selects_exactly_the_spinapps_pods():
    objs = render(DRAIN)
    app = one(objs, "SpinApp", "spincrud")
    binding = one(objs, "MutatingAdmissionPolicyBinding", "spincrud-spinapp-drain")
    assert binding["spec"]["policyName"] == "spincrud-spinapp-drain"
    match = binding["spec"]["matchResources"]
    ns = one(objs, "Namespace", "spincrud")
    namespace_labels = {**ns["metadata"].get("labels", {}), "kubernetes.io/metadata.name": "spincrud"}
    assert selector_matches(match["namespaceSelector"], namespace_labels)
    # spin-operator labels the SpinApp's pods with its name, on top of spec.podLabels.
    spinapp_pods = {**pod_labels(app), "core.spinkube.dev/app-name": app["metadata"]["name"]}
    assert selector_matches(match["objectSelector"], spinapp_pods)
    host_runner_pods = pod_labels(one(render("host-runner"), "Deployment", "spincrud"))
    assert not selector_matches(match["objectSelector"], host_runner_pods), "host-runner pods have their own preStop"
    policy = one(objs, "MutatingAdmissionPolicy", "spincrud-spinapp-drain")
    (rule,) = policy["spec"]["matchConstraints"]["resourceRules"]
    assert rule["resources"] == ["pods"] and rule["operations"] == ["CREATE"] and rule["apiGroups"] == [""]
    # A policy that cannot apply leaves pods without the pause rather than without pods.
    assert policy["spec"]["failurePolicy"] == "Ignore"


@pytest.mark.parametrize("version", ["1.36.0", "1.37.0"])
def test_the_drain_component_is_valid_where_it_is_ga(version):
    """MutatingAdmissionPolicy is GA (admissionregistration.k8s.io/v1) from Kubernetes 1.36."""
    for obj in render(DRAIN):
        if obj["apiVersion"].startswith("core.spinkube.dev/"):
            continue
        kubernetes_validate.validate(obj, version, strict=True)


def test_the_drain_component_adds_only_the_policy():
    plain = {key(o) for o in render("spinkube")}
    added = {key(o) for o in render(DRAIN)} - plain
    assert added == {"MutatingAdmissionPolicy/spincrud-spinapp-drain", "MutatingAdmissionPolicyBinding/spincrud-spinapp-drain"}


def probes(flavour):
    """(liveness, readiness) as {path, periodSeconds, timeoutSeconds, failureThreshold}."""
    fields = ("periodSeconds", "timeoutSeconds", "failureThreshold")
    if flavour == "host-runner":
        _, c, _ = host_runner_pod()
        pair = (c["livenessProbe"], c["readinessProbe"])
    else:
        checks = one(render("spinkube"), "SpinApp", "spincrud")["spec"]["checks"]
        pair = (checks["liveness"], checks["readiness"])
    return tuple({"path": p["httpGet"]["path"], **{f: p[f] for f in fields}} for p in pair)


def test_probes_are_the_same_in_both_flavours():
    assert probes("host-runner") == probes("spinkube")
    liveness, readiness = probes("host-runner")
    assert (liveness["path"], readiness["path"]) == ("/healthz", "/readyz")
    # A pod out of rotation within 15 s of failing, and never for one slow answer.
    assert readiness["periodSeconds"] * readiness["failureThreshold"] <= 15
    assert readiness["failureThreshold"] >= 2


# ------------------------------------------------------------------ compose


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((REPO / "compose.yaml").read_text())


def nginx_idle_timeout() -> float:
    text = (REPO / "nginx" / "upstream.conf").read_text()
    (value,) = re.findall(r"^\s*keepalive_timeout\s+(\S+);", text, re.M)
    return seconds(value)


def test_compose_replicas_drain_longer_than_nginx_keeps_a_connection_idle(compose):
    """A draining replica must never close a connection nginx may still send a request on."""
    env = compose["services"]["host-runner"]["environment"]
    drain = seconds(env["DRAIN_PERIOD"])
    assert drain > nginx_idle_timeout()
    assert seconds(compose["services"]["host-runner"]["stop_grace_period"]) > drain + int(env["SHUTDOWN_TIMEOUT"])


def test_kubernetes_and_compose_drain_alike(compose):
    _, _, config = host_runner_pod()
    env = compose["services"]["host-runner"]["environment"]
    assert seconds(env["DRAIN_PERIOD"]) == seconds(config["DRAIN_PERIOD"])
    assert int(env["SHUTDOWN_TIMEOUT"]) == int(config["SHUTDOWN_TIMEOUT"])


def test_the_readmes_spinkube_drain_overlay_renders(tmp_path):
    """README's commands for adding the drain component: the overlay they write renders the
    SpinKube overlay with the policy (everything but `kubectl apply`)."""
    import subprocess

    from conftest import kubectl

    text = (REPO / "README.md").read_text()
    m = re.search(r"```shell\n(mkdir -p my-spincrud.*?)\nkubectl apply -k my-spincrud\n```", text, re.S)
    assert m, "README.md lacks the spinkube-drain overlay commands"
    (tmp_path / "k8s").symlink_to(REPO / "k8s")
    subprocess.run(["bash", "-euo", "pipefail", "-c", m.group(1)], cwd=tmp_path, check=True)
    proc = subprocess.run([kubectl(), "kustomize", str(tmp_path / "my-spincrud")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rendered = {key(o) for o in yaml.safe_load_all(proc.stdout) if o}
    assert rendered == {key(o) for o in render(DRAIN)}
