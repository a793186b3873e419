"""The `warden` command: one entry point for every component."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from responder.state.errors import StoreError
from warden import logsetup, private
from warden.atomicfile import write_atomic
from warden.config import Config, ConfigError, load_config, parse_listen
from warden.supervise import HANG_AFTER_SECONDS, Supervisor

RULES_FILE = "prometheus/rules/warden.rules.yml"


def _load(
    path: str, check_programs: bool = True, own_state: bool = False, log_warnings: bool = True
) -> Config | None:
    """The config, or None after printing its problems. `check_programs`: this command
    may start programs (the checks, agents), so they are looked for, and, as root,
    what the agents' user must reach; the commands that only render files or read
    state pass False. `own_state`: this command
    keeps Warden's state, which is then private to Warden's user (warden.private),
    and logs the config's warnings (unless `log_warnings` is False: `warden up`,
    whose terminal is the live view's and whose parts log them in their logs)."""
    try:
        config = load_config(Path(path), check_programs)
    except ConfigError as exc:
        print(f"{exc.file}: {len(exc.problems)} problem(s):", file=sys.stderr)
        for p in exc.problems:
            print(f"  {exc.file}: {p}", file=sys.stderr)
        return None
    if own_state:
        for warning in config.warnings if log_warnings else ():
            logging.getLogger(__name__).warning("%s: %s", config.file, warning)
        private.own_state(config.state_dir)
    return config


def cmd_check_config(args: argparse.Namespace) -> int:
    if args.schema or args.reference:
        from warden.config.reference import markdown
        from warden.config.schema import json_schema

        print(json_schema() if args.schema else markdown(), end="")
        return 0
    config = _load(args.config)
    if config is None:
        return 1
    for warning in config.warnings:
        print(f"{args.config}: warning: {warning}", file=sys.stderr)
    print(f"{args.config}: OK (project {config.project_dir})")
    return 0


def _serve(args: argparse.Namespace, component: str) -> int:
    """Start `component`'s HTTP service, on --listen or the config's address."""
    config = _load(args.config, own_state=True)
    if config is None:
        print(f"warden {component}: refusing to start with an invalid config", file=sys.stderr)
        return 1
    settings = config.exporter if component == "exporter" else config.responder
    listen = settings.listen
    if args.listen:
        try:
            listen = parse_listen(args.listen)
        except ValueError as exc:
            print(f"warden {component}: --listen: {exc}", file=sys.stderr)
            return 2
    from warden.serve import Limits, run

    r = config.responder
    limits = Limits(r.max_connections, r.header_timeout, r.body_timeout)
    logging.getLogger(__name__).info("%s listening on http://%s/", component, listen)
    if component == "exporter":
        from exporter.app import make_app as make_exporter

        run(make_exporter(config), limits, (listen.host, listen.port))
        return 0
    from responder.service import serve
    from responder.service.worker import Service

    try:
        service = Service(config)
    except StoreError as exc:
        print(f"warden responder: refusing to start: {exc}", file=sys.stderr)
        return 2
    return serve.run(service, listen, limits, args.log_level)


def cmd_exporter(args: argparse.Namespace) -> int:
    return _serve(args, "exporter")


def cmd_responder(args: argparse.Namespace) -> int:
    return _serve(args, "responder")


def cmd_supervise(args: argparse.Namespace) -> int:
    """Run a component and restart it when it dies or hangs (R1)."""
    config = _load(args.config, own_state=True)
    if config is None:
        return 1
    from warden.config.values import parse_duration

    try:
        hang_after, every = parse_duration(args.hang_after), parse_duration(args.check_interval)
    except ValueError as exc:
        print(f"warden supervise: expected a duration such as 2m, got {exc}", file=sys.stderr)
        return 2
    listen = config.responder.listen if args.component == "responder" else config.exporter.listen
    argv = [
        sys.executable,
        "-m",
        "warden.shell.cli",
        "--log-level",
        args.log_level,
        args.component,
        "-c",
        args.config,
    ]
    supervisor = Supervisor(
        args.component,
        argv,
        f"http://{listen.host}:{listen.port}/healthz",
        hang_after,
        every,
        adopts_children=args.component == "responder",
    )
    return supervisor.run_forever()


def cmd_up(args: argparse.Namespace) -> int:
    config = _load(args.config, own_state=True, log_warnings=False)
    if config is None:
        print("warden up: refusing to start with an invalid config", file=sys.stderr)
        return 1
    from warden.shell.up import Up

    # Warden up's own log lines go to a file: the terminal is the live view's.
    logs = config.state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(filename=logs / "up.log", format=logsetup.LOG_FORMAT, force=True)
    return Up(config, Path(args.config), verbose=args.verbose).run()


def _write_or_check(files: dict[Path, str], check: bool, again: str) -> int:
    """Write generated files, or with --check fail naming those that differ."""
    stale = []
    for path, text in sorted(files.items()):
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
        else:
            write_atomic(path, text.encode())
            print(f"wrote {path}")
    if stale:
        print(f"stale: {', '.join(stale)}: run `{again}`", file=sys.stderr)
        return 1
    if check:
        print(f"up to date: {len(files)} file(s)")
    return 0


def cmd_compose_config(args: argparse.Namespace) -> int:
    """Render (or --check) the configs the docker compose stack mounts."""
    if _load(args.config, check_programs=False) is None:
        return 1
    from warden.stackconfig import COMPOSE_DIR, compose_files

    folder = Path(args.config).resolve().parent / COMPOSE_DIR
    files = {folder / name: text for name, text in compose_files(Path(args.config)).items()}
    return _write_or_check(files, args.check, f"warden compose-config -c {args.config}")


def cmd_secrets(args: argparse.Namespace) -> int:
    """Make the passwords between the parts (those missing) and the web configs
    Prometheus and Alertmanager read; never prints a password."""
    config = _load(args.config, check_programs=False)
    if config is None:
        return 1
    from warden.auth import Secrets

    secrets = Secrets(config.secrets_dir)
    made = secrets.ensure()
    prom_web, am_web = secrets.web_configs()
    cluster_tls = secrets.cluster_tls()
    if args.shared:
        secrets.share()
    print(f"made: {', '.join(made) or 'none (all existed)'}, in {config.secrets_dir}")
    print(f"web configs: {prom_web}, {am_web}; Alertmanager cluster TLS: {cluster_tls}")
    return 0


def cmd_rules(args: argparse.Namespace) -> int:
    config = _load(args.config, check_programs=False)
    if config is None:
        return 1
    from warden.rules import render

    out = Path(args.output) if args.output else config.file.parent / RULES_FILE
    return _write_or_check({out: render(config)}, args.check, f"warden rules -c {args.config}")


def cmd_dashboards(args: argparse.Namespace) -> int:
    """Render (or --check) the Grafana dashboards from the config's thresholds."""
    config = _load(args.config, check_programs=False)
    if config is None:
        return 1
    from warden.dashboards import DASHBOARDS_DIR, render

    folder = Path(args.output) if args.output else config.file.parent / DASHBOARDS_DIR
    files = {folder / name: text for name, text in render(config).items()}
    return _write_or_check(files, args.check, f"warden dashboards -c {args.config}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="warden", description=__doc__)
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, func, helptext in (
        ("check-config", cmd_check_config, "validate a config file and print every problem"),
        ("exporter", cmd_exporter, "serve the health metrics on /metrics"),
        ("rules", cmd_rules, "render the Prometheus rules from the config's thresholds"),
        ("responder", cmd_responder, "take Alertmanager's webhooks and run the swarms"),
        ("supervise", cmd_supervise, "run a component, restart it when it dies or hangs"),
        ("up", cmd_up, "run the whole stack: exporter, responder, Prometheus, Alertmanager"),
        ("compose-config", cmd_compose_config, "render the configs the compose stack mounts"),
        ("dashboards", cmd_dashboards, "render the Grafana dashboards from the config"),
        (
            "secrets",
            cmd_secrets,
            "make the passwords between the parts, the web configs and the "
            "Alertmanager cluster's certificates",
        ),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("-c", "--config", default="warden.yml", help="config file (warden.yml)")
        p.set_defaults(func=func)
        if name in ("exporter", "responder"):
            p.add_argument("--listen", help=f"HOST:PORT to listen on (overrides {name}.listen)")
        if name == "supervise":
            p.add_argument("component", choices=["responder", "exporter"])
            p.add_argument(
                "--hang-after",
                default=f"{HANG_AFTER_SECONDS:g}s",
                help=f"restart when /healthz is unhealthy this long ({HANG_AFTER_SECONDS:g}s)",
            )
            p.add_argument("--check-interval", default="5s", help="how often to look (5s)")
        if name in ("compose-config", "rules", "dashboards"):
            p.add_argument(
                "--check",
                action="store_true",
                help="exit 1 if the files differ from what the config renders",
            )
        if name == "check-config":
            shown = p.add_mutually_exclusive_group()
            shown.add_argument(
                "--schema",
                action="store_true",
                help="print the file's JSON Schema (warden.schema.json) instead of checking one",
            )
            shown.add_argument(
                "--reference",
                action="store_true",
                help="print every key with its default as Markdown (docs/configuration.md)",
            )
        if name == "rules":
            p.add_argument("-o", "--output", help=f"rules file (default: {RULES_FILE} beside -c)")
        if name == "up":
            p.add_argument(
                "--verbose",
                action="store_true",
                help="show the last lines of the parts' logs under the view "
                "(they are always in state_dir/logs/)",
            )
        if name == "dashboards":
            p.add_argument("-o", "--output", help="folder (default: grafana/dashboards beside -c)")
        if name == "secrets":
            p.add_argument(
                "--shared",
                action="store_true",
                help="readable by other users: for a volume only the stack's containers mount",
            )
    from warden.shell.responder_args import add_commands

    add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logsetup.configure(args.log_level)
    if hasattr(args, "runtime_func"):
        config = _load(
            args.config,
            check_programs=not getattr(args, "starts_no_agents", False),
            own_state=not getattr(args, "leaves_state", False),
        )
        if config is None:
            return 1
        try:
            return int(args.runtime_func(config, args))
        except StoreError as exc:
            print(f"warden {args.command}: {exc}", file=sys.stderr)
            return 2
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
