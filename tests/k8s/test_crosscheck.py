"""Cross-checks between the deployment files and what the code actually reads:
- every variable the SpinApp sets is a variable spin.toml declares (secret ones from Secrets);
- every env var the host-runner containers get (Deployment, migration Job, Dockerfile ENV,
  compose) is one `host-runner <subcommand> --help` documents as [env: NAME]."""

import base64
from urllib.parse import urlsplit

import pytest
import yaml

from conftest import REPO, containers, find, host_runner_env, one, render, spin_manifest
from dockerfile import env_names


def test_spin_toml_declares_variables():
    assert spin_manifest().get("variables"), "spin.toml has no [variables]"


def test_spinapp_variables_exist_in_spin_toml():
    declared = spin_manifest()["variables"]
    app = one(render("spinkube"), "SpinApp", "spincrud")
    for var in app["spec"].get("variables", []):
        assert var["name"] in declared, f"SpinApp sets {var['name']!r}, which spin.toml does not declare"
        if declared[var["name"]].get("secret"):
            assert "secretKeyRef" in var.get("valueFrom", {}), f"secret variable {var['name']} must come from a Secret"


def test_spinapp_binds_every_variable_without_a_usable_default():
    """database_url and api_tokens default to "" (embedded SQLite, open writes) and
    database_host to localhost: a cluster must set them."""
    app = one(render("spinkube"), "SpinApp", "spincrud")
    bound = {v["name"] for v in app["spec"]["variables"]}
    needed = {"database_url", "api_tokens"}
    if "database_host" in spin_manifest()["variables"]:
        needed.add("database_host")
    assert needed <= bound


def test_spinapp_database_host_is_the_database_url_host():
    """spin.toml templates database_host into allowed_outbound_hosts: it must name the
    host:port of database_url exactly, or Spin refuses the connection."""
    objs = render("spinkube")
    variables = {v["name"]: v for v in one(objs, "SpinApp", "spincrud")["spec"]["variables"]}
    if "database_host" not in variables:
        pytest.skip("spin.toml has no database_host variable")
    ref = variables["database_url"]["valueFrom"]["secretKeyRef"]
    secret = one(objs, "Secret", ref["name"])
    url = base64.b64decode(secret["data"][ref["key"]]).decode()
    assert urlsplit(url).netloc.rsplit("@", 1)[-1] == variables["database_host"]["value"]


def is_host_runner(container):
    return "host-runner" in container.get("image", "").rsplit("/", 1)[-1]


def container_env_names(objs, container):
    names = {e["name"] for e in container.get("env", [])}
    for src in container.get("envFrom", []):
        prefix = src.get("prefix", "")
        if "configMapRef" in src:
            cm = one(objs, "ConfigMap", src["configMapRef"]["name"])
            names |= {prefix + k for k in cm.get("data", {})}
        if "secretRef" in src:
            s = one(objs, "Secret", src["secretRef"]["name"])
            names |= {prefix + k for k in (s.get("data") or {}) | (s.get("stringData") or {})}
    return names


def allowed(subcommand):
    names = host_runner_env(subcommand)
    return lambda n: n in names or (n.startswith("SPIN_VARIABLE_") and "SPIN_VARIABLE_" in "".join(names))


@pytest.mark.parametrize("target", ["host-runner", "spinkube"])
def test_host_runner_containers_only_get_env_vars_it_reads(target):
    objs = render(target)
    checked = 0
    for obj in objs:
        for c in containers(obj):
            if not is_host_runner(c):
                continue
            args = c.get("args") or c.get("command") or ["serve"]
            ok = allowed(args[0])
            unknown = sorted(n for n in container_env_names(objs, c) if not ok(n))
            assert not unknown, (
                f"{obj['kind']}/{obj['metadata']['name']}:{c['name']} sets {unknown}, which "
                f"`host-runner {args[0]} --help` does not list; it reads {sorted(host_runner_env(args[0]))}"
            )
            checked += 1
    assert checked >= (2 if target == "host-runner" else 1)


def test_dockerfile_env_is_read_by_host_runner():
    ok = allowed("serve")
    unknown = sorted(n for n in env_names(REPO / "Dockerfile") if not ok(n))
    assert not unknown, f"Dockerfile sets {unknown}, which `host-runner serve --help` does not list"


def test_compose_env_is_read_by_host_runner():
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    env = compose["services"]["host-runner"].get("environment", {})
    names = set(env) if isinstance(env, dict) else {e.split("=", 1)[0] for e in env}
    ok = allowed("serve")
    unknown = sorted(n for n in names if not ok(n))
    assert not unknown, f"compose.yaml sets {unknown}, which `host-runner serve --help` does not list"


def test_configmap_and_secret_keys_used_by_the_deployment_match_the_api_contract():
    """The names shared by the contract (api.md "Configuration") are spelt the same here."""
    objs = render("host-runner")
    (c,) = containers(one(objs, "Deployment", "spincrud"), init=False)
    names = container_env_names(objs, c)
    assert {"DATABASE_URL", "REDIS_URL", "API_TOKENS", "AUTH_READS", "LISTEN", "DATA_DIR", "ENGINE"} <= names
