"""Prometheus' and Alertmanager's configs for one Warden stack, from the shipped files.

The shipped `prometheus/prometheus.yml` and `alertmanager/alertmanager.yml`
name the default loopback addresses. A stack (`warden up`, the tests, the
benchmarks) loads them and rewrites only the addresses, the rule file and the
token file; intervals, routes, receivers and inhibitions stay as shipped, so
what is tested is what ships.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SHIPPED_RESPONDER = "127.0.0.1:8948"

# Prometheus flags a stack runs with. Without a short resend delay, an alert
# that fires before Prometheus has discovered Alertmanager (the first
# evaluations after a start) is dropped and sent again only a minute later.
PROMETHEUS_FLAGS = ("--rules.alert.resend-delay=10s",)


@dataclass(frozen=True)
class Addresses:
    exporter: str
    responder: str
    prometheus: str
    alertmanager: str


def prometheus_config(shipped: Path, addresses: Addresses, rules: Path) -> dict[str, Any]:
    prom: dict[str, Any] = yaml.safe_load(shipped.read_text(encoding="utf-8"))
    prom["rule_files"] = [str(rules)]
    prom["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [addresses.alertmanager]
    targets = {
        "warden-exporter": addresses.exporter,
        "warden-responder": addresses.responder,
        "prometheus": addresses.prometheus,
    }
    for job in prom["scrape_configs"]:
        job["static_configs"][0]["targets"] = [targets[job["job_name"]]]
    return prom


def alertmanager_config(shipped: Path, responder: str, token_file: Path) -> dict[str, Any]:
    am: dict[str, Any] = yaml.safe_load(shipped.read_text(encoding="utf-8"))
    for receiver in am["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = hook["url"].replace(SHIPPED_RESPONDER, responder)
            hook["http_config"]["authorization"]["credentials_file"] = str(token_file)
    return am


def write_yaml(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
