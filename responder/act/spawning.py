"""What an agent is started with: its swarm's and its own rows, the context file
handed to its user, its argument list, its environment and its placement.

Pure of the runtime's state: the runtime decides when an agent starts and
watches it; this says with what. The argument list is the type's `command`
with its placeholders filled (never a shell); the environment is the allow-list
(`inherited_environment`), the type's `env`, a HOME the agents' user may
write, and the marks that tell this Warden's agents from another's.
"""

from __future__ import annotations

import os
import pwd
import uuid
from pathlib import Path

from responder.act.context import fence, prompt
from responder.act.launcher import ENV_AGENT, ENV_RUNTIME, Placement, inherited_environment
from responder.model import AgentState, Priority, SwarmState
from responder.state.store import AgentRow, SwarmRow
from warden.atomicfile import write_atomic
from warden.config import SwarmType
from warden.private import passage

SESSIONS = uuid.UUID("6f0c8e52-5d3e-4c1b-9a47-2b8d7e0f1a93")
"""Warden's namespace for its agents' session ids (uuid5 of the agent's id)."""


def new_swarm(
    agents_dir: Path,
    stype: SwarmType,
    type_name: str,
    priority: Priority,
    size: int,
    trigger: str,
    context: str,
    period: str,
    now: float,
    owner: str,
    retry_of: str | None = None,
) -> SwarmRow:
    """A new swarm's row, its context file written and handed to the agents' user."""
    swarm_id = f"s{uuid.uuid4().hex[:10]}"
    folder = agents_dir / swarm_id
    passage(agents_dir)  # made private (umask 077) if it was not there
    passage(folder)
    context_file = folder / "context.md"
    write_atomic(context_file, fence(context).encode(), durable=False)  # its agents' input
    hand_over(context_file, stype)
    return SwarmRow(
        swarm_id,
        type_name,
        str(priority),
        size,
        trigger,
        context,
        str(context_file),
        stype.budget_usd,
        period,
        SwarmState.RUNNING,
        "",
        now,
        None,
        owner,
        retry_of=retry_of,
    )


def new_agent(
    agents_dir: Path,
    swarm: SwarmRow,
    slot: int,
    attempt: int,
    owner: str,
    retry_at: float | None = None,
    held: bool = False,
) -> AgentRow:
    """An agent's row: spawning now, waiting until `retry_at` (a retry), or `held`
    until its swarm's worktree is ready (waiting, with no time yet)."""
    agent_id = f"{swarm.id}-{slot}-{attempt}"
    log_path = agents_dir / swarm.id / f"{agent_id}.log"
    state = AgentState.WAITING if retry_at is not None or held else AgentState.SPAWNING
    return AgentRow(
        agent_id,
        swarm.id,
        slot,
        attempt,
        state,
        None,
        None,
        str(log_path),
        0,
        None,
        None,
        None,
        None,
        retry_at,
        None,
        None,
        None,
        None,
        owner,
    )


def session_id(agent_id: str) -> str:
    """The agent's id as the UUID Claude Code's --session-id asks for (the same at
    each call: a retry is another agent, with another id)."""
    return str(uuid.uuid5(SESSIONS, agent_id))


def argv(stype: SwarmType, swarm: SwarmRow, agent: AgentRow) -> list[str]:
    """The type's command with its placeholders filled, one argument each."""
    values = {
        "{prompt}": prompt(stype.prompt, swarm.context_file),
        "{context_file}": swarm.context_file,
        "{budget_usd}": f"{stype.budget_usd:g}",
        "{swarm_id}": swarm.id,
        "{agent_id}": agent.id,
        "{session_id}": session_id(agent.id),
        "{model}": stype.model,
        "{permission_mode}": stype.permission_mode,
        "{allowed_tools}": ",".join(stype.allowed_tools),
    }
    return [values.get(arg, arg) for arg in stype.command]


def environment(
    stype: SwarmType, swarm: SwarmRow, agent: AgentRow, instance: str, state_dir: Path
) -> dict[str, str]:
    """The agent's whole environment: nothing of Warden's own passes unless listed."""
    return {
        **inherited_environment(),
        **home(stype, state_dir),
        **stype.env,
        ENV_RUNTIME: instance,
        ENV_AGENT: agent.id,
        "WARDEN_SWARM_ID": swarm.id,
        "WARDEN_SWARM_TYPE": swarm.type,
        "WARDEN_CONTEXT_FILE": swarm.context_file,
    }


def home(stype: SwarmType, state_dir: Path) -> dict[str, str]:
    """An agent running as another user gets a HOME it may write (Claude Code
    keeps its settings and sessions there): that user's own, or one Warden
    makes for it under the state folder."""
    user = placement(stype).user
    if user is None:
        return {}
    entry = pwd.getpwnam(user)
    folder = Path(entry.pw_dir)
    if not (folder.is_dir() and folder.stat().st_uid == entry.pw_uid):
        passage(state_dir / "homes")
        folder = state_dir / "homes" / user
        folder.mkdir(exist_ok=True)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    return {"HOME": str(folder), "USER": user, "LOGNAME": user}


def placement(stype: SwarmType) -> Placement:
    """Whom the type's agents run as: its `user` when Warden is root (A3), else
    Warden's own user (only root may start processes as another); and its limits."""
    if os.geteuid() != 0:
        return Placement(memory_max=stype.memory_max, pids_max=stype.pids_max)
    return Placement(stype.user, stype.group, stype.memory_max, stype.pids_max)


def hand_over(context_file: Path, stype: SwarmType) -> None:
    """The context belongs to the agents' user (written 0600 by root, they could not
    read it). Its folder stays Warden's, a passage: the agents' logs are opened
    there by root, which must never follow a link an agent put in their place."""
    user = placement(stype).user
    if user is None:
        return
    entry = pwd.getpwnam(user)
    os.chown(context_file, entry.pw_uid, entry.pw_gid)
