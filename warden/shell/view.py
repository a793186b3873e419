"""What `warden up` shows: one screen, drawn with `rich`, from what the parts publish.

The view only reads: the responder's status API, Alertmanager's alerts and
the supervisors' state. It never writes a log line of its own; the parts'
logs go to files (`state_dir/logs/`), and `--verbose` adds a pane with their
last lines. Swarms are listed from the decision log as well as from the
running set, so a swarm that started and ended between two refreshes is on
screen with how it ended.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from responder.observe.decisions import decided_at, describe, level_name, mode_name, trigger_name

KILL_METHODS = {"cgroup": "cgroup v2", "process_tree": "process tree (no cgroup v2)"}
LEVEL_STYLES = {1: "green", 2: "yellow", 3: "bold red"}
PRIORITY_STYLES = {"CRITICAL": "bold red", "HIGH": "yellow", "MEDIUM": "cyan", "LOW": "dim"}
SWARM_ROWS = 8
DECISION_ROWS = 6


@dataclass(frozen=True)
class Part:
    name: str
    up: bool
    restarts: int
    address: str


@dataclass
class Scene:
    """One refresh's worth of facts."""

    parts: Sequence[Part]
    status: Mapping[str, Any] | None
    firing: Sequence[Mapping[str, Any]] | None
    logs: Sequence[str] = field(default_factory=list)

    def key(self) -> str:
        """What must differ for the screen to differ (not the heartbeat's tick)."""
        status = {
            k: v for k, v in (self.status or {}).items() if k not in ("heartbeat", "watchdog_at")
        }
        firing = sorted(a["labels"].get("alertname", "") for a in self.firing or [])
        return json.dumps(
            [[vars(p) for p in self.parts], status, firing, list(self.logs)], sort_keys=True
        )


def render(scene: Scene) -> RenderableType:
    rows: list[RenderableType] = [_parts(scene.parts)]
    status = scene.status
    if status is None:
        rows.append(Text("responder: not answering yet", style="yellow"))
    else:
        rows += [
            _header(status),
            _firing(scene.firing),
            _swarms(status),
            budget_bars(status["budget"]),
            decisions_table(status["decisions"], DECISION_ROWS),
        ]
    if scene.logs:
        rows.append(Panel("\n".join(scene.logs), title="logs", title_align="left"))
    return Panel(Group(*rows), title="Warden", title_align="left", subtitle="Ctrl-C stops all")


def _parts(parts: Sequence[Part]) -> RenderableType:
    line = Text()
    for p in parts:
        line.append(f"{p.name} ", style="bold")
        line.append("up" if p.up else "DOWN", style="green" if p.up else "bold red")
        if p.restarts:
            line.append(f" (restarts {p.restarts})", style="yellow")
        line.append(f" {p.address}   ", style="dim")
    return line


def _header(status: Mapping[str, Any]) -> RenderableType:
    escalation = int(status["escalation"])
    line = Text()
    line.append("mode ", style="dim")
    line.append(mode_name(status["mode"]), style="bold")
    line.append("   level ", style="dim")
    line.append(level_name(escalation), style=LEVEL_STYLES.get(escalation, ""))
    line.append("   watchdog ", style="dim")
    silent = status["pipeline_silent"]
    line.append("SILENT" if silent else "ok", style="bold red" if silent else "green")
    line.append("   kills by ", style="dim")
    line.append(KILL_METHODS.get(status.get("kill_method", ""), "?"))
    return line


def _firing(alerts: Sequence[Mapping[str, Any]] | None) -> RenderableType:
    line = Text("firing ", style="dim")
    if alerts is None:
        return line.append("? (Alertmanager not answering)", style="yellow")
    firing = sorted(
        {
            (a["labels"].get("severity", ""), a["labels"]["alertname"])
            for a in alerts
            if a["labels"].get("alertname") != "Watchdog"
        },
        key=lambda s: (s[0] != "critical", s[1]),
    )
    if not firing:
        return line.append("nothing", style="green")
    for i, (severity, name) in enumerate(firing):
        line.append(", " if i else "")
        line.append(name, style="bold red" if severity == "critical" else "yellow")
    return line


def _swarms(status: Mapping[str, Any]) -> RenderableType:
    """Running swarms first, then those the recent decisions started and ended."""
    running = {s["id"]: s for s in status["swarms"]}
    ended: dict[str, str] = {}
    started: dict[str, Mapping[str, Any]] = {}
    judged: dict[str, str] = {}
    for d in status["decisions"]:  # the newest first
        if d["kind"] in ("swarm_end", "verifying"):
            ended.setdefault(d["swarm"], str(d.get("state", "verifying")))
        elif d["kind"] == "verified":
            judged.setdefault(d["swarm"], str(d["outcome"]))
        elif d["kind"] == "spawn":
            started.setdefault(d["swarm"], d)
    table = Table(
        title=f"swarms: {len(running)} running",
        title_justify="left",
        expand=True,
        show_edge=False,
        box=None,
    )
    for column in ("swarm", "type", "priority", "agents", "state", "since", "trigger"):
        table.add_column(column, overflow="ellipsis", no_wrap=True)
    now = time.time()
    rows = [(s, "running") for s in running.values()]
    rows += [
        (
            {
                "id": sid,
                "type": d.get("type"),
                "priority": d.get("priority"),
                "size": d.get("size", 1),
                "trigger": d.get("trigger", ""),
                "created_at": decided_at(d),
            },
            " ".join(filter(None, (ended.get(sid, "ended"), judged.get(sid)))),
        )
        for sid, d in started.items()
        if sid not in running
    ]
    for s, state in rows[:SWARM_ROWS]:
        priority = str(s["priority"])
        table.add_row(
            s["id"],
            str(s["type"]),
            Text(priority, style=PRIORITY_STYLES.get(priority, "")),
            str(s["size"]),
            Text(state, style="bold" if state == "running" else "dim"),
            _ago(now - float(s["created_at"])),
            trigger_name(str(s["trigger"])),
        )
    for p in status.get("paused", []):
        table.add_row(
            "PAUSED",
            p["type"],
            "",
            "",
            Text(p["cls"], style="bold red"),
            "",
            f"{p['error']} - warden swarm resume {p['type']}",
        )
    return table


BASES = {
    "reported": "reported by the runs",
    "usage": "priced from the tokens of runs that ended without a total",
    "cap": "the caps of runs that reported nothing",
    "set_aside": "the caps of runs whose reports were set aside",
}
"""How the view names what each charge was booked on (B6)."""


def _bar(label: str, spend: float, cap: float) -> RenderableType:
    grid = Table.grid(padding=(0, 1))
    grid.add_column(width=24, no_wrap=True)
    grid.add_column(width=30)
    grid.add_column(no_wrap=True)
    ratio = spend / cap if cap else 1.0
    style = "green" if ratio < 0.9 else "yellow" if ratio < 0.99 else "red"
    grid.add_row(
        Text(label, style="dim"),
        ProgressBar(total=max(cap, 1e-9), completed=min(spend, cap), complete_style=style),
        f"${spend:.2f} of ${cap:.2f} ({ratio:.0%})",
    )
    return grid


def budget_bars(budget: Mapping[str, Any]) -> RenderableType:
    bars = [_bar(f"budget {budget['period']}", budget["spend_usd"], budget["cap_usd"])]
    bars += [
        _bar(f"  {name} ceiling", c["spend_usd"], c["cap_usd"])
        for name, c in budget.get("ceilings", {}).items()
    ]
    by_basis = budget.get("by_basis") or {}
    if set(by_basis) - {"reported", "none"}:  # not all of it the agents' own word: say why
        parts = [f"{BASES.get(b, b)} ${v:.2f}" for b, v in sorted(by_basis.items()) if v > 0]
        bars.append(Text("  of it: " + ", ".join(parts), style="dim"))
    tier = budget.get("tier", "none")
    if tier == "none":
        bars.append(Text("  below every budget tier", style="dim"))
    else:
        bars.append(Text(f"  budget tier {tier} reached", style="bold yellow"))
    return Group(*bars)


def decisions_table(decisions: Sequence[Mapping[str, Any]], rows: int) -> RenderableType:
    """The last decisions, one sentence each; the wake cycle's routine ones (J1, J2)
    stay in the log and `--json`, but an escalation of issues without progress shows."""
    table = Table(title="lately", title_justify="left", show_header=False, box=None)
    table.add_column(style="dim", no_wrap=True, min_width=8)
    table.add_column(overflow="ellipsis", no_wrap=True)
    shown = [d for d in decisions if d["kind"] not in ("J1", "J2") or "escalation" in d][:rows]
    for d in shown:
        table.add_row(time.strftime("%H:%M:%S", time.localtime(decided_at(d))), describe(d))
    return table


def _ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"
