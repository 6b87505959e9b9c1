"""Both overlays (and the base) render with `kubectl kustomize`, to exactly these objects."""

import os
import subprocess

import pytest

from conftest import CLUSTER_SCOPED, K8S, NAMESPACE, kubectl, key, render

SHARED = {
    "Namespace/spincrud",
    "ServiceAccount/spincrud",
    "ConfigMap/spincrud-config",
    "Secret/spincrud-api",
    "Secret/spincrud-db",
    "Secret/spincrud-redis",
    "Service/spincrud-postgres",
    "Service/spincrud-postgres-headless",
    "Service/spincrud-redis",
    "Service/spincrud-redis-headless",
    "StatefulSet/spincrud-postgres",
    "StatefulSet/spincrud-redis",
    "Job/spincrud-migrate",
    "PodDisruptionBudget/spincrud-api",
    "Ingress/spincrud",
    "NetworkPolicy/spincrud-default-deny-ingress",
    "NetworkPolicy/spincrud-api-ingress",
    "NetworkPolicy/spincrud-postgres-ingress",
    "NetworkPolicy/spincrud-redis-ingress",
}

EXPECTED = {
    "base": SHARED,
    "spinkube": SHARED | {"SpinApp/spincrud", "SpinAppExecutor/containerd-shim-spin"},
    "host-runner": SHARED
    | {"Deployment/spincrud", "Service/spincrud", "HorizontalPodAutoscaler/spincrud"},
}


@pytest.mark.parametrize("target", ["base", "spinkube", "host-runner"])
def test_renders_expected_objects(target):
    objs = render(target)
    keys = [key(o) for o in objs]
    assert len(keys) == len(set(keys)), f"duplicate objects: {sorted(keys)}"
    assert set(keys) == EXPECTED[target], (
        f"unexpected: {sorted(set(keys) - EXPECTED[target])}, "
        f"missing: {sorted(EXPECTED[target] - set(keys))}"
    )


def test_every_namespaced_object_is_in_the_namespace(objs):
    for obj in objs:
        if obj["kind"] in CLUSTER_SCOPED:
            assert "namespace" not in obj["metadata"], f"{key(obj)} is cluster-scoped"
            continue
        assert obj["metadata"].get("namespace") == NAMESPACE, key(obj)


def test_every_object_is_labelled_part_of_spincrud(objs):
    for obj in objs:
        assert obj["metadata"].get("labels", {}).get("app.kubernetes.io/part-of") == "spincrud", key(obj)


def test_both_overlays_share_secret_and_configmap_names():
    def names(overlay):
        return {key(o) for o in render(overlay) if o["kind"] in ("Secret", "ConfigMap")}

    assert names("spinkube") == names("host-runner") == {
        "ConfigMap/spincrud-config",
        "Secret/spincrud-api",
        "Secret/spincrud-db",
        "Secret/spincrud-redis",
    }


@pytest.mark.parametrize("flavour", ["spinkube", "host-runner"])
def test_release_render_pins_images_to_digests(flavour):
    """k8s/render-release.sh (used by CI) replaces every spincrud image with the given refs."""
    hr = "ghcr.io/example/host-runner@sha256:" + "a" * 64
    spin = "ghcr.io/example/spincrud@sha256:" + "b" * 64
    proc = subprocess.run(
        [str(K8S / "render-release.sh"), flavour, hr, spin],
        capture_output=True,
        text=True,
        env={**os.environ, "KUBECTL": kubectl()},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "ghcr.io/spincrud/" not in proc.stdout
    assert hr in proc.stdout
    if flavour == "spinkube":
        assert f"image: {spin}" in proc.stdout
    assert not list(K8S.glob(".release.*")), "render-release.sh left its work dir behind"
