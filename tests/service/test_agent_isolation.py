"""What an agent can see of Warden: an allow-listed environment and none of its state.

Agents act on text anyone can forge (an alert, a log line), so a secret in the
shell that started Warden, or the alert history in its database, must not be
theirs. Run through `warden swarm run`, the command a person uses."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import AGENT_PYTHON, AGENT_USER, REPO, run_cli, write_config

DUMP_ENV = "import json, os; print(json.dumps({'env': dict(os.environ)}))"
AS_ROOT = os.geteuid() == 0


def _config(tmp_path: Path) -> Path:
    user = f"  user: {AGENT_USER}\n" if AS_ROOT else ""
    return write_config(
        tmp_path / "warden.yml",
        f"""\
project: {{dir: {tmp_path}}}
state_dir: {tmp_path / "state"}
modes:
  NIGHT: {{max_swarms: 10, priorities: [CRITICAL, HIGH, MEDIUM, LOW]}}
swarms:
  command: [{AGENT_PYTHON}, -c, "{DUMP_ENV}"]
  adapter: generic
{user}  types:
    bugfix: {{env: {{OWN_SETTING: from-the-type}}}}
""",
    )


def _run_swarm(cfg: Path, env: dict[str, str]) -> dict[str, str]:
    out = run_cli("swarm", "run", "bugfix", "-c", str(cfg), "--json", env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    [agent] = json.loads(out.stdout)["agents"]
    dumped = json.loads(Path(agent["log"]).read_text().splitlines()[-1])
    return dict(dumped["env"])


def test_an_agent_gets_an_allow_listed_environment(tmp_path: Path) -> None:
    """A3: PATH, HOME, the locale and the time zone, the type's own `env` and the
    WARDEN_* ids; a PGPASSWORD or a token in Warden's environment never."""
    env = _run_swarm(
        _config(tmp_path),
        {
            "PGPASSWORD": "s3cret-of-the-database",
            "DEPLOY_TOKEN": "t0ken",
            "PYTHONPATH": "/somewhere",
            "LC_ALL": "C.UTF-8",
            "TZ": "UTC",
        },
    )
    assert "PGPASSWORD" not in env and "DEPLOY_TOKEN" not in env and "PYTHONPATH" not in env
    assert env["LC_ALL"] == "C.UTF-8" and env["TZ"] == "UTC" and env["PATH"]
    assert env["OWN_SETTING"] == "from-the-type"
    assert env["WARDEN_SWARM_TYPE"] == "bugfix" and env["WARDEN_CONTEXT_FILE"].endswith(".md")
    allowed = {"PATH", "HOME", "USER", "LOGNAME", "LANG", "TZ", "TMPDIR", "OWN_SETTING"}
    extra = {k for k in env if not (k in allowed or k.startswith(("LC_", "WARDEN_")))}
    # Python itself may add LC_CTYPE (a C locale coerced to UTF-8).
    assert extra <= {"LC_CTYPE"}, extra


@pytest.mark.skipif(not AS_ROOT, reason="only root starts agents as another user")
def test_the_agents_user_finds_its_program_on_path_as_it_would_itself(tmp_path: Path) -> None:
    """The program is looked up on the agent's PATH as its user would: a folder only
    root may enter is passed over (the pyenv shims in /root/.pyenv, first on a root
    shell's PATH), as execvp passes it for that user. Was, with setpriv's own
    search (it keeps root's capabilities until its exec): the shim found, and the
    agent dead past its exec with "Permission denied"."""
    hidden, shown = tmp_path / "hidden", tmp_path / "shown"
    for folder, says in ((hidden, "root's"), (shown, "the user's")):
        folder.mkdir(mode=0o700 if folder == hidden else 0o755)
        program = folder / "which-one"
        program.write_text(f"#!/bin/sh\necho {says!r} $(id -un)\n")
        program.chmod(0o755)
    cfg = write_config(
        tmp_path / "warden.yml",
        f"""\
project: {{dir: {tmp_path}}}
state_dir: {tmp_path / "state"}
swarms:
  command: [which-one]
  adapter: generic
  user: {AGENT_USER}
""",
    )
    path = {"PATH": f"{hidden}:{shown}:{os.environ['PATH']}"}  # Warden's, so the agent's
    out = run_cli("swarm", "run", "review", "-c", str(cfg), "--json", env=path)
    assert out.returncode == 0, out.stdout + out.stderr
    [agent] = json.loads(out.stdout)["agents"]
    assert Path(agent["log"]).read_text().split() == ["the", "user's", AGENT_USER]


@pytest.mark.skipif(not AS_ROOT, reason="only root starts agents as another user")
def test_without_setpriv_the_agents_user_is_refused_first(tmp_path: Path) -> None:
    """setpriv (util-linux) switches an agent to its user; a host without it is told
    by check-config, naming the key, not by every agent failing to start."""
    (tmp_path / "bin").mkdir()
    out = run_cli("check-config", "-c", str(_config(tmp_path)), env={"PATH": str(tmp_path / "bin")})
    assert out.returncode != 0, out.stdout
    assert f"swarms.user: agents run as {AGENT_USER}, and setpriv" in out.stderr, out.stderr
    assert "setpriv (util-linux)" in out.stderr, out.stderr


READ_ALL = """\
import json, os, sys
opened = []
for path in json.loads(sys.argv[1]):
    try:
        if os.path.isdir(path):
            os.listdir(path)
        else:
            open(path, "rb").close()
        opened.append(path)
    except PermissionError:
        pass
print(json.dumps(opened))
"""


@pytest.mark.skipif(not AS_ROOT, reason="the agents' own user differs from Warden's only as root")
def test_the_agents_user_can_read_nothing_of_warden_but_its_context(tmp_path: Path) -> None:
    """The database, the logs, the state file and every agent's log are 0600 in 0700
    folders; only the way to an agent's own context (folders 0711) is open. What an
    earlier release left 0644 (the database, up.log, state.json) is closed at start."""
    state = tmp_path / "state"
    (state / "logs").mkdir(parents=True)
    for old in (state / "logs" / "up.log", state / "state.json"):
        old.write_text("left open by an earlier release")
        old.chmod(0o644)
    state.chmod(0o755)
    cfg = _config(tmp_path)
    _run_swarm(cfg, {})
    assert _run_swarm(cfg, {})  # a second run: the database exists, and is reopened
    paths = [state, *state.rglob("*")]
    theirs = {p for p in paths if p.stat().st_uid == pwd.getpwnam(AGENT_USER).pw_uid}
    assert {p.name for p in theirs} <= {"context.md", AGENT_USER}, theirs
    wardens = [p for p in paths if p not in theirs and not any(t in p.parents for t in theirs)]
    files = [p for p in wardens if p.is_file()]
    assert {"warden.db", "up.log", "state.json"} <= {p.name for p in files}
    assert any(p.suffix == ".log" and p.parent.parent.name == "agents" for p in files)
    probe = subprocess.run(
        [AGENT_PYTHON, "-c", READ_ALL, json.dumps([str(p) for p in [*wardens, *theirs]])],
        user=AGENT_USER,
        capture_output=True,
        text=True,
        check=True,
    )
    opened = {Path(p) for p in json.loads(probe.stdout)}
    assert opened == theirs, sorted(opened)  # the contexts and its home, nothing of Warden's


@pytest.mark.skipif(not AS_ROOT, reason="only root starts agents as another user")
def test_from_a_folder_only_root_can_enter(tmp_path: Path) -> None:
    """Was: from a clone in a 0700 folder, check-config said OK and every agent, run as
    nobody, died at once ("can't open file .../fake_claude.py: Permission denied",
    classed usage; the breaker paused the types). Now check-config and the components
    refuse, naming the path and the user, and the demo runs from a workspace that
    user can work in (warden/demo.py, as scripts/up.sh runs it)."""
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    clone = private / "warden"
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        if (REPO / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, clone / name)

    for args in (("check-config",), ("swarm", "run", "bugfix"), ("responder",)):
        out = run_cli(*args, "-c", "warden.yml", cwd=clone)  # the clone's own warden
        assert out.returncode != 0, (args, out.stdout)
        assert f"run as {AGENT_USER} (swarms.user) and cannot use" in out.stderr, out.stderr
        assert f"{private}' is 0700 root:root: {AGENT_USER} cannot pass through it" in out.stderr
    assert not (clone / ".warden" / "agents").exists(), "no agent was started"

    chosen = subprocess.run(
        [sys.executable, "-m", "warden.demo", "warden.yml"],
        cwd=clone,
        capture_output=True,
        text=True,
        check=True,
    )
    workspace = Path(chosen.stdout.strip()).parent
    try:
        assert workspace.parent == Path("/var/tmp") and "break it:" in chosen.stderr
        assert (
            run_cli("check-config", "-c", str(workspace / "warden.yml"), cwd=clone).returncode == 0
        )
        ran = run_cli(
            "swarm", "run", "bugfix", "-c", str(workspace / "warden.yml"), "--json", cwd=clone
        )
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert json.loads(ran.stdout)["state"] == "succeeded"
    finally:
        shutil.rmtree(workspace)
