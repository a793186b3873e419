"""`warden.yml` as one schema: every key, its kind, its default and what it means.

This is the one place a setting is declared. `load.py` checks a file against
it, `warden check-config --schema` prints it as JSON Schema (shipped as
`warden.schema.json` for editors), and the reference table in
docs/configuration.md is rendered from it; tests fail when the shipped
`warden.yml`, the JSON file or the table disagree with it.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from warden.config.collectors import Collectors
from warden.config.section import Section, key
from warden.config.sections import (
    Alerts,
    Budget,
    Escalation,
    Exporter,
    Learning,
    Modes,
    Project,
    Responder,
    Schedule,
    Stack,
)
from warden.config.swarms import Swarms
from warden.config.values import Text


class WardenFile(Section):
    """Warden's one config file. Every component reads it."""

    project: Project = key({}, description="the watched project")
    exporter: Exporter = key({}, description="`warden exporter`")
    stack: Stack = key({}, description="`warden up`: Prometheus and Alertmanager")
    responder: Responder = key({}, description="`warden responder`")
    state_dir: Annotated[str, Text()] = key(
        ".warden", description="everything Warden keeps (log offsets, the database, agent logs)"
    )
    secrets_dir: Annotated[str, Text()] | None = key(
        None, description="the passwords between the parts; null: state_dir/secrets"
    )
    collectors: Collectors = key({}, description="what the exporter watches")
    budget: Budget = key({}, description="B: caps, ceilings and tiers")
    alerts: Alerts = key({}, description="every alert threshold")
    schedule: Schedule = key({}, description="the project's day")
    modes: Modes = key({}, description="M1-M4: how each mode runs")
    swarms: Swarms = key({}, description="what Warden starts")
    learning: Learning = key({}, description="L: how swarms' types and sizes are chosen")
    escalation: Escalation = key(
        {}, description="N1: a problem's bigger swarm, then a person, then no more spend"
    )


def json_schema() -> str:
    """The file's JSON Schema, as shipped in `warden.schema.json`."""
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **WardenFile.model_json_schema(),
    }
    return json.dumps(schema, indent=2, sort_keys=False) + "\n"
