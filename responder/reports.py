"""Markdown reports in `state_dir/reports/`: progress (J6, every 30 minutes) and the
daily summary (J10, at 22:00) with the P and L figures."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from responder import charts, learning
from responder.modes import Situation
from responder.store import Store
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


def daily(config: Config, store: Store, situation: Situation, now: float) -> str:
    since = now - 86400
    day = store.ended_swarms(since)
    succeeded = [s for s in day if s.state == "succeeded"]
    fixes = [(s.ended_at or now) - s.created_at for s in succeeded if s.type == "bugfix"]
    day_spend = store.spend_between(since, now)
    crises = store.crisis_durations()
    stats = learning.stats(store, since)
    hour = learning.best_hour(store, config.schedule)
    lines = [
        f"# Daily summary {_stamp(now, config)}",
        "",
        "## Performance (P)",
        "",
        f"- Swarm completion rate: {len(succeeded)} of {len(day)} "
        f"({(len(succeeded) / len(day)) if day else 0:.0%}).",
        f"- Average time to fix (bugfix swarms): "
        f"{(sum(fixes) / len(fixes) / 60) if fixes else 0:.1f} min.",
        f"- Budget efficiency: ${day_spend / len(succeeded) if succeeded else 0:.2f} "
        "per successful swarm.",
        f"- Crisis recovery time: {(sum(crises) / len(crises) / 60) if crises else 0:.1f} min "
        f"over {len(crises)} crises in all.",
        f"- Mode now: {situation.mode}, escalation {situation.escalation}.",
        "",
        "## Learning (L)",
        "",
        "| type | size | runs | success rate | $ per success |",
        "|---|---|---|---|---|",
    ]
    for s in stats:
        cost = f"${s.cost_per_success:.2f}" if s.cost_per_success is not None else "-"
        lines.append(f"| {s.type} | {s.size} | {s.runs} | {s.success_rate:.0%} | {cost} |")
    episodes = sorted(store.episode_counts().items(), key=lambda kv: -kv[1])[:5]
    lines += [
        "",
        "Patterns that cause issues (firing episodes, all time): "
        + (", ".join(f"{n} {c}" for n, c in episodes) or "none")
        + ".",
        "Best hour for self-improvement: "
        + (f"{hour:02d}:00." if hour is not None else "not known yet."),
    ]
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


def write_daily(
    config: Config,
    store: Store,
    situation: Situation,
    now: float,
    folder: Path,
    stem: str,
    chart_seconds: float = 86400.0,
) -> list[Path]:
    """The daily summary (J10, `warden report`) with its charts of the last
    `chart_seconds` (a day unless asked otherwise): the report's path, then the charts'."""
    section, pngs = charts_section(config, now - chart_seconds, now, folder, stem)
    return [write(folder, f"{stem}.md", daily(config, store, situation, now) + section), *pngs]


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    write_atomic(path, text.encode())
    return path
