"""The shipped demo, from wherever the clone is: `scripts/up.sh` asks this which config
to run, and prints it (the clone's `warden.yml`, or a workspace's).

As root, agents run as an unprivileged user (`swarms.user`, nobody in the shipped
config). A clone in a folder that user cannot enter (root's home is 0700, so is
a `mktemp -d` folder) leaves it the demo's agent program, project and state out
of reach: `warden up` refuses it, naming the path and the user. Then the demo
runs from a workspace that user can work in: `/var/tmp/warden-demo-<id>`,
holding a copy of the demo project (given to that user, so its agents may edit
it), the fake agent and the config, made once and kept (its state with it).
Nothing of the clone is changed.

Run: python -m warden.demo [CONFIG]   (prints the config to run; says why on stderr)
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import sys
from pathlib import Path

from warden.config import ConfigError, load_config
from warden.private import give

WORKSPACES = Path("/var/tmp")  # noqa: S108  (made with mkdir; used only if this user's own)
COPIED = ("warden.yml", "examples/fake_claude.py", "alertmanager/secrets/webhook-token")
DEMO = Path("examples/demo")
LEFT_OUT = ("dist", "reports", "coverage", "logs", "__pycache__")


def config_to_run(config: Path) -> tuple[Path, str]:
    """(the config to run, what to tell the person: empty when it is `config` itself)."""
    try:
        load_config(config)
    except ConfigError as exc:
        reach = [p for p in exc.problems if "(swarms.user) and cannot" in p]
        if not reach or len(reach) < len(exc.problems):
            raise  # something else is wrong: the person must see it
        workspace = _workspace(config.resolve().parent)
        chosen = workspace / "warden.yml"
        user = load_config(chosen).swarm_types["bugfix"].user  # it must pass, this time
        return chosen, _told(config, reach[0], workspace, user or "")
    return config, ""


def _workspace(clone: Path) -> Path:
    """The clone's workspace, made (or refreshed: the config and the fake agent; the
    demo project and the state are kept) safely in a folder every user may write."""
    digest = hashlib.sha256(str(clone).encode()).hexdigest()[:8]
    folder = WORKSPACES / f"warden-demo-{digest}"
    try:
        folder.mkdir(mode=0o755)
    except FileExistsError:
        st = folder.lstat()
        # /var/tmp is everyone's: only a folder of root's own is used, never a link.
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
            raise SystemExit(f"{folder} exists and is not this user's folder: remove it") from None
    folder.chmod(0o755)
    for name in COPIED:
        source = clone / name
        if source.is_file():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, folder / name)
    secrets = folder / "alertmanager" / "secrets"
    secrets.mkdir(parents=True, exist_ok=True)
    secrets.chmod(0o700)
    project = folder / DEMO
    if not project.exists():
        shutil.copytree(clone / DEMO, project, ignore=shutil.ignore_patterns(*LEFT_OUT))
    user = load_config(folder / "warden.yml", check_programs=False).swarm_types["bugfix"].user
    if user is not None:
        give(project, user)
    return folder


def _told(config: Path, why: str, workspace: Path, user: str) -> str:
    demo = workspace / DEMO
    return (
        f"{config}: {why}\n"
        f"The demo runs from a copy {user} can work in: {workspace}\n"
        f"  break it:  echo 'def broken(:' >> {demo}/src/calc.py\n"
        f"  mend it:   cp {config.resolve().parent / DEMO}/src/calc.py {demo}/src/calc.py\n"
        f"  look:      .venv/bin/warden status -c {workspace}/warden.yml\n"
    )


def main() -> int:
    config = Path(sys.argv[1] if len(sys.argv) > 1 else "warden.yml")
    try:
        chosen, told = config_to_run(config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    if told:
        print(told, file=sys.stderr)
    print(chosen)
    return 0


if __name__ == "__main__":
    sys.exit(main())
