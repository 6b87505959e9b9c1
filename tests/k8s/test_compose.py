"""compose.yaml: host-runner + PostgreSQL + Redis on one host, checked structurally
(and with `docker compose config -q` where the compose plugin is installed)."""

import re
import shutil
import subprocess
from pathlib import Path

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


# ------------------------------------------------------------- nginx in front

NGINX_DIR = REPO / "nginx"


def test_host_runner_can_run_as_several_replicas(compose):
    """`docker compose up --scale host-runner=3`: no fixed host port or container name."""
    hr = compose["services"]["host-runner"]
    assert "ports" not in hr, "a published port would keep host-runner from scaling: nginx publishes"
    assert "container_name" not in hr


def test_nginx_fronts_the_replicas_when_they_are_healthy(compose):
    nginx = compose["services"]["nginx"]
    assert nginx["depends_on"]["host-runner"]["condition"] == "service_healthy"
    hc = nginx["healthcheck"]
    assert hc["test"][0] == "CMD" and not hc.get("disable")
    assert any(part.startswith("http://127.0.0.1:8080/") for part in hc["test"]), hc["test"]
    (published,) = nginx["ports"]
    assert published.endswith(":8080") and "SPINCRUD_PORT" in published
    assert re.search(r"^\s*listen 8080;", (NGINX_DIR / "nginx.conf").read_text(), re.M)


def test_nginx_runs_the_projects_config(compose):
    volumes = compose["services"]["nginx"]["volumes"]
    assert "./nginx/nginx.conf:/etc/nginx/nginx.conf:ro" in volumes
    assert "./nginx:/etc/nginx/spincrud:ro" in volumes
    conf = (NGINX_DIR / "nginx.conf").read_text()
    assert "include /etc/nginx/spincrud/upstream.conf;" in conf
    assert "include /etc/nginx/spincrud/proxy.conf;" in conf
    # The upstream is the host-runner service on the port it listens on.
    port = compose["services"]["host-runner"]["environment"]["LISTEN"].rsplit(":", 1)[1]
    assert re.search(rf"^\s*server host-runner:{port}\b", conf, re.M), conf


def test_nginx_is_hardened(compose):
    nginx = compose["services"]["nginx"]
    assert nginx.get("read_only") is True and nginx.get("cap_drop") == ["ALL"]
    assert "no-new-privileges:true" in nginx.get("security_opt", [])
    assert not str(nginx.get("user", "0")).startswith("0"), "nginx runs as its unprivileged user"
    assert "/tmp" in nginx.get("tmpfs", []), "nginx writes only in /tmp"
    for line in (NGINX_DIR / "nginx.conf").read_text().splitlines():
        m = re.match(r"\s*(pid|\w+_temp_path)\s+(\S+);", line)
        if m:
            assert m.group(2).startswith("/tmp/"), line


def test_proxy_retries_never_send_a_write_twice():
    """nginx resends a request to another replica only on a refused or dropped connection or a
    timeout, and a POST/PATCH only when it never reached the first (no `non_idempotent`)."""
    proxy = (NGINX_DIR / "proxy.conf").read_text()
    (retry,) = re.findall(r"^\s*proxy_next_upstream\s+([^;]+);", proxy, re.M)
    assert retry.split() == ["error", "timeout"]
    assert "proxy_request_buffering on;" in proxy, "a body must be whole before it can be resent"
    assert re.search(r'proxy_set_header Connection "";', proxy) and "proxy_http_version 1.1;" in proxy


def test_nginx_accepts_the_compose_config(tmp_path):
    """Debian's nginx (`make test` installs it; compose runs nginx 1.28) parses compose's nginx.conf
    with the files mounted where compose mounts them and `host-runner` resolving, as in the
    container: bubblewrap gives nginx that file system view, as the image's user (101)."""
    nginx, bwrap = shutil.which("nginx") or "/usr/sbin/nginx", shutil.which("bwrap")
    assert Path(nginx).is_file() and bwrap, "nginx and bubblewrap are needed: scripts/install-deps.sh installs them"
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n127.0.0.1 host-runner\n")
    cmd = [
        bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
        # /etc/nginx as in the image: only what compose mounts there.
        "--tmpfs", "/etc/nginx",
        "--ro-bind", str(NGINX_DIR), "/etc/nginx/spincrud",
        "--ro-bind", str(NGINX_DIR / "nginx.conf"), "/etc/nginx/nginx.conf",
        "--ro-bind", str(hosts), "/etc/hosts",
        "--unshare-user", "--uid", "101", "--gid", "101",
        nginx, "-t", "-c", "/etc/nginx/nginx.conf", "-e", "/dev/stderr",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "test is successful" in proc.stderr, proc.stderr
