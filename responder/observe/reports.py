"""Markdown reports in `state_dir/reports/`: progress (J6, every 30 minutes) and the
Prometheus charts the reviews (`responder.observe.review`) show."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from responder.observe import charts
from responder.rules.modes import Situation
from responder.state.store import Store
from warden.atomicfile import write_atomic
from warden.config import Config


def _stamp(t: float, config: Config) -> str:
    return dt.datetime.fromtimestamp(t, config.schedule.timezone).strftime("%Y-%m-%d %H:%M")


def progress(config: Config, store: Store, situation: Situation, since: float, now: float) -> str:
    started = store.swarms(since=since)
    ended = store.ended_swarms(since)
    spend = store.spend(situation.period.key)
    lines = [
        f"# Progress {_stamp(since, config)} to {_stamp(now, config)}",
        "",
        f"- Mode {situation.mode}, escalation level {situation.escalation}.",
        f"- Budget {situation.period.key}: ${spend:.2f} of ${situation.period.cap_usd:.2f}.",
        f"- Swarms started: {len(started)}; ended: {len(ended)} "
        f"({sum(s.state == 'succeeded' for s in ended)} succeeded, "
        f"{sum(s.state == 'failed' for s in ended)} failed, "
        f"{sum(s.state == 'killed' for s in ended)} killed); running now: "
        f"{len(store.swarms('running'))}.",
        "",
        "## Decisions",
        "",
    ]
    for d in reversed(store.decisions(200)):
        if d["at"] >= since:
            detail = ", ".join(f"{k}={v}" for k, v in sorted(d.items()) if k not in ("at", "kind"))
            lines.append(f"- {_stamp(d['at'], config)} {d['kind']}: {detail}")
    return "\n".join(lines) + "\n"


def charts_section(
    config: Config, start: float, end: float, folder: Path, stem: str
) -> tuple[str, list[Path]]:
    """The period's charts as PNG files beside the report, and the Markdown that shows them."""
    try:
        drawn = charts.render(config, start, end, folder, stem)
    except charts.PrometheusUnavailable as exc:
        return f"\n## Charts\n\nNot drawn: Prometheus did not answer ({exc}).\n", []
    lines = ["", "## Charts", ""]
    for panel, path in drawn:
        lines += [f"![{panel.title}]({path.name})", ""]
    return "\n".join(lines), [path for _, path in drawn]


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    write_atomic(path, text.encode())
    return path
