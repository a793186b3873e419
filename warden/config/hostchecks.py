"""What the host must allow for a config to work: folders Warden writes, and what
the agents' user must reach. Checked by commands that start something."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from warden.access import User, refusal, which
from warden.config.problems import Problems
from warden.config.resolve_swarms import PLACEHOLDERS
from warden.config.settings import Config, SwarmType


def check_host(problems: Problems, config: Config) -> None:
    _check_own_folders(problems, config)
    _check_agents_reach(problems, config)


def _check_own_folders(problems: Problems, config: Config) -> None:
    """state_dir and secrets_dir are folders Warden writes: a file there, or a folder
    nothing can be written in (`/proc/self`), is refused now rather than at the
    first write of a running responder."""
    refused: list[Path] = []
    for key, folder in (("state_dir", config.state_dir), ("secrets_dir", config.secrets_dir)):
        existing = _nearest(folder)
        if any(r == folder or r in folder.parents for r in refused):
            continue  # inside a folder refused already (secrets_dir's default)
        refused.append(folder)
        if not existing.is_dir():
            problems.add(key, f"{str(existing)!r} is a file, not a folder ({folder} must be one)")
            continue
        try:
            with tempfile.TemporaryFile(dir=existing):
                refused.remove(folder)
        except OSError as exc:
            problems.add(key, f"Warden cannot write in {str(existing)!r} ({exc.strerror})")


def _check_agents_reach(problems: Problems, config: Config) -> None:
    """As root, agents run as `user` (A3), who may not reach what root does: a clone in
    root's home (0700) or in a `mktemp -d` folder. Each type's program and the files
    its arguments name, its working folder, the project and the way to the state
    folder (its context and home are there) must be open to that user; a working
    folder it may not write in is a warning (its agents could not edit it)."""
    if os.geteuid() != 0:
        return
    told: set[tuple[str, Path, str]] = set()
    no_setpriv = shutil.which("setpriv") is None  # it switches each agent to its user
    for name, t in config.swarm_types.items():
        try:
            user = User.named(t.user or "")
        except KeyError:
            continue  # no user, or one this host does not know (said already)
        if no_setpriv and (user.name, Path("setpriv"), "x") not in told:
            told.add((user.name, Path("setpriv"), "x"))
            problems.add(
                f"{_key_of(config, name, t)}.user",
                f"agents run as {user.name}, and setpriv (util-linux), which switches "
                "to that user, is on no folder of PATH",
            )
        program = t.command[0]
        if (
            "/" not in program
            and shutil.which(program)
            and (user.name, Path(program), "x") not in told
        ):
            told.add((user.name, Path(program), "x"))
            found, why = which(program, user)
            if found is None:
                problems.add(
                    f"{_key_of(config, name, t)}.command[0]",
                    f"agents run as {user.name} (swarms.user) and cannot run {program!r} "
                    f"from PATH: {why}",
                )
        for what, path, want, key in _agent_needs(config, name, t):
            if (user.name, path, want) in told:
                continue
            told.add((user.name, path, want))
            why = refusal(path, user, want)
            if why is None:
                continue
            text = f"agents run as {user.name} (swarms.user) and cannot use {what} {path}: {why}"
            if "w" in want:
                fix = f"chown it to {user.name}, or let a group of {user.name}'s write"
                problems.warn(key, f"{text}; its agents could not edit it ({fix})")
            else:
                problems.add(key, text)


def _agent_needs(config: Config, name: str, t: SwarmType) -> list[tuple[str, Path, str, str]]:
    """(what, path, permission, config key) of what a type's agents need."""
    key = _key_of(config, name, t)
    needs = []
    program = t.command[0]
    if "/" in program:
        needs.append(("the agent program", t.cwd / program, "x", f"{key}.command[0]"))
    for i, arg in enumerate(t.command[1:], start=1):
        named = Path(os.path.normpath(t.cwd / arg))
        if arg not in PLACEHOLDERS and named.is_file():
            needs.append(("a file its command names", named, "r", f"{key}.command[{i}]"))
    return [
        *needs,
        ("its working folder", t.cwd, "x", f"{key}.cwd"),
        ("its working folder", t.cwd, "wx", f"{key}.cwd"),
        ("the project", config.project_dir, "x", "project.dir"),
        ("the way to its context and home", _nearest(config.state_dir.parent), "x", "state_dir"),
    ]


def _key_of(config: Config, name: str, t: SwarmType) -> str:
    """Where a type's command and cwd are set: the `swarms:` defaults when other types
    share them."""
    alike = [o for o in config.swarm_types.values() if (o.command, o.cwd) == (t.command, t.cwd)]
    return "swarms" if len(alike) > 1 else f"swarms.types.{name}"


def _nearest(path: Path) -> Path:
    """`path`, or its nearest folder that exists."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path
