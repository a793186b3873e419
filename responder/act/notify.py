"""Tell a person through Alertmanager: the responder posts its own alerts (item 7).

Alertmanager routes `notify="human"` to the `human` receiver (email, Slack,
or by default back to the responder's own log), so a person hears of what the
responder cannot settle by itself, through the same channel as every alert.
Alerts are posted with an end time: if the responder stops re-posting, they
resolve by themselves instead of staying open forever.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time

from warden.auth import Credentials, fetch

log = logging.getLogger(__name__)
REASONS = (
    "budget_exhausted",
    "crisis_unresolved",
    "swarms_failing",
    "pipeline_silent",
    "swarm_type_paused",
    "alert_unresolved",
    "no_progress",
    "work_not_landed",
    "cost_set_aside",
)


def post_human_alert(
    alertmanager_url: str,
    reason: str,
    summary: str,
    description: str,
    now: float,
    valid_for: float = 900.0,
    labels: dict[str, str] | None = None,
    credentials: Credentials | None = None,
) -> bool:
    """POST a HumanNeeded alert to Alertmanager's v2 API; False if it could not be sent.
    `labels` tell apart alerts of one reason (a paused swarm type from another)."""
    assert reason in REASONS, reason
    alert = {
        "labels": {
            **(labels or {}),
            "alertname": "HumanNeeded",
            "severity": "warning",
            "component": "responder",
            "notify": "human",
            "reason": reason,
        },
        "annotations": {
            "summary": summary,
            "description": description,
            "runbook_url": "docs/runbooks.md#humanneeded",
        },
        "startsAt": _rfc3339(now),
        "endsAt": _rfc3339(now + valid_for),
    }
    try:
        fetch(
            alertmanager_url.rstrip("/") + "/api/v2/alerts",
            credentials,
            timeout=5,
            data=json.dumps([alert]).encode(),
            headers={"Content-Type": "application/json"},
        )
        return True
    except OSError as exc:
        log.warning("could not tell Alertmanager (%s): %s", reason, exc)
        return False


def _rfc3339(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat().replace("+00:00", "Z")


class Notifier:
    """This responder's way to a person: its Alertmanager and the credentials it shows.
    Alertmanager judges startsAt/endsAt by the wall clock, whatever clock the
    responder runs on (the simulator's is virtual)."""

    def __init__(self, alertmanager_url: str, credentials: Credentials | None) -> None:
        self.url = alertmanager_url
        self.credentials = credentials

    def tell(
        self, reason: str, summary: str, description: str, labels: dict[str, str] | None = None
    ) -> bool:
        """Tell a person (HumanNeeded); False if it could not be sent."""
        return post_human_alert(
            self.url,
            reason,
            summary,
            description,
            time.time(),
            labels=labels,
            credentials=self.credentials,
        )

    def told(
        self,
        reason: str,
        summary: str,
        description: str,
        labels: dict[str, str] | None = None,
    ) -> str:
        """Tell a person, as a sentence for the decision log."""
        sent = self.tell(reason, summary, description, labels)
        return f"told a person ({reason})" if sent else f"could not tell a person ({reason})"
