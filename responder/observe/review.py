"""The reviews a person reads (I1-I3): the P and L figures of a period, their trends
against the period before, the spend by mode, the crises with their time to fix,
what the learning changed, the patterns that cause issues, and charts.

One review serves every length: J6's hourly roll-up (I1), J10's daily summary
(I2) and its weekly review on Sundays (I3), and `warden report --period`. Its
figures and charts come from the store alone, so a simulated week has them as
a real one does; the Prometheus panels (`reports.charts_section`) are added
where Prometheus answers.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from responder.decide import learning
from responder.observe import charts, patterns
from responder.observe.reports import charts_section
from responder.rules.modes import Situation
from responder.state.store import Store, SwarmRow
from warden.atomicfile import write_atomic
from warden.config import Config
from warden.dashboards.spec import Kind, Panel

HOUR, DAY, WEEK = 3600.0, 86400.0, 7 * 86400.0
MODES = {"day": "ACTIVE", "night": "NIGHT", "maintenance": "MAINTENANCE", "crisis": "CRISIS"}
"""The budget period's label -> the mode it was spent in."""
OUTCOMES = ("succeeded", "failed", "killed")
TOP_CRISES = 10
FIX_GRACE = 120.0
"""Seconds after verified work lands in which the crisis it fixes may end (its alerts
resolve after a build run, an evaluation and a notification)."""


def title(seconds: float) -> str:
    return {HOUR: "Hourly roll-up", DAY: "Daily summary", WEEK: "Weekly review"}.get(
        seconds, f"Review of {seconds / HOUR:g} hours"
    )


@dataclass(frozen=True)
class Figures:
    """One period's figures, from the store."""

    start: float
    end: float
    ended: tuple[SwarmRow, ...]
    spend: tuple[tuple[float, str, float, str], ...]
    """(at, mode, amount, swarm type) of every charge."""
    crises: tuple[tuple[float, float | None], ...]
    """(started, ended or None) of the crises that began in the period."""
    started: tuple[SwarmRow, ...]
    problems: tuple[tuple[str, float], ...] = ()
    """(alertname, first seen) of the alerts' episodes open in the period."""

    @property
    def succeeded(self) -> list[SwarmRow]:
        return [s for s in self.ended if s.state == "succeeded"]

    @property
    def decided(self) -> list[SwarmRow]:
        """Swarms that succeeded or failed: those Warden killed say nothing of the work."""
        return [s for s in self.ended if s.state in ("succeeded", "failed")]

    @property
    def total_usd(self) -> float:
        return sum(a for _, _, a, _ in self.spend)

    def p(self) -> dict[str, float | None]:
        """The P figures (P1, P2, P3, P6), None where nothing happened to measure."""
        won, decided = len(self.succeeded), len(self.decided)
        fixes = self.fix_times()
        fixed = [e - s for s, e in self.crises if e is not None]
        return {
            "completion": won / decided if decided else None,
            "fix_seconds": sum(fixes) / len(fixes) if fixes else None,
            "usd_per_success": self.total_usd / won if won else None,
            "successes_per_usd": won / self.total_usd if self.total_usd else None,
            "recovery_seconds": sum(fixed) / len(fixed) if fixed else None,
            "spend_usd": self.total_usd,
            "crises": float(len(self.crises)),
        }

    def by_mode(self) -> dict[str, float]:
        return self._spend_by(1)

    def by_type(self) -> dict[str, float]:
        return self._spend_by(3)

    def _spend_by(self, field: int) -> dict[str, float]:
        """The spend summed by one field of the charges (1: the mode, 3: the type)."""
        out: dict[str, float] = {}
        for charge in self.spend:
            key = str(charge[field])
            out[key] = out.get(key, 0.0) + charge[2]
        return out

    @property
    def landed(self) -> tuple[float, ...]:
        """When work the project's checks verified landed (a fix, not a claim of one)."""
        return tuple(s.ended_at or 0.0 for s in self.ended if s.outcome == "verified" and s.landed)

    def fix_times(self) -> list[float]:
        """P2, per fix: from its problem's first sight to verified work on it landing.
        A claim of success is no fix, and a swarm's own run time is not the problem's
        (with the tests' fake agents it was 0 s)."""
        out = []
        for s in self.ended:
            if s.outcome != "verified" or not s.landed or not s.trigger.startswith("alert:"):
                continue
            name = s.trigger.split(":")[1]
            seen = [at for n, at in self.problems if n == name and at <= s.created_at]
            if seen:
                out.append((s.ended_at or self.end) - max(seen))
        return out

    def fixed(self, crisis: tuple[float, float | None]) -> bool:
        """A crisis is fixed by verified work landed while it lasted (or within the grace
        its alerts take to resolve after); one that resolved otherwise was not fixed."""
        began, ended = crisis
        return ended is not None and any(began <= t <= ended + FIX_GRACE for t in self.landed)

    def choices(self) -> dict[str, Counter[str]]:
        """Per kind of work, the swarms started by choice (type and size)."""
        out: dict[str, Counter[str]] = {}
        for s in self.started:
            out.setdefault(s.work, Counter())[str(learning.Choice(s.type, s.size))] += 1
        return out


def figures(store: Store, start: float, end: float) -> Figures:
    return Figures(
        start,
        end,
        tuple(s for s in store.ended_swarms(start) if (s.ended_at or 0) < end),
        tuple(
            (at, MODES.get(period.split(":", 1)[0], "?"), amount, swarm_type)
            for at, period, amount, swarm_type in store.charges_between(start, end)
        ),
        tuple(store.crises_between(start, end)),
        tuple(s for s in store.swarms(since=start) if s.created_at < end),
        tuple(store.problems_between(start, end)),
    )


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 60 else f"{seconds / 60:.1f} min"


ROWS: tuple[tuple[str, str, Callable[[float], str], bool], ...] = (
    (
        "completion",
        "Swarm completion rate (P1: succeeded of succeeded and failed)",
        "{:.0%}".format,
        True,
    ),
    ("fix_seconds", "Average time to fix (P2: alert to verified fix landed)", _duration, False),
    ("usd_per_success", "Budget efficiency (P3: $ per successful swarm)", "${:.2f}".format, False),
    ("successes_per_usd", "Successes per dollar", "{:.3f}".format, True),
    ("recovery_seconds", "Crisis recovery time (P6)", _duration, False),
    ("spend_usd", "Spend", "${:.2f}".format, False),
    ("crises", "Crises", "{:.0f}".format, False),
)
"""(figure, what a person reads, format, higher is better)."""
PROMQL: tuple[tuple[str, str, Callable[[float], str], bool], ...] = (
    (
        "max(warden_coverage_lines_ratio) - max(warden_coverage_lines_ratio offset {s}s)",
        "Coverage velocity (P4: change of line coverage)",
        lambda v: f"{v * 100:+.1f} points",
        True,
    ),
    (
        "sum(increase(warden_log_error_lines_total[{s}s]))",
        "Error log lines (P5)",
        "{:.0f}".format,
        False,
    ),
)
"""The P figures only Prometheus has, as ROWS, by their query over a period of `s` seconds."""
Measured = dict[str, tuple[float | None, float | None]]
"""A PromQL figure's query -> (this period, the period before)."""


def prometheus_figures(config: Config, start: float, end: float) -> Measured | None:
    """P4 and P5 over the period and the one before; None if Prometheus did not answer."""
    url = config.responder.prometheus_url
    out: Measured = {}
    try:
        secret = charts.prometheus_credentials(config)
        for query, *_ in PROMQL:
            expr = query.format(s=int(end - start))
            out[query] = (
                charts.instant(url, secret, expr, end),
                charts.instant(url, secret, expr, start),
            )
    except charts.PrometheusUnavailable:
        return None
    return out


def _trend(now: float | None, before: float | None, better_up: bool) -> str:
    if now is None or before is None:
        return "-"
    if abs(now - before) < 1e-9:
        return "same"
    change = f"{(now - before) / before:+.0%}" if before else ("up" if now > before else "down")
    good = (now > before) == better_up
    return f"{change} ({'better' if good else 'worse'})"


def text(
    config: Config,
    store: Store,
    situation: Situation,
    start: float,
    end: float,
    prom: Measured | None = None,
) -> str:
    """The review of [start, end) against the period of the same length before it; P4
    and P5 from `prom` (`prometheus_figures`), which the store does not hold."""
    length = end - start
    now, before = figures(store, start, end), figures(store, start - length, start)
    p, q = now.p(), before.p()
    stamp = _stamper(config)
    lines = [
        f"# {title(length)} {stamp(start)} to {stamp(end)}",
        "",
        f"Mode now: {situation.mode}, escalation {situation.escalation}.",
        "",
        "## Performance (P), against the period before",
        "",
        "| figure | this period | the period before | trend |",
        "|---|---|---|---|",
    ]
    # Before Warden ran (no swarm ended, nothing spent), there is no trend to show.
    if not before.ended and not before.spend:
        q = dict.fromkeys(q)
    rows = [(name, p[key], q[key], fmt, up) for key, name, fmt, up in ROWS]
    rows += [
        (name, *(prom or {}).get(query, (None, None)), fmt, up) for query, name, fmt, up in PROMQL
    ]
    for name, a, b, fmt, up in rows:
        shown = [fmt(v) if v is not None else "-" for v in (a, b)]
        lines.append(f"| {name} | {shown[0]} | {shown[1]} | {_trend(a, b, up)} |")
    if prom is None:
        lines += ["", "P4 and P5 come from Prometheus, which was not asked or did not answer."]
    lines += [
        "",
        f"Swarms ended: {len(now.ended)} ("
        + ", ".join(f"{sum(s.state == o for s in now.ended)} {o}" for o in OUTCOMES)
        + ").",
        "",
        "## Spend by mode",
        "",
        "| mode | this period | the period before |",
        "|---|---|---|",
    ]
    modes_now, modes_before = now.by_mode(), before.by_mode()
    for mode in ("ACTIVE", "NIGHT", "MAINTENANCE", "CRISIS"):
        lines.append(
            f"| {mode} | ${modes_now.get(mode, 0):.2f} | ${modes_before.get(mode, 0):.2f} |"
        )
    lines += ["", "## Crises", "", *_crises(now, stamp)]
    lines += [
        "",
        "## Learning (L)",
        "",
        "| type | size | runs | success rate | $ per success |",
        "|---|---|---|---|---|",
    ]
    for s in learning.stats(store, start):
        cost = f"${s.cost_per_success:.2f}" if s.cost_per_success is not None else "-"
        lines.append(f"| {s.type} | {s.size} | {s.runs} | {s.success_rate:.0%} | {cost} |")
    lines += ["", "What the learning changed (each kind of work's most started choice):", ""]
    lines += _changes(now.choices(), before.choices()) or ["- Nothing was started."]
    hour = learning.best_hour(store, config.schedule)
    lines += [
        "",
        "Best hour for self-improvement (L4): "
        + (
            f"{hour:02d}:00." if hour is not None else "not known yet (2 runs in an hour at least)."
        ),
        "",
        *patterns.section(patterns.count(store, start, end)),
    ]
    return "\n".join(lines) + "\n"


def _crises(now: Figures, stamp: Callable[[float], str]) -> list[str]:
    """How many, how many verified work fixed, how long, and the longest ones (a week may
    have 100). Issue 29: every crisis that ended was called fixed, one that resolved on
    its own too."""
    crises = now.crises
    if not crises:
        return ["None."]
    over = sorted((e - s) / 60 for s, e in crises if e is not None)
    fixed = sum(now.fixed(c) for c in crises)
    open_ = len(crises) - len(over)
    lines = [
        f"{len(crises)} crises: {fixed} fixed by verified work, {len(over) - fixed} resolved"
        " without a fix"
        + (f"; {open_} not over yet" if open_ else "")
        + (
            f". Over in a median {over[len(over) // 2]:.1f} min, the longest {over[-1]:.1f} min"
            if over
            else ""
        )
        + ".",
        "",
        f"The {min(len(crises), TOP_CRISES)} longest:",
        "",
    ]
    longest = sorted(crises, key=lambda c: -((c[1] or float("inf")) - c[0]))[:TOP_CRISES]
    lines += [f"- {stamp(c[0])}: {_how_it_ended(now, c)}" for c in sorted(longest)]
    return lines


def _how_it_ended(now: Figures, crisis: tuple[float, float | None]) -> str:
    began, ended = crisis
    if ended is None:
        return "not over yet"
    minutes = (ended - began) / 60
    if now.fixed(crisis):
        return f"fixed by verified work in {minutes:.1f} min"
    return f"resolved without a fix after {minutes:.1f} min"


def _changes(now: dict[str, Counter[str]], before: dict[str, Counter[str]]) -> list[str]:
    out = []
    for work in sorted(now):
        top, n = min(now[work].items(), key=lambda kv: (-kv[1], kv[0]))
        total = sum(now[work].values())
        was = before.get(work, Counter())
        was_total = sum(was.values())
        earlier = f"{was[top] / was_total:.0%} of {was_total}" if was_total else "none started"
        out.append(
            f"- {work}: {top}, {n / total:.0%} of {total} starts (the period before: {earlier})."
        )
    return out


def _stamper(config: Config) -> Callable[[float], str]:
    def stamp(t: float) -> str:
        return dt.datetime.fromtimestamp(t, config.schedule.timezone).strftime("%Y-%m-%d %H:%M")

    return stamp


def draw_store_charts(
    config: Config, store: Store, start: float, end: float, folder: Path, stem: str
) -> list[tuple[str, Path]]:
    """The period's figures from the store, per day (per hour up to 2 days, per 5
    minutes up to 2 hours), as PNG files beside the review: spend by mode, outcomes,
    successes per dollar, spend by swarm type, the longest crises."""
    # Bars a report's length can show: 12 of 5 minutes in an hour (a single bar of an
    # hour put 03:23's events in a bar drawn from 02:46), hours up to 2 days, then days.
    length = end - start
    bucket = DAY if length > 2 * DAY else HOUR if length > 2 * HOUR else 300.0
    marks = [start + i * bucket for i in range(int((end - start) // bucket) or 1)]
    per = [figures(store, t, min(t + bucket, end)) for t in marks]
    centres = [t + bucket / 2 for t in marks]

    def series(name: str, values: list[float]) -> charts.Series:
        return charts.Series(name, centres, values)

    types = sorted({t for f in per for t in f.by_type()})

    drawn = [
        (
            _panel("bars", "Spend by mode", "currencyUSD"),
            [series(m, [f.by_mode().get(m, 0.0) for f in per]) for m in MODES.values()],
        ),
        (
            _panel("bars", "Swarms ended by outcome", "short"),
            [series(o, [float(sum(s.state == o for s in f.ended)) for f in per]) for o in OUTCOMES],
        ),
        (
            # Nothing spent in any bar: "no data", not an empty plot (issue 29).
            _panel("series", "Successes per dollar", "short"),
            [
                series("successes per $", [f.p()["successes_per_usd"] or 0.0 for f in per])
                for _ in range(any(f.p()["successes_per_usd"] is not None for f in per))
            ],
        ),
        (
            _panel("bars", "Spend by swarm type", "currencyUSD"),
            [series(t, [f.by_type().get(t, 0.0) for f in per]) for t in types],
        ),
        (
            # The longest, not the mean: one crisis of 600 minutes was averaged away.
            _panel("bars", "Longest crisis (minutes)", "short"),
            [series("longest", [_longest_minutes(f) for f in per])],
        ),
    ]
    out = []
    for i, (panel, data) in enumerate(drawn):
        path = folder / f"{stem}-trend{i + 1}.png"
        write_atomic(path, charts.draw(panel, data, start, end, config.schedule.timezone))
        out.append((panel.title, path))
    return out


def _longest_minutes(f: Figures) -> float:
    """The longest crisis that began in the bucket, in minutes (those not over yet: so
    far)."""
    return max(((e or f.end) - s for s, e in f.crises), default=0.0) / 60


def _panel(kind: Kind, title_: str, unit: str) -> Panel:
    return Panel(kind, title_, "", unit, ())


def write(
    config: Config,
    store: Store,
    situation: Situation,
    start: float,
    end: float,
    folder: Path,
    stem: str,
    prometheus: bool = True,
) -> list[Path]:
    """The review as `folder/stem.md`, its store charts and (with `prometheus`) the
    dashboards' panels over the period: the review's path, then the charts'."""
    folder.mkdir(parents=True, exist_ok=True)
    drawn = draw_store_charts(config, store, start, end, folder, stem)
    prom = prometheus_figures(config, start, end) if prometheus else None
    body = text(config, store, situation, start, end, prom)
    body += "\n## Trends\n\n" + "".join(f"![{t}]({p.name})\n\n" for t, p in drawn)
    pngs = [p for _, p in drawn]
    if prometheus:
        section, more = charts_section(config, start, end, folder, stem)
        body += section
        pngs += more
    path = folder / f"{stem}.md"
    write_atomic(path, body.encode())
    return [path, *pngs]
