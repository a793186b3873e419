"""Level 3 in simulation (issue 15): does the learning put the spend where it pays?

`responder/simulate/scenarios/learning.yml`: J2 refills the swarms with one of two
types, coverage (80 % success, about $2 a run) or review (30 %, about $3),
nothing else goes wrong. The responder's own core runs it under
`warden simulate`'s virtual clock:

- 4 weeks with learning on, and 4 with it off (J2 takes the two in turn):
  per week, the share of J2's spend on coverage and J2's successes per dollar;
- 2 weeks with learning on where coverage turns bad (5 % success) at the
  start of day 8: how long until J2's starts moved away from it (the first
  start after which at most 3 of the last 10 were coverage), and the share of
  J2's spend on coverage in each of the 2 days after;
- three types whose best changes twice (issue 29): coverage is best, then
  review from day 3, then improvement from day 5 (80 % success against 20 %, at
  one cost), each type at two sizes: the active hours (the day's, when J2
  refills) from each change until 7 of 10 of J2's starts go to the new best;
- a lying type (issue 28): improvement's agents claim success 90 % of the time
  but the checks take 20 % of that work, against coverage's 80 % all verified,
  at the same cost. 4 weeks with the swarms working apart (their work checked
  on the simulated project) and learning on, then off, and with learning on but
  the agents' word believed (`isolation: none`): per week, the share of J2's
  spend on coverage.

The runs go in two processes at once.

Run: .venv/bin/python -m bench.learning [--weeks 4] [--seed 1]
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from responder.simulate.run import Ran, Report, simulate
from responder.simulate.scenario import DEFAULT_SCENARIO, AgentPlan, Scenario, load_scenario
from tests.conftest import write_config
from warden.config import load_config

SCENARIO = DEFAULT_SCENARIO.with_name("learning.yml")
BETTER, WORSE = "coverage", "review"
WORK = "J2"
SHIFT_DAY = 8
"""The day (1-based) coverage turns bad in the shifted run: halfway through 2 weeks."""
BAD = AgentPlan((1800.0, 5400.0), (1.8, 2.2), {"succeed": 5, "fail": 95})
MOVED_WINDOW, MOVED_AT_MOST = 10, 3
LIAR = "improvement"
LYING = AgentPlan((1800.0, 5400.0), (1.8, 2.2), {"succeed": 90, "fail": 10}, verifies=0.2)
"""Claims success 90 % of the time; the checks take a fifth of that."""


@dataclass(frozen=True)
class Trial:
    """Which types J2 chooses between, and how they work."""

    worse: str = WORSE
    plans: dict[str, AgentPlan] = field(default_factory=dict)
    """Plans replacing the scenario's from the first day."""
    apart: bool = False
    """The swarms work apart and their work is checked (else their word is believed)."""


GOOD = AgentPlan((1800.0, 5400.0), (1.8, 2.2), {"succeed": 80, "fail": 20})
POOR = AgentPlan((1800.0, 5400.0), (1.8, 2.2), {"succeed": 20, "fail": 80})
THREE = ("coverage", "review", "improvement")
CHANGES = ((3, {"coverage": POOR, "review": GOOD}), (5, {"review": POOR, "improvement": GOOD}))
"""The best of THREE changes at the start of day 3 and of day 5."""
FOLLOWED_WINDOW, FOLLOWED_AT_LEAST = 10, 7
LIES = Trial(LIAR, {LIAR: LYING}, apart=True)
BELIEVED = dataclasses.replace(LIES, apart=False)


def run(
    learning: bool,
    days: float,
    seed: int,
    shift: bool = False,
    review: Path | None = None,
    trial: Trial = Trial(),
) -> Report:
    """One simulated run of the learning scenario (its last week's review in `review`)."""
    logging.getLogger("responder").setLevel(logging.ERROR)
    scenario = load_scenario(SCENARIO)
    scenario = dataclasses.replace(scenario, agents={**scenario.agents, **trial.plans})
    if shift:
        scenario = dataclasses.replace(scenario, changes=((SHIFT_DAY, {BETTER: BAD}),))
    with tempfile.TemporaryDirectory(prefix="warden-learning-") as tmp:
        folder = Path(tmp)
        isolation = "worktree" if trial.apart else "none"
        cfg = write_config(
            folder / "warden.yml",
            f"""\
state_dir: {folder / "unused"}
swarms: {{retries: 0, timeout: 2h, budget_usd: 5, isolation: {isolation}}}
learning:
  enabled: {str(learning).lower()}
  sizes: [1]
  choices: {{{WORK}: [{trial.worse}, {BETTER}]}}
""",
        )
        # The run's own state goes to a memory-backed folder where there is one.
        config = load_config(cfg, check_programs=False)
        return simulate(config, scenario, days, seed, review_dir=review)


def changing(seed: int, days: float = 7.0) -> Report:
    """The three types whose best changes twice, each at two sizes (the learning's
    default: its configured size and one more)."""
    logging.getLogger("responder").setLevel(logging.ERROR)
    scenario = load_scenario(SCENARIO)
    plans = {"coverage": GOOD, "review": POOR, "improvement": POOR}
    scenario = dataclasses.replace(scenario, agents={**scenario.agents, **plans}, changes=CHANGES)
    with tempfile.TemporaryDirectory(prefix="warden-learning-") as tmp:
        folder = Path(tmp)
        cfg = write_config(
            folder / "warden.yml",
            f"""state_dir: {folder / "unused"}
swarms: {{retries: 0, timeout: 2h, budget_usd: 5, isolation: none}}
learning: {{choices: {{{WORK}: [{", ".join(THREE)}]}}}}
""",
        )
        return simulate(load_config(cfg, check_programs=False), scenario, days, seed)


def active_hours(start: float, end: float, scenario: Scenario) -> float:
    """Hours of the day (07:00 to 23:00 by the scenario's clock, when J2 refills) in
    [start, end)."""
    del scenario  # the learning scenario's clock is UTC, with the shipped schedule
    hours, t = 0.0, start
    while t < end:
        day = t - t % 86400
        lo, hi = max(t, day + 7 * 3600), min(end, day + 23 * 3600)
        hours += max(0.0, hi - lo) / 3600
        t = day + 86400
    return hours


def followed(report: Report, scenario: Scenario) -> list[float | None]:
    """Per change: the active hours until 7 of 10 of J2's starts (from one on) went to
    the new best; None if that never happened before the next change."""
    ran = [r for r in report.swarms if r.work == WORK]
    start = scenario.start.timestamp()
    out: list[float | None] = []
    for i, (day, plans) in enumerate(CHANGES):
        change = start + (day - 1) * 86400
        end = start + (CHANGES[i + 1][0] - 1) * 86400 if i + 1 < len(CHANGES) else float("inf")
        best = next(t for t, p in plans.items() if p is GOOD)
        after = [r for r in ran if change <= r.at < end]
        hit = next(
            (
                r
                for j, r in enumerate(after)
                if sum(x.type == best for x in after[j : j + FOLLOWED_WINDOW]) >= FOLLOWED_AT_LEAST
            ),
            None,
        )
        out.append(None if hit is None else active_hours(change, hit.at, scenario))
    return out


def work(report: Report, worse: str = WORSE) -> list[Ran]:
    return [r for r in report.swarms if r.work == WORK and r.type in (BETTER, worse)]


def weekly(report: Report, scenario: Scenario, worse: str = WORSE) -> list[tuple[float, float]]:
    """Per week: (share of J2's spend on the better type, J2's successes per dollar)."""
    start = scenario.start.timestamp()
    weeks: dict[int, list[Ran]] = {}
    for r in work(report, worse):
        weeks.setdefault(int((r.at - start) // (7 * 86400)), []).append(r)
    return [figures(weeks.get(w, [])) for w in range(max(weeks, default=-1) + 1)]


def figures(runs: list[Ran]) -> tuple[float, float]:
    spend = sum(r.spend_usd for r in runs)
    better = sum(r.spend_usd for r in runs if r.type == BETTER)
    successes = sum(r.state == "succeeded" for r in runs)
    return (better / spend if spend else 0.0, successes / spend if spend else 0.0)


def moved_away_seconds(report: Report, scenario: Scenario) -> float | None:
    """From the change to the first J2 start after which at most 3 of the last 10
    starts were the type that turned bad; None if that never happened."""
    change = scenario.start.timestamp() + (SHIFT_DAY - 1) * 86400
    ran = work(report)
    for i, r in enumerate(ran):
        last = ran[max(0, i + 1 - MOVED_WINDOW) : i + 1]
        if r.at >= change and sum(x.type == BETTER for x in last) <= MOVED_AT_MOST:
            return r.at - change
    return None


def shares_after_change(report: Report, scenario: Scenario, days: int = 2) -> list[float]:
    """The share of J2's spend on the type that turned bad, in each day after the change."""
    change = scenario.start.timestamp() + (SHIFT_DAY - 1) * 86400
    ran = work(report)
    return [
        figures([r for r in ran if change + d * 86400 <= r.at < change + (d + 1) * 86400])[0]
        for d in range(days)
    ]


def runs(weeks: int, seed: int, review: Path | None = None) -> tuple[Report, Report, Report]:
    """Learning on and off for `weeks`, and on with the change halfway through 2 weeks;
    two processes at once. The run with learning on writes its last week's review to
    `review`."""
    days = 7.0 * weeks
    with ProcessPoolExecutor(2) as pool:
        on = pool.submit(run, True, days, seed, False, review)
        off = pool.submit(run, False, days, seed)
        shifted = pool.submit(run, True, 2 * (SHIFT_DAY - 1), seed, True)
        return on.result(), off.result(), shifted.result()


def lying_runs(weeks: int, seed: int) -> dict[str, Report]:
    """The lying type's runs: checked with learning on and off, believed with it on."""
    days = 7.0 * weeks
    with ProcessPoolExecutor(2) as pool:
        started = {
            "checked, learning on": pool.submit(run, True, days, seed, trial=LIES),
            "checked, learning off": pool.submit(run, False, days, seed, trial=LIES),
            "believed, learning on": pool.submit(run, True, days, seed, trial=BELIEVED),
        }
        return {name: done.result() for name, done in started.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weeks", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--review", default="bench/out/learning", help="folder for the last week's review"
    )
    args = parser.parse_args()
    scenario = load_scenario(SCENARIO)
    on, off, shift = runs(args.weeks, args.seed, Path(args.review))
    reports = {"on": on, "off": off}
    print(f"learning scenario, {args.weeks} simulated weeks, seed {args.seed}")
    print("week | learning | share of J2 spend on coverage | J2 successes per $")
    for name, report in reports.items():
        for w, (share, per) in enumerate(weekly(report, scenario), 1):
            print(f"{w:4} | {name:8} | {share:29.1%} | {per:.3f}")
    for name, report in reports.items():
        print(
            f"whole run, learning {name}: {figures(work(report))[1]:.3f} successes per $ "
            f"({report.wall_seconds:.1f} s of wall time)"
        )
    moved = moved_away_seconds(shift, scenario)
    print(
        f"coverage turned bad at day {SHIFT_DAY}: J2 moved away after "
        + ("never" if moved is None else f"{moved / 3600:.1f} simulated hours")
        + "; coverage's share of J2 spend in the days after: "
        + ", ".join(f"{s:.1%}" for s in shares_after_change(shift, scenario))
    )
    for path in on.written[:1]:
        print(f"the last week's review, learning on: {path}")
    three = changing(args.seed)
    print(
        f"three types, the best changing on days {CHANGES[0][0]} and {CHANGES[1][0]}: active "
        "hours until 7 of 10 J2 starts went to the new best: "
        + ", ".join("never" if h is None else f"{h:.1f}" for h in followed(three, scenario))
        + f" ({three.wall_seconds:.1f} s of wall time)"
    )
    lying = lying_runs(args.weeks, args.seed)
    print(
        f"a lying type: {LIAR} claims success 90 % and verifies 20 % of it, {BETTER} "
        "claims 80 % and verifies all; share of J2 spend on coverage"
    )
    print("week | " + " | ".join(lying))
    by_week = [weekly(r, scenario, LIAR) for r in lying.values()]
    for w in range(max(len(b) for b in by_week)):
        shares = (f"{b[w][0]:.1%}" if w < len(b) else "-" for b in by_week)
        print(f"{w + 1:4} | " + " | ".join(shares))
    for name, report in lying.items():
        verified = sum(r.outcome == "verified" for r in work(report, LIAR))
        print(
            f"{name}: {verified} verified of {len(work(report, LIAR))} J2 swarms, "
            f"{report.wall_seconds:.1f} s of wall time"
        )
    for report in (*reports.values(), shift, three, *lying.values()):
        if report.broken:
            print("BROKEN", report.broken)


if __name__ == "__main__":
    main()
