"""Shared fixtures of the offline deployment checks (no cluster, no network).

Paths:
- the repository is two levels up from this file;
- the SpinKube CRDs are in ``tests/k8s/crds`` (spin-operator's, as released; ``$SPINCRUD_CRDS``
  names another directory);
- host-runner is ``$SPINCRUD_HOST_RUNNER``, by default ``<repo>/target/debug/host-runner``;
- kubectl (for ``kubectl kustomize``) is ``$KUBECTL``, by default the one this venv ships.
"""

from __future__ import annotations

import atexit
import functools
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "k8s"
# "<overlay>+<component>": the overlay with an optional component of k8s/components (the
# policy checks run on those renders too).
OVERLAYS = ("spinkube", "host-runner", "spinkube+tracing", "host-runner+tracing", "spinkube+spinkube-drain", "host-runner+monitoring")
# Kinds without a namespace (kustomize leaves them out of `namespace:` only when it knows them).
CLUSTER_SCOPED = {"Namespace", "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding"}
NAMESPACE = "spincrud"
VENV_BIN = Path(sys.executable).parent


def tool(name: str, env: str | None = None) -> str:
    """A tool from $ENV, else this venv's bin/, else PATH."""
    if env and os.environ.get(env):
        return os.environ[env]
    candidate = VENV_BIN / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} not found: install tests/k8s/requirements.txt (scripts/test-k8s.sh does)")
    return found


def kubectl() -> str:
    return tool("kubectl", "KUBECTL")


@functools.cache
def render_path(path: str) -> tuple[dict, ...]:
    """`kubectl kustomize PATH`, parsed. Cached: every test sees the same objects."""
    proc = subprocess.run(
        [kubectl(), "kustomize", path], capture_output=True, text=True, timeout=120
    )
    if proc.returncode != 0:
        pytest.fail(f"kubectl kustomize {path} failed:\n{proc.stderr}")
    return tuple(doc for doc in yaml.safe_load_all(proc.stdout) if doc)


def render(overlay: str) -> tuple[dict, ...]:
    """Objects of k8s/overlays/<overlay> (or k8s/base for "base"), or of
    "<overlay>+<component>": the overlay with that optional component."""
    if "+" in overlay:
        return render_path(str(with_component(*overlay.split("+", 1))))
    path = K8S / "base" if overlay == "base" else K8S / "overlays" / overlay
    return render_path(str(path))


@functools.cache
def with_component(overlay: str, component: str) -> Path:
    """A throwaway kustomization that includes an overlay and adds a component, as an operator's
    own overlay would (kustomize wants relative paths)."""
    work = Path(tempfile.mkdtemp(prefix=f"spincrud-{overlay}-{component}-"))
    atexit.register(shutil.rmtree, work, True)
    (work / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\n"
        "kind: Kustomization\n"
        f"resources:\n  - {os.path.relpath(K8S / 'overlays' / overlay, work)}\n"
        f"components:\n  - {os.path.relpath(K8S / 'components' / component, work)}\n"
    )
    return work


def key(obj: dict) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


def find(objs, kind: str, name: str | None = None) -> list[dict]:
    return [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


def one(objs, kind: str, name: str) -> dict:
    found = find(objs, kind, name)
    assert len(found) == 1, f"expected exactly one {kind}/{name}, found {len(found)}"
    return found[0]


POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"}


def pod_spec(obj: dict) -> dict | None:
    if obj["kind"] in POD_TEMPLATE_KINDS:
        return obj["spec"]["template"]["spec"]
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    if obj["kind"] == "Pod":
        return obj["spec"]
    return None


def pod_labels(obj: dict) -> dict:
    if obj["kind"] in POD_TEMPLATE_KINDS:
        return obj["spec"]["template"]["metadata"].get("labels", {})
    if obj["kind"] == "SpinApp":
        return obj["spec"].get("podLabels", {})
    return {}


def workloads(objs) -> list[dict]:
    """Objects that make pods: pod templates, and SpinApps (pods made by spin-operator)."""
    return [o for o in objs if pod_spec(o) is not None or o["kind"] == "SpinApp"]


def containers(obj: dict, init: bool = True) -> list[dict]:
    spec = pod_spec(obj) or {}
    out = list(spec.get("containers", []))
    if init:
        out += spec.get("initContainers", [])
    return out


def selector_matches(selector: dict, labels: dict) -> bool:
    """A label selector (matchLabels / matchExpressions) against a label set."""
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        k, op, values = expr["key"], expr["operator"], expr.get("values", [])
        if op == "In" and labels.get(k) not in values:
            return False
        if op == "NotIn" and labels.get(k) in values:
            return False
        if op == "Exists" and k not in labels:
            return False
        if op == "DoesNotExist" and k in labels:
            return False
    return True


def crd_directory() -> Path:
    return Path(os.environ.get("SPINCRUD_CRDS") or Path(__file__).resolve().parent / "crds")


@functools.cache
def crds() -> dict[tuple[str, str, str], dict]:
    """(group, version, kind) -> openAPIV3Schema, from every YAML document in the CRD dir."""
    crd_dir = crd_directory()
    files = sorted(crd_dir.glob("*.y*ml")) if crd_dir.is_dir() else []
    if not files:
        pytest.fail(f"no SpinKube CRDs in {crd_dir}")
    out = {}
    for f in files:
        for doc in yaml.safe_load_all(f.read_text()):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            for version in spec["versions"]:
                if version.get("served", True):
                    out[(spec["group"], version["name"], spec["names"]["kind"])] = version[
                        "schema"
                    ]["openAPIV3Schema"]
    return out


@functools.cache
def spin_manifest() -> dict:
    return tomllib.loads((REPO / "spin.toml").read_text())


def host_runner_path() -> Path:
    return Path(os.environ.get("SPINCRUD_HOST_RUNNER") or REPO / "target" / "debug" / "host-runner")


ENV_IN_HELP = re.compile(r"\[env:\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:=[^\]]*)?\]")


@functools.cache
def host_runner_env(subcommand: str) -> frozenset[str]:
    """Env var names `host-runner SUBCOMMAND --help` documents as `[env: NAME=...]`."""
    binary = host_runner_path()
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        pytest.fail(
            f"host-runner binary not found at {binary}: build it with "
            "`cargo build -p host-runner` or point SPINCRUD_HOST_RUNNER at it. The env var "
            "cross-check reads the list of variables from `host-runner serve --help`."
        )
    # A clean environment: clap prints current values next to names, and must not see ours.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "COLUMNS": "1000", "NO_COLOR": "1"}
    proc = subprocess.run(
        [str(binary), subcommand, "--help"], capture_output=True, text=True, env=env, timeout=60
    )
    if proc.returncode != 0:
        pytest.fail(f"`{binary} {subcommand} --help` failed ({proc.returncode}):\n{proc.stderr}")
    names = frozenset(ENV_IN_HELP.findall(proc.stdout))
    if not names:
        pytest.fail(f"`host-runner {subcommand} --help` documents no [env: NAME] at all:\n{proc.stdout}")
    return names


def image_has_tag_or_digest(image: str) -> bool:
    if "@sha256:" in image:
        return True
    last = image.rsplit("/", 1)[-1]
    return ":" in last and last.rsplit(":", 1)[1] not in ("", "latest")


def all_images(objs) -> list[tuple[str, str]]:
    """(object key, image) for every container image and SpinApp image."""
    out = []
    for obj in objs:
        if obj["kind"] == "SpinApp":
            out.append((key(obj), obj["spec"].get("image", "")))
        for c in containers(obj):
            out.append((f"{key(obj)}:{c['name']}", c.get("image", "")))
    return out


@pytest.fixture(params=OVERLAYS)
def overlay(request) -> str:
    return request.param


@pytest.fixture
def objs(overlay) -> tuple[dict, ...]:
    return render(overlay)
