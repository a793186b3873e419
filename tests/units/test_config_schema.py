"""The schema is the one place a setting is declared: the shipped JSON Schema, the
shipped `warden.yml` and the reference table in docs/configuration.md must say
what it says, and the JSON Schema must refuse what `warden check-config` refuses."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from pydantic.fields import FieldInfo

from warden.config.reference import BEGIN, END, keys, markdown
from warden.config.refusals import section_of
from warden.config.schema import WardenFile, json_schema

REPO = Path(__file__).resolve().parents[2]
SHIPPED = yaml.safe_load((REPO / "warden.yml").read_text(encoding="utf-8"))

EXAMPLE_VALUES = {
    "project.dir": "the demo project",
    "collectors.build.command": "the demo's build",
    "collectors.tests.command": "the demo's tests",
    "collectors.tests.junit_report": "the demo's report",
    "collectors.tests.run_on_change": "a mended demo is seen at once",
    "collectors.typecheck.command": "the demo's checker",
    "collectors.typecheck.run_on_change": "type errors show on save",
    "collectors.coverage.path": "the demo's report",
    "collectors.logs.sources": "the demo's log",
    "collectors.host.paths": "the demo's folder",
    "collectors.probes.enabled": "the demo has no OpenClaw gateway",
    "collectors.probes.http": "OpenClaw's readiness",
    "collectors.probes.commands": "OpenClaw's own health",
    "collectors.agents.patterns": "Claude Code's processes",
    "responder.recoveries": "OpenClaw's restart, shown",
    "swarms.command": "the fake agent, which prints what Claude Code prints",
    "swarms.user": "agents never run as root",
    "swarms.cwd": "the demo project",
    "swarms.types": "two types, shown",
    "budget.ceilings.day": "written out: the CRISIS cap it defaults to",
}
"""Keys whose shipped value is not the default, each for its reason (its comment in
warden.yml gives the default)."""


def _at(value: Any, path: str) -> Any:
    for key in path.split("."):
        value = value[key]
    return value


def _top_keys() -> dict[str, FieldInfo]:
    """Every key a file may write outside the lists and mappings it names itself."""
    return {
        path: info for path, info in keys(WardenFile, "") if "[]" not in path and "<" not in path
    }


def _one_section(info: FieldInfo) -> bool:
    section, many = section_of(info)
    return section is not None and not many


def test_the_shipped_json_schema_is_the_schema() -> None:
    shipped = (REPO / "warden.schema.json").read_text(encoding="utf-8")
    assert shipped == json_schema(), "run: warden check-config --schema > warden.schema.json"
    printed = subprocess.run(
        [sys.executable, "-m", "warden.shell.cli", "check-config", "--schema"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert printed.stdout == shipped


def test_the_shipped_config_names_its_schema_for_editors() -> None:
    first = (REPO / "warden.yml").read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=warden.schema.json"


def test_the_json_schema_accepts_the_shipped_configs() -> None:
    validator = jsonschema.Draft202012Validator(yaml.safe_load(json_schema()))
    for config in ("warden.yml", "deploy/compose/warden.yml"):
        data = yaml.safe_load((REPO / config).read_text(encoding="utf-8"))
        assert [e.message for e in validator.iter_errors(data)] == [], config


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("collectors.build.timout", "5m"),
        ("colectors", {}),
        ("swarms.types.bugfix.sise", 2),
        ("alerts.rules.BuildFailing.failure", 2),
        ("alerts.rules.NoSuchAlert", {}),
        ("collectors.git.interval", "5 minutes"),
        ("collectors.git.interval", 30),
        ("collectors.build.enabled", "yes"),
        ("collectors.build.output_tail_bytes", "lots"),
        ("collectors.build.command", "npm run build"),
        ("collectors.coverage.format", "xml"),
        ("modes.NIGHT.priorities", ["URGENT"]),
        ("budget.caps.ACTIVE", -1),
        ("collectors.build.change_poll_interval", "1s"),
    ],
)
def test_the_json_schema_refuses_what_check_config_refuses(
    path: str, value: Any, tmp_path: Path
) -> None:
    data = copy.deepcopy(SHIPPED)
    *parents, last = path.split(".")
    where = data
    for key in parents:
        where = where[key]
    where[last] = value
    validator = jsonschema.Draft202012Validator(yaml.safe_load(json_schema()))
    assert list(validator.iter_errors(data)), f"the JSON Schema accepts {path}: {value!r}"
    from warden.config import ConfigError, load_config

    cfg = tmp_path / "warden.yml"
    cfg.write_text(yaml.safe_dump(data), encoding="utf-8")
    (tmp_path / "examples").symlink_to(REPO / "examples")
    with pytest.raises(ConfigError) as refused:
        load_config(cfg, check_programs=False)
    assert any(p.startswith(path) for p in refused.value.problems), refused.value.problems


def _places(value: Any, at: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Every key and list item of a config, as the path to it."""
    items = value.items() if isinstance(value, dict) else enumerate(value)
    out: list[tuple[str | int, ...]] = []
    for key, inner in items:
        out.append((*at, key))
        if isinstance(inner, dict | list):
            out += _places(inner, (*at, key))
    return out


KINDS_OF_VALUE = [None, True, 0, -1, 1.5, "x", "30s", "", [], ["a"], {}, {"k": "v"}, "::1:9"]
JSON_CANNOT_SAY = {
    "schedule.timezone": "which names the host's time zone database knows",
    "budget.tiers": "that the tiers rise (an order between keys)",
}
"""What only check-config judges: the JSON Schema describes each value on its own."""
VALIDATOR = jsonschema.Draft202012Validator(json.loads(json_schema()))


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.sampled_from(_places(SHIPPED)), st.sampled_from(KINDS_OF_VALUE))
def test_the_json_schema_and_check_config_agree(place: tuple[str | int, ...], value: Any) -> None:
    """Any key or item of the shipped config set to a value of any kind: the JSON
    Schema accepts it exactly when the schema's check does."""
    path = ".".join(str(k) for k in place)
    assume(not any(path.startswith(p) for p in JSON_CANNOT_SAY))
    data = copy.deepcopy(SHIPPED)
    where = data
    for key in place[:-1]:
        where = where[key]
    where[place[-1]] = value
    try:
        WardenFile.model_validate(data)
        checked = True
    except ValidationError:
        checked = False
    assert VALIDATOR.is_valid(data) == checked, f"{path}: {value!r}"


def test_the_shipped_config_shows_every_key() -> None:
    missing = []
    for path in _top_keys():
        try:
            _at(SHIPPED, path)
        except KeyError:
            missing.append(path)
    assert missing == []


def test_the_shipped_config_writes_the_defaults() -> None:
    """As the file writes them: `30s` is not `0.5m` here, so the comparison is of text."""
    differ = {
        path
        for path, info in _top_keys().items()
        if not _one_section(info) and _at(SHIPPED, path) != info.default
    }
    assert differ == set(EXAMPLE_VALUES)


def test_the_docs_table_is_the_schema() -> None:
    page = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert BEGIN in page and END in page
    table = page[page.index(BEGIN) : page.index(END) + len(END)] + "\n"
    assert table == markdown(), "run: warden check-config --reference, and paste it there"
