"""Read `warden.yml`: parse the YAML, check it against the schema, then resolve what
it means; every problem of the file is reported at once, naming its key."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml
from pydantic import ValidationError

from warden.config.hostchecks import check_host
from warden.config.place import Place
from warden.config.problems import ConfigError, Problems
from warden.config.refusals import problems_of
from warden.config.resolve import resolve
from warden.config.schema import WardenFile
from warden.config.settings import Config


def load_config(file: Path | str, check_programs: bool = True) -> Config:
    """Read and validate `file`; raise ConfigError listing every problem found.

    What the schema refuses (a type, a duration, an unknown key) is reported
    first, alone: what a key means cannot be judged from a file that does not
    say it. `check_programs=False` is for commands that only read Warden's
    state (`warden swarm list`, `warden budget`, `warden status`): they start
    no agent, so the agent program need not be on PATH where they run."""
    path = Path(file)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(path, [f"cannot read the config file: {exc.strerror}"]) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(path, [f"not valid YAML: {exc}"]) from exc
    try:
        written = WardenFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(path, problems_of(exc, WardenFile)) from None
    problems = Problems(path)
    config = resolve(written, Place(problems, path.resolve().parent), check_programs)
    if check_programs:
        check_host(problems, config)
    problems.raise_if_any()
    return dataclasses.replace(config, warnings=tuple(problems.warnings))
