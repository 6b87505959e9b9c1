"""The metrics dashboard: k8s/components/monitoring (the Grafana dashboard as a ConfigMap for
Grafana's sidecar) with either overlay, and compose.yaml's `monitoring` profile (Prometheus
scraping every replica, Grafana provisioned with the same dashboard). Whether the dashboard's
queries name metrics the server exposes is checked by the e2e suite against running servers
(tests/src/suite/ops.rs, the_dashboard_asks_for_what_the_server_exposes)."""

import json

import pytest
import yaml

from conftest import REPO, containers, one, render

DASHBOARD = REPO / "k8s" / "components" / "monitoring" / "spincrud-dashboard.json"
MONITORING = REPO / "monitoring"


def panels(dashboard):
    for p in dashboard["panels"]:
        yield p
        yield from p.get("panels", [])


def test_the_dashboard_is_grafana_json_with_a_query_per_panel():
    dash = json.loads(DASHBOARD.read_text())
    assert dash["uid"] == "spincrud" and dash["title"]
    names = [v["name"] for v in dash["templating"]["list"]]
    assert "datasource" in names
    ids = [p["id"] for p in panels(dash)]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    graphs = [p for p in panels(dash) if p["type"] != "row"]
    assert len(graphs) >= 10
    for p in graphs:
        assert p["datasource"]["uid"] == "${datasource}", p["title"]
        assert p["targets"] and all(t["expr"].strip() for t in p["targets"]), p["title"]


@pytest.mark.parametrize("overlay", ["host-runner", "spinkube"])
def test_the_component_ships_the_dashboard_for_grafanas_sidecar(overlay):
    objs = render(f"{overlay}+monitoring")
    cm = one(objs, "ConfigMap", "spincrud-grafana-dashboard")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(cm["data"]["spincrud-dashboard.json"]) == json.loads(DASHBOARD.read_text())
    # Nothing else changes: the component only adds the dashboard.
    plain = {(o["kind"], o["metadata"]["name"]) for o in render(overlay)}
    added = {(o["kind"], o["metadata"]["name"]) for o in objs} - plain
    assert added == {("ConfigMap", "spincrud-grafana-dashboard")}


def test_host_runner_pods_say_where_to_scrape():
    objs = render("host-runner+monitoring")
    deployment = one(objs, "Deployment", "spincrud")
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    (c,) = containers(deployment, init=False)
    ports = {p["containerPort"] for p in c["ports"]}
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) in ports
    assert annotations["prometheus.io/path"] == "/metrics"


def test_compose_scrapes_every_replica_and_provisions_the_dashboard():
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    services = compose["services"]
    for name, svc in services.items():
        optional = name in ("prometheus", "grafana")
        assert (svc.get("profiles") == ["monitoring"]) == optional or name == "jaeger", f"{name}: only the metrics services are in the monitoring profile"
    listen_port = int(services["host-runner"]["environment"]["LISTEN"].rsplit(":", 1)[1])
    prom = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    (job,) = prom["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    (sd,) = job["dns_sd_configs"]
    assert sd["names"] == ["host-runner"] and sd["type"] == "A" and sd["port"] == listen_port
    # Every file a service mounts exists, and Grafana gets the dashboard and the datasource.
    for name in ("prometheus", "grafana"):
        for v in services[name]["volumes"]:
            source = v.split(":", 1)[0]
            if source.startswith("./"):
                assert (REPO / source).exists(), f"{name} mounts {source}"
    grafana_mounts = services["grafana"]["volumes"]
    assert any(v.startswith("./k8s/components/monitoring/spincrud-dashboard.json:") for v in grafana_mounts)
    provider = yaml.safe_load((MONITORING / "grafana" / "dashboards.yaml").read_text())
    (p,) = provider["providers"]
    assert any(v.split(":")[1].startswith(p["options"]["path"]) for v in grafana_mounts if "dashboard.json" in v)
    ds = yaml.safe_load((MONITORING / "grafana" / "datasources.yaml").read_text())
    (source,) = ds["datasources"]
    prometheus_port = int(services["prometheus"]["ports"][0].rsplit(":", 1)[1])
    assert source["type"] == "prometheus" and source["url"] == f"http://prometheus:{prometheus_port}"
