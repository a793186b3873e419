"""Warden's one config file, `warden.yml`, as typed and validated settings.

Every component reads the same file through `load_config`. Each setting is
declared once, with its default, in the schema (`schema.py` and the sections
it names); `load.py` checks a file against it and resolves what it means into
the settings the parts use (`settings.py`). One rule for paths, as in
Prometheus' own config: a relative path is relative to the config file's
folder, in every key and every component. Commands are argument lists run in
`project.dir`, as a person would type them there.
"""

from warden.config.listen import Listen, parse_listen
from warden.config.load import load_config
from warden.config.problems import ConfigError
from warden.config.settings import (
    AgentPattern,
    AgentsSettings,
    AlertSettings,
    AlertValue,
    BudgetSettings,
    CommandCheck,
    CommandProbe,
    Config,
    CoverageSettings,
    EscalationSettings,
    ExporterSettings,
    GitSettings,
    HostSettings,
    HttpProbe,
    LearningSettings,
    LogSource,
    LogsSettings,
    ModeSettings,
    PolicySettings,
    ProbesSettings,
    Recovery,
    ResponderSettings,
    ScheduleSettings,
    StackSettings,
    SwarmType,
    TestsSettings,
    TypecheckSettings,
)

__all__ = [
    "AgentPattern",
    "AgentsSettings",
    "AlertSettings",
    "AlertValue",
    "BudgetSettings",
    "CommandCheck",
    "CommandProbe",
    "Config",
    "ConfigError",
    "CoverageSettings",
    "EscalationSettings",
    "ExporterSettings",
    "GitSettings",
    "HostSettings",
    "HttpProbe",
    "LearningSettings",
    "Listen",
    "LogSource",
    "LogsSettings",
    "ModeSettings",
    "PolicySettings",
    "ProbesSettings",
    "Recovery",
    "ResponderSettings",
    "ScheduleSettings",
    "StackSettings",
    "SwarmType",
    "TestsSettings",
    "TypecheckSettings",
    "load_config",
    "parse_listen",
]
