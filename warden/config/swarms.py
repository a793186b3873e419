"""`swarms:` in `warden.yml`: what Warden starts. Its keys are the defaults of every
type; `types` may set any of them per type, and add types of its own."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict

from warden.config.section import Section, key
from warden.config.values import (
    EMPTY_MAP,
    Amount,
    Choice,
    Command,
    Count,
    Duration,
    Flag,
    Size,
    Text,
    TextMap,
    Texts,
)

ADAPTERS = ("claude", "generic")
ISOLATIONS = ("worktree", "none")
LANDINGS = ("merge", "branch", "none")
SHARED_TREE_TYPES = ("cleanup",)
"""Types whose work is on the live tree itself (freeing its disk): no worktree."""
NO_CHANGE_TYPES = ("review", "monitor")
"""Types that may end well without changing code."""
PERMISSION_MODES = ("acceptEdits", "auto", "bypassPermissions", "manual", "dontAsk", "plan")
"""What Claude Code's --permission-mode accepts (2.1)."""
CLAUDE_COMMAND = [
    "claude",
    "-p",
    "{prompt}",
    "--output-format",
    "stream-json",
    "--verbose",
    "--permission-mode",
    "{permission_mode}",
    "--allowedTools",
    "{allowed_tools}",
    "--model",
    "{model}",
    "--max-budget-usd",
    "{budget_usd}",
    "--session-id",
    "{session_id}",
    "--no-session-persistence",
]
ALLOWED_TOOLS = [
    "Read",
    "Edit",
    "Write",
    "Glob",
    "Grep",
    "Bash(git:*)",
    "Bash(python3:*)",
    "Bash(python:*)",
    "Bash(pytest:*)",
    "Bash(npm:*)",
    "Bash(make:*)",
]
"""Tools an agent may use without asking: edit the project, run its checks and git."""
DEFAULT_PROMPTS = {
    "bugfix": "Fix what is failing in this project. What failed, and its output, is in "
    "{context_file}. Make the smallest change that fixes it and run the checks again.",
    "tests": "Make the failing tests pass without weakening them. Details are in {context_file}.",
    "coverage": "Add meaningful tests for untested code in this project. Context: {context_file}.",
    "monitor": "Find out why the failure described in {context_file} happened and add a check "
    "that prevents it from happening again.",
    "review": "Review the commits not yet reviewed (see {context_file}); fix what is wrong, "
    "then mark them reviewed with `git update-ref refs/warden/reviewed HEAD`.",
    "improvement": "Make one small, safe improvement to this project's code or tests. "
    "Context: {context_file}.",
    "cleanup": "Free disk space and remove stale build outputs, caches and logs that this "
    "project does not need. Context: {context_file}.",
}
"""The types that exist without being written, each with its prompt."""


class SwarmKeys(Section):
    """The keys of a swarm type."""

    command: Annotated[list[str], Command()] = key(
        CLAUDE_COMMAND,
        description="an argument list; an argument that is exactly a placeholder "
        "({prompt}, {context_file}, {budget_usd}, {swarm_id}, {agent_id}, {session_id}: "
        "the agent's id as a UUID, {model}, {permission_mode}, {allowed_tools}) is "
        "replaced whole",
    )
    prompt: Annotated[str, Text()] = key(
        "",
        description="{prompt}; {context_file} in it is replaced too. The default "
        "types have their own",
    )
    model: Annotated[str, Text()] = key(
        "sonnet", description="{model}: Claude Code's --model (an alias or a full name)"
    )
    permission_mode: Annotated[str, Choice(PERMISSION_MODES)] = key(
        "acceptEdits",
        description="{permission_mode}: bypassPermissions lets an agent do anything its "
        "user may (never as root)",
    )
    allowed_tools: Annotated[list[str], Texts()] = key(
        ALLOWED_TOOLS, description="{allowed_tools}: tools an agent may use without asking"
    )
    user: Annotated[str, Text()] | None = key(
        None,
        description="A3: whom agents run as when Warden runs as root (ignored otherwise: "
        "they run as you)",
    )
    group: Annotated[str, Text()] | None = key(None, description="null: the user's own")
    pause_after: Annotated[int, Count()] = key(
        3,
        description="A2: runs in a row failed the same permanent way pause the type until "
        "`warden swarm resume TYPE` (0: never)",
    )
    adapter: Annotated[str, Choice(ADAPTERS)] = key(
        "claude", description="claude (stream-json) or generic (any output is progress)"
    )
    cwd: Annotated[str, Text()] | None = key(
        None, description="where agents start; null: project.dir"
    )
    env: Annotated[dict[str, str], TextMap()] = key({}, description="added to the agents'")
    size: Annotated[int, Count(1)] = key(1, description="agents per swarm")
    max_running: Annotated[int, Count(1)] | None = key(
        None,
        description="swarms of the type running at once, fleet-wide, whoever starts them; "
        "null: only the mode's max_swarms caps it",
    )
    budget_usd: Annotated[float, Amount()] = key(
        2.0, description="spending cap of one agent run ({budget_usd})"
    )
    retries: Annotated[int, Count()] = key(
        3, description="retries of an agent that ends abnormally (T4)"
    )
    retry_backoff: Annotated[float, Duration()] = key("5s", description="doubled at each retry")
    timeout: Annotated[float, Duration()] = key(
        "1h", description="the whole swarm, then it is killed"
    )
    stuck_after: Annotated[float, Duration()] = key(
        "10m", description="no progress this long: stuck (W3), killed and replaced"
    )
    spawn_timeout: Annotated[float, Duration()] = key(
        "5m", description="no output this long after start: stuck spawning (W4)"
    )
    kill_grace: Annotated[float, Duration()] = key(
        "10s", description="SIGTERM, then SIGKILL after this"
    )
    memory_max: Annotated[int, Size()] | None = key(
        None, description="bytes an agent's cgroup may use (2GiB), where the host allows"
    )
    pids_max: Annotated[int, Count(1)] | None = key(
        None, description="processes an agent's cgroup may hold, where the host allows"
    )
    isolation: Annotated[str, Choice(ISOLATIONS)] | None = key(
        None,
        description="worktree: each swarm works in its own git worktree and branch, and "
        "only its verified work lands; none: in `cwd`, believed. null: worktree when "
        "project.dir is the top of a git work tree (cleanup: none)",
    )
    land: Annotated[str, Choice(LANDINGS)] = key(
        "merge",
        description="verified work: merge (fast-forward the watched branch), branch "
        "(leave warden/<swarm> for a person) or none",
    )
    expects_change: Annotated[bool, Flag()] | None = key(
        None,
        description="a swarm that changed nothing did not do its work; null: true but "
        "for review and monitor",
    )
    worktree_setup: Annotated[list[str], Command()] | None = key(
        None,
        description="an argument list run once in a new worktree before its agents, "
        "e.g. [npm, ci]; null: none",
    )
    worktree_share: Annotated[list[str], Texts()] = key(
        [],
        description="paths of the project linked into each worktree rather than "
        "built there, e.g. [node_modules, .venv]; never committed",
    )


def _inherited(schema: dict[str, Any]) -> None:
    """A type's key left out is the `swarms:` key, not the schema's default."""
    for prop in schema.get("properties", {}).values():
        prop.pop("default", None)


class SwarmType(SwarmKeys):
    """One type: every key it leaves out is the `swarms:` key."""

    model_config = ConfigDict(json_schema_extra=_inherited)


class Swarms(SwarmKeys):
    types: Annotated[dict[str, SwarmType], EMPTY_MAP] = key(
        {},
        description="per type, the keys it sets; bugfix, tests, coverage, monitor, review, "
        "improvement and cleanup exist without being written",
    )
