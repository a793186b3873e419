"""Budget: spend per period and swarm type, $ per improvement, tiers crossed (B, T5)."""

from __future__ import annotations

from warden.config import Config
from warden.dashboards.spec import Board, Panel, Query, Section, Steps, alert_steps

RATIO = "max(warden_budget_spend_usd / warden_budget_cap_usd)"


def tier_steps(config: Config) -> Steps:
    """Red from the notify tier (the Budget* alerts are critical), dark red
    once spending stops."""
    t = config.budget.tiers
    return (*alert_steps("BudgetNearlyExhausted", t["notify"], ">="), (t["stop"], "dark-red"))


def budget_ratio(config: Config, width: int = 6) -> Panel:
    t = config.budget.tiers
    return Panel(
        "stat",
        "Budget spent",
        f"Spend of the current period against its cap. Tiers: {t['notify']:.0%} a person is"
        f" told, {t['kill_non_critical']:.0%} non-critical swarms stop, {t['critical_only']:.0%}"
        f" only CRITICAL, {t['stop']:.0%} nothing, then only CRITICAL until the next day.",
        "percentunit",
        (Query(RATIO, always=True),),
        steps=tier_steps(config),
        width=width,
        height=4,
        alert="BudgetNearlyExhausted",
    )


def runs_out_in(width: int = 6) -> Panel:
    return Panel(
        "stat",
        "Budget runs out in",
        "Forecast: what is left of this period's cap at the last hour's spending rate."
        " Very large when nothing is spent.",
        "s",
        (
            Query(
                "max(warden_budget_remaining_usd)"
                " / clamp_min(sum(rate(warden_ledger_spend_usd_total[1h])), 1e-9)",
            ),
        ),
        width=width,
        height=4,
    )


def spend_against_cap(width: int = 12) -> Panel:
    return Panel(
        "series",
        "Spend against the cap",
        "Spend of the current period and its cap; the period changes with the mode"
        " (day, night, maintenance, crisis).",
        "currencyUSD",
        (
            Query("max by (period) (warden_budget_spend_usd)", "spent ({{period}})", always=True),
            Query("max by (period) (warden_budget_cap_usd)", "cap ({{period}})", always=True),
        ),
        width=width,
        height=7,
    )


def _now(config: Config) -> Section:
    return Section(
        "This period",
        (
            Panel(
                "stat",
                "Spent",
                "Spend in the current budget period, from the ledger.",
                "currencyUSD",
                (Query("max(warden_budget_spend_usd)", always=True),),
                width=6,
                height=4,
            ),
            Panel(
                "stat",
                "Cap",
                "The current period's cap (M1-M4: day, night, maintenance, crisis).",
                "currencyUSD",
                (Query("max(warden_budget_cap_usd)", always=True),),
                width=6,
                height=4,
            ),
            budget_ratio(config),
            runs_out_in(),
            spend_against_cap(width=24),
        ),
    )


def _spend(config: Config) -> Section:
    return Section(
        "Where it goes",
        (
            Panel(
                "bars",
                "Spend per swarm type per hour",
                "What each swarm type cost in each hour (the ledger's per-run totals).",
                "currencyUSD",
                (Query("sum by (type) (increase(warden_ledger_spend_usd_total[1h]))", "{{type}}"),),
                width=12,
                height=8,
                stacked=True,
            ),
            Panel(
                "series",
                "Spend per swarm type, last day",
                "Each type's spend over the last 24 h (L3).",
                "currencyUSD",
                (Query("type:warden_spend_usd:increase_1d", "{{type}}"),),
                width=12,
                height=8,
            ),
            Panel(
                "series",
                "$ per improvement",
                "Spend per successful swarm: the last hour overall (P3) and the last day by type.",
                "currencyUSD",
                (
                    Query("job:warden_spend_usd_per_improvement:ratio_1h", "all, 1h"),
                    Query("type:warden_spend_usd_per_success:ratio_1d", "{{type}}, 1d"),
                ),
                width=12,
                height=8,
            ),
            Panel(
                "bars",
                "Tiers crossed",
                "Budget tier alerts firing; the highest tier silences the lower ones in"
                " Alertmanager, all show here.",
                "short",
                (
                    Query(
                        'count by (alertname) (ALERTS{alertstate="firing", alertname=~"Budget.*"})',
                        "{{alertname}}",
                    ),
                ),
                steps=((None, "red"),),
                width=12,
                height=8,
                stacked=True,
            ),
        ),
    )


def board(config: Config) -> Board:
    return Board(
        "warden-budget",
        "Warden / Budget",
        "What Warden spends, on what, and how close the cap is.",
        (_now(config), _spend(config)),
    )
