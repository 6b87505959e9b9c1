"""compose.yaml: host-runner + PostgreSQL + Redis on one host, checked structurally
(and with `docker compose config -q` where the compose plugin is installed)."""

import re
import shutil
import subprocess

import pytest
import yaml

from conftest import REPO, containers, image_has_tag_or_digest, one, render

COMPOSE = REPO / "compose.yaml"


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load(COMPOSE.read_text())


def test_services(compose):
    assert {"host-runner", "postgres", "redis"} <= set(compose["services"])


def test_images_are_tagged(compose):
    for name, svc in compose["services"].items():
        assert "image" in svc, f"{name} has no image"
        assert image_has_tag_or_digest(svc["image"]), f"{name}: {svc['image']}"


def test_store_images_match_the_kubernetes_manifests(compose):
    objs = render("host-runner")
    for store in ("postgres", "redis"):
        (c,) = containers(one(objs, "StatefulSet", f"spincrud-{store}"), init=False)
        assert compose["services"][store]["image"] == c["image"]


def test_host_runner_is_built_from_the_dockerfile(compose):
    build = compose["services"]["host-runner"]["build"]
    assert (REPO / build.get("context", ".") / build.get("dockerfile", "Dockerfile")).is_file()


def test_named_volumes(compose):
    declared = set(compose.get("volumes") or {})
    for name in ("host-runner", "postgres", "redis"):
        vols = compose["services"][name].get("volumes", [])
        assert vols, f"{name} has no volume"
        for v in vols:
            source = v.split(":", 1)[0] if isinstance(v, str) else v.get("source")
            assert source in declared, f"{name}: {source!r} is not a named volume"


@pytest.mark.parametrize("name", ["postgres", "redis"])
def test_stores_have_healthchecks(compose, name):
    hc = compose["services"][name].get("healthcheck")
    assert hc and hc.get("test") and not hc.get("disable"), f"{name} has no healthcheck"


def test_host_runner_waits_for_healthy_stores(compose):
    deps = compose["services"]["host-runner"]["depends_on"]
    assert isinstance(deps, dict), "depends_on needs the long form with conditions"
    for store in ("postgres", "redis"):
        assert deps[store]["condition"] == "service_healthy"


def test_host_runner_uses_the_stores(compose):
    env = compose["services"]["host-runner"]["environment"]
    assert re.match(r"postgres://[^@]+@postgres:5432/", env["DATABASE_URL"])
    assert re.match(r"redis://[^@]*@redis:6379", env["REDIS_URL"])
    assert env["LISTEN"].endswith(":3000") and not env["LISTEN"].startswith("127.")


def test_host_runner_is_hardened(compose):
    svc = compose["services"]["host-runner"]
    assert svc.get("read_only") is True
    assert svc.get("cap_drop") == ["ALL"]
    assert "no-new-privileges:true" in svc.get("security_opt", [])


def test_redis_persists_with_aof(compose):
    cmd = compose["services"]["redis"]["command"]
    assert cmd[cmd.index("--appendonly") + 1] == "yes"


def docker_compose_available():
    if not shutil.which("docker"):
        return False
    proc = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
    return proc.returncode == 0


def test_docker_compose_config():
    if not docker_compose_available():
        pytest.skip("docker compose plugin not installed")
    proc = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr


def test_host_runner_probes_itself(compose):
    """The image has no shell: the healthcheck is host-runner's own probe, in exec form, on
    an address host-runner really accepts (`host-runner probe --help` describes it)."""
    import subprocess
    hc = compose["services"]["host-runner"].get("healthcheck")
    assert hc, "host-runner has no healthcheck"
    test = hc["test"]
    assert test[0] == "CMD", "exec form: the image has no shell"
    assert test[1:3] == ["/usr/local/bin/host-runner", "probe"], test
    assert test[3].startswith("http://127.0.0.1:3000/"), test
    binary = REPO / "target/debug/host-runner"
    help_text = subprocess.run([binary, "probe", "--help"], capture_output=True, text=True, check=True).stdout
    assert "exit 0 on a 2xx" in help_text
    # Nothing listens on that port here: the probe fails, as a health check must.
    result = subprocess.run([binary, "probe", "--timeout", "300ms", "http://127.0.0.1:9/readyz"], capture_output=True, text=True)
    assert result.returncode == 1 and "probe:" in result.stderr
