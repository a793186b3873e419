"""Swarm types from what `swarms:` says: each type complete (a key it leaves out is
the `swarms:` key), its placeholders known, and whom its agents run as allowed."""

from __future__ import annotations

import dataclasses
import grp
import os
import pwd
from pathlib import Path
from typing import Any

import warden.config.swarms as written
from warden.config.place import Place
from warden.config.settings import SwarmType
from warden.config.swarms import DEFAULT_PROMPTS
from warden.config.values import NAME_RE

PLACEHOLDERS = (
    "{prompt}",
    "{context_file}",
    "{budget_usd}",
    "{swarm_id}",
    "{agent_id}",
    "{session_id}",
    "{model}",
    "{permission_mode}",
    "{allowed_tools}",
)
BYPASS = "bypassPermissions"
IDENTITY = ("user", "group", "command", "permission_mode")
"""What decides whom a type's agents run as, and with what rights."""


def swarm_types(
    s: written.Swarms, written_at_all: bool, at: Place, project: Path, check_programs: bool
) -> dict[str, SwarmType]:
    """Swarm types. Without a `swarms:` section the defaults (Claude Code) are used
    unchecked: a config for the exporter alone needs no `claude` on PATH."""
    check = written_at_all and check_programs
    base = _type(s, "default", None, "swarms", at, project, check)
    out: dict[str, SwarmType] = {}
    names = list(DEFAULT_PROMPTS) + [n for n in s.types if n not in DEFAULT_PROMPTS]
    for name in names:
        key = f"swarms.types.{name}"
        if not NAME_RE.match(name):
            at.problems.add(key, "expected a short name of letters and digits")
        t = s.types.get(name) or written.SwarmType()
        out[name] = _by_name(_type(t, name, base, key, at, project, check), s, t)
    return out


def _by_name(stype: SwarmType, s: written.Swarms, t: written.SwarmKeys) -> SwarmType:
    """Defaults some types have of their own, where neither `swarms:` nor the type
    sets the key: cleanup works on the live tree (its disk), review and monitor
    may end well without a change."""
    name, given = stype.name, s.model_fields_set | t.model_fields_set
    if name in written.SHARED_TREE_TYPES and "isolation" not in given:
        stype = dataclasses.replace(stype, isolation="none")
    if name in written.NO_CHANGE_TYPES and "expects_change" not in given:
        stype = dataclasses.replace(stype, expects_change=False)
    return stype


def _type(
    t: written.SwarmKeys,
    name: str,
    base: SwarmType | None,
    key: str,
    at: Place,
    project: Path,
    check: bool,
) -> SwarmType:
    """One swarm type: every key it leaves out falls back to `base`."""
    given = t.model_fields_set

    def own(field: str) -> bool:
        return base is None or field in given

    def pick(field: str) -> Any:
        return getattr(t, field) if own(field) else getattr(base, field)

    command = tuple(pick("command"))
    if own("command") and check:
        at.program(f"{key}.command", command, project)
    _check_placeholders(command, key, at)
    _check_shared(t.worktree_share, key, at)
    stype = SwarmType(
        name=name,
        prompt=(
            t.prompt
            if "prompt" in given
            else DEFAULT_PROMPTS.get(name, base.prompt if base else t.prompt)
        ),
        command=command,
        adapter=pick("adapter"),
        cwd=(
            at.path(f"{key}.cwd", t.cwd, ".", must_exist="dir" if t.cwd else "", default_in=project)
            if own("cwd") or base is None
            else base.cwd
        ),
        env={**(base.env if base else {}), **t.env},
        timeout=pick("timeout"),
        retries=pick("retries"),
        retry_backoff=pick("retry_backoff"),
        budget_usd=pick("budget_usd"),
        size=pick("size"),
        max_running=pick("max_running"),
        stuck_after=pick("stuck_after"),
        spawn_timeout=pick("spawn_timeout"),
        kill_grace=pick("kill_grace"),
        pause_after=pick("pause_after"),
        model=pick("model"),
        permission_mode=pick("permission_mode"),
        allowed_tools=tuple(pick("allowed_tools")),
        user=pick("user"),
        group=pick("group"),
        memory_max=pick("memory_max"),
        pids_max=pick("pids_max"),
        isolation=_isolation(pick("isolation"), project),
        land=pick("land"),
        expects_change=pick("expects_change") is not False,
        worktree_setup=tuple(pick("worktree_setup") or ()),
        worktree_share=tuple(pick("worktree_share")),
    )
    if base is None or any(getattr(stype, f) != getattr(base, f) for f in IDENTITY):
        # a type that changes none of these has the defaults' verdict
        _check_identity(key, stype, at, check)
    return stype


def _check_shared(shared: list[str], key: str, at: Place) -> None:
    for i, path in enumerate(shared):
        if Path(path).is_absolute() or ".." in Path(path).parts:
            at.problems.add(
                f"{key}.worktree_share[{i}]", f"expected a path inside the project, got {path!r}"
            )


def _check_placeholders(command: tuple[str, ...], key: str, at: Place) -> None:
    for i, arg in enumerate(command):
        if arg.startswith("{") and arg.endswith("}") and arg not in PLACEHOLDERS:
            at.problems.add(
                f"{key}.command[{i}]",
                f"unknown placeholder {arg} (known: {', '.join(PLACEHOLDERS)})",
            )


def _isolation(written_as: str | None, project: Path) -> str:
    """Worktrees by default where the project is a git work tree's top (a `.git`
    folder or file there): a project inside another repository is not one of its
    own, and its swarms would branch the whole repository."""
    if written_as is not None:
        return written_as
    return "worktree" if (project / ".git").exists() else "none"


def _check_identity(key: str, t: SwarmType, at: Place, starting: bool) -> None:
    """A3: agents never run as root. `user` is whom they run as when Warden runs
    as root (otherwise they run as Warden's own user). A permission bypass lets
    an agent do anything its user may, and Claude Code refuses it as root."""
    uid = None
    if t.user is not None:
        try:
            uid = pwd.getpwnam(t.user).pw_uid
        except KeyError:
            at.problems.add(f"{key}.user", f"no such user {t.user!r} on this host")
            return
    if t.group is not None:
        try:
            grp.getgrnam(t.group)
        except KeyError:
            at.problems.add(f"{key}.group", f"no such group {t.group!r} on this host")
    if os.geteuid() != 0:
        return
    bypass = (
        "--dangerously-skip-permissions" in t.command
        or BYPASS in t.command
        or (t.permission_mode == BYPASS and "{permission_mode}" in t.command)
    )
    what = "the swarms (every type)" if t.name == "default" else f"swarm type {t.name!r}"
    if uid == 0 or (uid is None and bypass):
        why = "bypasses permissions" if bypass else "runs agents"
        at.problems.add(
            f"{key}.user",
            f"{what} {why} as root: agents never run as root (an agent "
            "may do anything its user may, and Claude Code refuses a bypass as root); "
            "set `user` to an unprivileged user",
        )
    elif uid is None and starting:
        at.problems.add(
            f"{key}.user",
            f"Warden runs as root and agents never do: name the user {what} run as "
            "(e.g. `user: nobody`, or an account made for agents)",
        )
