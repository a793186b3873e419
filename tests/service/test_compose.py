"""docker-compose.yml without a Docker engine: valid against the Compose spec,
everything it mounts or builds exists, and it agrees with the configs it mounts."""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

import jsonschema
import pytest
import yaml

from tests.conftest import REPO, run_cli
from warden import clustertls

COMPOSE = REPO / "docker-compose.yml"
SCHEMA = REPO / ".cache" / "compose_spec.json"
SERVICES = {
    "exporter": 8947,
    "responder": 8948,
    "prometheus": 9090,
    "alertmanager": 9093,
    "grafana": 3000,
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return doc


def test_valid_against_the_compose_spec(compose: dict[str, Any]) -> None:
    if not SCHEMA.exists():
        pytest.fail(f"{SCHEMA} is missing: run the README's test command, which fetches it")
    # The schema names draft 2019-09 in a form jsonschema does not look up.
    schema = json.loads(SCHEMA.read_text())
    schema.pop("$schema", None)
    validator = jsonschema.Draft201909Validator(schema)
    validator.validate(compose)
    exporter = {**compose["services"]["exporter"], "restart": ["always"]}
    broken = {**compose, "services": {**compose["services"], "exporter": exporter}}
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(broken)


def test_services_images_health_restart_and_loopback(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {*SERVICES, "secrets"}
    for name, svc in services.items():
        image = svc["image"]
        assert re.match(r"^[\w./-]+:v?\d+\.\d+\.\d+", image), f"{name}: pin {image}"
        if name == "secrets":  # one-shot: makes the secrets, then exits
            assert svc["restart"] == "no" and "ports" not in svc
            continue
        assert svc["restart"] == "unless-stopped", name
        assert svc["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name
        assert svc["ports"] == [f"127.0.0.1:{SERVICES[name]}:{SERVICES[name]}"], name
        # Nothing starts before the secrets it needs exist.
        assert svc["depends_on"] == {"secrets": {"condition": "service_completed_successfully"}}
    for volume in compose["volumes"]:
        assert any(volume in str(s.get("volumes", [])) for s in services.values())


def test_everything_mounted_or_built_exists(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        if "build" in svc:
            assert (REPO / svc["build"] / "Dockerfile").is_file()
        for volume in svc.get("volumes", []):
            default = re.match(r"^\$\{\w+:-([^}]*)\}:", volume)  # ${VAR:-default}:/path
            source = default.group(1) if default else volume.split(":")[0]
            if source.startswith("."):
                assert (REPO / source).exists(), f"{name} mounts missing {source}"
    for name, secret in compose["secrets"].items():
        path = REPO / secret["file"]
        assert (path.parent / "README.md").exists(), f"{name}: say how to make {path}"
        ignored = subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=REPO, check=False)
        assert ignored.returncode == 0, f"{path} must never be committed"
    for line in (REPO / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (REPO / source).exists(), source


def test_it_agrees_with_the_configs_it_mounts() -> None:
    assert run_cli("compose-config", "-c", "warden.yml", "--check").returncode == 0
    folder = REPO / "deploy" / "compose"
    prom = yaml.safe_load((folder / "prometheus.yml").read_text())
    targets = {j["job_name"]: j["static_configs"][0]["targets"][0] for j in prom["scrape_configs"]}
    assert targets == {
        "warden-exporter": "exporter:8947",
        "warden-responder": "responder:8948",
    }
    assert prom["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "alertmanager:9093"
    ]
    am = yaml.safe_load((folder / "alertmanager.yml").read_text())
    for receiver in am["receivers"]:
        for hook in receiver["webhook_configs"]:
            assert hook["url"].startswith("http://responder:8948/api/v1/")
            assert (
                hook["http_config"]["authorization"]["credentials_file"]
                == "/run/secrets/webhook-token"
            )
    warden = yaml.safe_load((folder / "warden.yml").read_text())
    assert warden["exporter"]["listen"].endswith(":8947")
    assert warden["responder"]["listen"].endswith(":8948")
    assert warden["responder"]["token_file"] == "/run/secrets/webhook-token"
    assert warden["responder"]["alertmanager_url"] == "http://alertmanager:9093"
    datasource = yaml.safe_load(
        (REPO / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"


def test_every_hop_asks_for_credentials(compose: dict[str, Any]) -> None:
    """Prometheus and Alertmanager run with web configs (basic auth), the lifecycle
    API is off, Prometheus scrapes and alerts with the passwords' files, Grafana
    reads Prometheus with its password, all from the secrets volume."""
    services = compose["services"]
    assert services["secrets"]["command"][:1] == ["secrets"]
    assert "--shared" in services["secrets"]["command"]
    for name, web in (
        ("prometheus", "prometheus-web.yml"),
        ("alertmanager", "alertmanager-web.yml"),
    ):
        command = services[name]["command"]
        assert f"--web.config.file=/secrets/{web}" in command, name
        assert "--web.enable-lifecycle" not in command, name
        assert "warden-secrets:/secrets:ro" in services[name]["volumes"], name
        assert "$(cat /secrets/" in services[name]["healthcheck"]["test"][1], name
    folder = REPO / "deploy" / "compose"
    prom = yaml.safe_load((folder / "prometheus.yml").read_text())
    files = {j["job_name"]: j["basic_auth"]["password_file"] for j in prom["scrape_configs"]}
    assert files == {
        "warden-exporter": "/secrets/scrape-password",
        "warden-responder": "/secrets/scrape-password",
    }
    manager = prom["alerting"]["alertmanagers"][0]
    assert manager["basic_auth"]["password_file"] == "/secrets/alertmanager-password"
    warden = yaml.safe_load((folder / "warden.yml").read_text())
    assert warden["secrets_dir"] == "/secrets"
    datasource = yaml.safe_load(
        (REPO / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"][0]
    assert datasource["basicAuth"] is True and datasource["basicAuthUser"] == "warden"
    password = datasource["secureJsonData"]["basicAuthPassword"]
    assert password == "$__file{/secrets/prometheus-password}"


def test_the_ha_layout_pairs_prometheus_and_clusters_alertmanager() -> None:
    """docker-compose.ha.yml on top: valid, everything it mounts exists, the second
    Prometheus and Alertmanager hardened like the first, the pair labelled a/b
    (dropped from alerts) and sending to both clustered Alertmanagers."""
    ha: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.ha.yml").read_text())
    schema = json.loads(SCHEMA.read_text())
    schema.pop("$schema", None)
    jsonschema.Draft201909Validator(schema).validate(ha)
    services = ha["services"]
    for name, port in (("prometheus-b", 9190), ("alertmanager-b", 9193)):
        svc = services[name]
        assert re.match(r"^[\w./-]+:v?\d+\.\d+\.\d+", svc["image"]), name
        assert svc["restart"] == "unless-stopped" and svc["ports"][0].startswith("127.0.0.1:")
        assert svc["ports"] == [f"127.0.0.1:{port}:{port - 100}"], name
        assert svc["depends_on"] == {"secrets": {"condition": "service_completed_successfully"}}
        assert any("--web.config.file=/secrets/" in a for a in svc["command"]), name
        for volume in svc["volumes"]:
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (REPO / source).exists(), f"{name} mounts missing {source}"
    peers = {
        name: [a for a in services[name]["command"] if a.startswith("--cluster.peer=")]
        for name in ("alertmanager", "alertmanager-b")
    }
    assert peers == {
        "alertmanager": ["--cluster.peer=alertmanager-b:9094"],
        "alertmanager-b": ["--cluster.peer=alertmanager:9094"],
    }
    # Gossip is mutual TLS, with what the secrets service makes in the volume.
    for name in ("alertmanager", "alertmanager-b"):
        assert f"--cluster.tls-config=/secrets/{clustertls.CONFIG}" in services[name]["command"]
    folder = REPO / "deploy" / "compose"
    for replica in ("a", "b"):
        prom = yaml.safe_load((folder / f"prometheus-{replica}.yml").read_text())
        assert prom["global"]["external_labels"] == {"replica": replica}
        alerting = prom["alerting"]
        assert alerting["alert_relabel_configs"] == [{"action": "labeldrop", "regex": "replica"}]
        targets = alerting["alertmanagers"][0]["static_configs"][0]["targets"]
        assert targets == ["alertmanager:9093", "alertmanager-b:9093"]
        # Both replicas scrape the same targets; neither scrapes itself (no rule reads it).
        jobs = {j["job_name"] for j in prom["scrape_configs"]}
        assert jobs == {"warden-exporter", "warden-responder"}
