"""What the agents (or a recovery command) are told of the alert that starts them.

The alert, then what the exporter that raised it knows: the failing tests by
name before the output, the files that lost coverage; then J7's summary of
the project's recent history. All of it is text from outside Warden: the
runtime fences it as quoted data (`responder.act.context`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from responder.intake.webhook import Alert
from warden.auth import Credentials, fetch

CHECKS_FOR = {"BuildFailing": "build", "TestsFailing": "tests"}


class Briefing:
    def __init__(
        self,
        state_dir: Path,
        exporter_url: str,
        credentials: Credentials | None,
        fleet_exporters: frozenset[str],
    ) -> None:
        """`exporter_url`: this host's exporter (its /api/v1 has the failing output and
        files); `fleet_exporters`: the other hosts' (`stack.other_exporters`)."""
        self.state_dir = state_dir
        self.exporter_url = exporter_url
        self.credentials = credentials
        self.fleet_exporters = fleet_exporters

    def text(self, alert: Alert) -> str:
        """What the agents are told: the alert, then what the exporter knows of it
        (the failing tests by name before the output; the files that lost coverage)."""
        lines = [
            f"# {alert.name}",
            "",
            alert.annotations.get("summary", ""),
            alert.annotations.get("description", ""),
            "",
            "Labels:",
        ]
        lines += [f"- {k}: {v}" for k, v in sorted(alert.labels.items())]
        check = CHECKS_FOR.get(alert.name)
        if check:
            report = self._exporter(alert, "checks").get(check) or {}
            failing = report.get("failing_cases") or []
            if failing:
                lines += ["", f"Failing tests ({len(failing)}):"]
                lines += [f"- {c['name']}: {c['message']}" for c in failing]
            output = (report.get("last_failure") or {}).get("output_tail", "")
            if output:
                lines += ["", f"Last failing {check} output:", "```", str(output), "```"]
        if alert.name == "CoverageDecreased":
            lines += coverage_drop(self._exporter(alert, "coverage"))
        history = self.state_dir / "context.md"  # J7's summary
        if history.exists():
            lines += ["", history.read_text(encoding="utf-8")]
        return "\n".join(lines) + "\n"

    def _exporter(self, alert: Alert, what: str) -> dict[str, Any]:
        """What the exporter that raised the alert knows: in a fleet the project's
        checks may run on another host. Only the fleet's exporters
        (`stack.other_exporters`) are asked, never a host an alert merely names:
        the request carries the scrape password."""
        instance = alert.labels.get("instance", "")
        base = f"http://{instance}" if instance in self.fleet_exporters else self.exporter_url
        try:
            url = f"{base}/api/v1/{what}"
            body = json.loads(fetch(url, self.credentials, timeout=2))
        except (OSError, ValueError):
            return {}
        return body if isinstance(body, dict) else {}


def coverage_drop(drop: dict[str, Any]) -> list[str]:
    """The files whose line coverage fell, from the window's best report to the latest."""
    best, latest, files = drop.get("best"), drop.get("latest"), drop.get("files") or []
    if not best or not latest:
        return []

    def pct(r: float | None) -> str:
        return "new" if r is None else f"{100 * r:.1f} %"

    lines = [
        "",
        f"Line coverage fell from {pct(best['ratio'])} to {pct(latest['ratio'])}. "
        "Files that lost coverage (most lines first):",
        "",
        "| file | before | after | uncovered lines before | after |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {f['file']} | {pct(f['before'])} | {pct(f['after'])} "
        f"| {f['lines_uncovered_before']} | {f['lines_uncovered_after']} |"
        for f in files
    ]
    return lines if files else lines[:2]
