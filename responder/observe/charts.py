"""Charts for the reports (J10's daily summary, `warden report`): dashboard
panels drawn from Prometheus range queries with matplotlib, as PNG files
beside the Markdown.

The charts are the dashboards' own panels (`warden.dashboards`), so a report
shows what Grafana would, for a person who reads the report and never opens
Grafana (and for the docs: Grafana does not run on the build machine).
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import json
import math
import re
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from warden import auth
from warden.atomicfile import write_atomic
from warden.auth import Credentials
from warden.config import Config
from warden.dashboards import boards
from warden.dashboards.spec import Panel, at_all

# What a report shows: budget burn against the cap, swarm outcomes by type,
# coverage and errors over the period, the mode and escalation timeline.
CHARTS: tuple[tuple[str, str, str], ...] = (
    ("budget", "warden-overview", "Spend against the cap"),
    ("outcomes", "warden-overview", "Swarm outcomes by type"),
    ("coverage", "warden-overview", "Coverage over time"),
    ("errors", "warden-pipeline", "Error log lines per minute"),
    ("mode", "warden-overview", "Mode over time"),
    ("escalation", "warden-overview", "Escalation over time"),
)
COLOURS = {"dark-red": "darkred"}  # Grafana's names matplotlib lacks
POINTS = 240  # samples per chart


@dataclass(frozen=True)
class Series:
    name: str
    times: list[float]
    values: list[float]


class PrometheusUnavailable(Exception):
    pass


def chart_panels(config: Config) -> list[tuple[str, Panel]]:
    found = {(b.uid, p.title): p for b in boards(config) for p in b.panels()}
    return [(name, found[(uid, title)]) for name, uid, title in CHARTS]


def _api(url: str, credentials: Credentials, path: str, params: dict[str, Any]) -> Any:
    target = f"{url.rstrip('/')}/api/v1/{path}?{urllib.parse.urlencode(params)}"
    try:
        return json.loads(auth.fetch(target, credentials, timeout=10))["data"]["result"]
    except (OSError, ValueError, KeyError) as exc:
        raise PrometheusUnavailable(f"{url}: {exc}") from exc


def query_range(
    url: str, credentials: Credentials, expr: str, start: float, end: float, step: float
) -> list[dict[str, Any]]:
    params = {"query": at_all(expr), "start": start, "end": end, "step": step}
    result: list[dict[str, Any]] = _api(url, credentials, "query_range", params)
    return result


def instant(url: str, credentials: Credentials, expr: str, at: float) -> float | None:
    """The first value of `expr` at `at`; None when it has none."""
    result = _api(url, credentials, "query", {"query": expr, "time": at})
    return float(result[0]["value"][1]) if result else None


def prometheus_credentials(config: Config) -> Credentials:
    """Prometheus' credentials; PrometheusUnavailable when they cannot be read."""
    try:
        return auth.Secrets(config.secrets_dir).credentials(auth.PROMETHEUS)
    except auth.SecretError as exc:
        raise PrometheusUnavailable(str(exc)) from exc


def legend(fmt: str, labels: dict[str, str]) -> str:
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), fmt).strip()


def fetch(
    url: str, credentials: Credentials, panel: Panel, start: float, end: float
) -> list[Series]:
    step = max(15.0, (end - start) / POINTS)
    out = []
    for q in panel.queries:
        for r in query_range(url, credentials, q.expr, start, end, step):
            pairs = [(float(t), float(v)) for t, v in r["values"]]
            name = legend(q.legend, r["metric"]) or panel.title
            out.append(Series(name, [t for t, _ in pairs], [v for _, v in pairs]))
    return out


def draw(panel: Panel, series: Sequence[Series], start: float, end: float, tz: Any) -> bytes:
    """The panel as a PNG image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    tall = 2.2 if panel.kind == "timeline" else 3.4
    fig, ax = plt.subplots(figsize=(9, tall), dpi=100)
    ax.set_title(panel.title, loc="left", fontsize=11)
    if not series:
        ax.text(
            0.5, 0.5, "no data in this period", ha="center", va="center", transform=ax.transAxes
        )
    elif panel.kind == "timeline":
        _timeline(ax, panel, series[0], (end - start) / POINTS)
    elif panel.kind == "bars":
        # Counters start at zero for every label set; bars of nothing only crowd the legend.
        _bars(ax, [s for s in series if any(s.values)] or series)
    else:
        for s in series:
            ax.plot([_day(t) for t in s.times], s.values, label=s.name, linewidth=1.4)
    if panel.kind != "timeline":
        _value_axis(ax, panel, bool(series))
    ax.set_xlim(_day(start), _day(end))
    fmt = "%a %d %b" if end - start > 2 * 86400 else "%H:%M" if end - start >= 3600 else "%H:%M:%S"
    ax.xaxis.set_major_formatter(
        FuncFormatter(lambda v, _: dt.datetime.fromtimestamp(v * 86400.0, tz).strftime(fmt))
    )
    fig.tight_layout()
    png = io.BytesIO()
    fig.savefig(png, format="png")
    plt.close(fig)
    return png.getvalue()


def _day(t: float) -> float:
    """matplotlib's dates: days since 1970-01-01."""
    return t / 86400.0


def _colour(name: str) -> str:
    return COLOURS.get(name, name)


def _timeline(ax: Any, panel: Panel, s: Series, last: float) -> None:
    """A state over time as coloured spans (`last`: how long the last point stands)."""
    from matplotlib.patches import Patch

    texts = {float(v): (text, _colour(c)) for v, text, c in panel.mappings}
    for i, (t, v) in enumerate(zip(s.times, s.values, strict=True)):
        t1 = s.times[i + 1] if i + 1 < len(s.times) else t + last
        ax.axvspan(_day(t), _day(t1), color=texts.get(v, ("?", "grey"))[1], linewidth=0)
    seen = sorted({v for v in s.values if v in texts})
    ax.legend(
        handles=[Patch(color=texts[v][1], label=texts[v][0]) for v in seen],
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
        fontsize=8,
        frameon=False,
    )
    ax.set_yticks([])


def _bars(ax: Any, series: Sequence[Series]) -> None:
    """Stacked bars, one stack per point in time."""
    times = series[0].times
    width = (times[1] - times[0]) / 86400.0 if len(times) > 1 else 0.01
    bottoms: dict[float, float] = {}
    for s in series:
        base = [bottoms.get(t, 0.0) for t in s.times]
        ax.bar([_day(t) for t in s.times], s.values, width=width, bottom=base, label=s.name)
        for t, v in zip(s.times, s.values, strict=True):
            bottoms[t] = bottoms.get(t, 0.0) + v


def money_places(ticks: Sequence[float]) -> int:
    """Decimal places that tell every tick of a dollar axis apart: 2, or more for
    cents' fractions (issue 29: $0.02, $0.02, $0.01 on a spend axis)."""
    steps = [b - a for a, b in itertools.pairwise(ticks) if b > a]
    if not steps:
        return 2
    step = min(steps)
    # The fewest places that write the ticks' step exactly (0.0025: 4), 6 at most.
    return next((p for p in range(2, 7) if math.isclose(round(step, p), step)), 6)


def _value_axis(ax: Any, panel: Panel, legend: bool) -> None:
    """The thresholds as dashed lines, the unit on the value axis, the legend."""
    from matplotlib.ticker import FuncFormatter, PercentFormatter

    for value, name in panel.steps[1:]:
        if value is not None:
            ax.axhline(value, color=_colour(name), linestyle="--", linewidth=1)
    if panel.unit == "percentunit":
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    elif panel.unit == "currencyUSD":
        places = money_places(list(ax.get_yticks()))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"${v:,.{places}f}"))
    elif panel.unit == "s":
        ax.set_ylabel("seconds")
    if legend:
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    ax.grid(alpha=0.3)


def render(
    config: Config, start: float, end: float, folder: Path, prefix: str
) -> list[tuple[Panel, Path]]:
    """Every chart of the period as `folder/prefix-NAME.png`, with the panel it
    draws; raises PrometheusUnavailable when Prometheus does not answer."""
    url = config.responder.prometheus_url
    secret = prometheus_credentials(config)
    drawn = []
    for name, panel in chart_panels(config):
        path = folder / f"{prefix}-{name}.png"
        series = fetch(url, secret, panel, start, end)
        png = draw(panel, series, start, end, config.schedule.timezone)
        write_atomic(path, png)
        drawn.append((panel, path))
    return drawn
