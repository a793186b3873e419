"""The config is validated on load: every kind of mistake names file, key and expectation."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest
import yaml

from tests.conftest import AGENT_USER, DEMO, REPO, free_port, run_cli, write_config
from warden.access import User, refusal
from warden.config import ConfigError, load_config
from warden.config.values import parse_duration


def problems(tmp_path: Path, body: str) -> list[str]:
    cfg = write_config(tmp_path / "w.yml", body)
    with pytest.raises(ConfigError) as info:
        load_config(cfg)
    assert info.value.file == cfg
    assert str(cfg) in str(info.value)
    return info.value.problems


def refused_only_for_the_agents_reach(problems: list[str]) -> bool:
    """As root, a checkout the agents' user cannot enter (root's home, a `mktemp -d`
    folder) has its shipped config refused for that alone, naming the user
    (scripts/up.sh then runs the demo from a workspace it can enter: warden/demo.py)."""
    private = os.geteuid() == 0 and refusal(REPO, User.named(AGENT_USER), "x") is not None
    reach = f"run as {AGENT_USER} (swarms.user) and cannot"
    return private and bool(problems) and all(reach in p for p in problems)


def test_shipped_config_is_valid_and_complete() -> None:
    try:
        config = load_config(REPO / "warden.yml")
    except ConfigError as exc:
        assert refused_only_for_the_agents_reach(exc.problems), exc
        config = load_config(REPO / "warden.yml", check_programs=False)
    assert config.project_dir == (REPO / "examples" / "demo").resolve()
    assert config.exporter.listen.host == "127.0.0.1"
    assert config.exporter.listen.port != 9464
    assert config.build is not None and config.build.command == ("python3", "build.py")
    assert config.build.interval == 30 and config.build.run_on_change
    for section in ("tests", "typecheck", "coverage", "git", "logs", "agents"):
        assert getattr(config, section) is not None, section
    # The OpenClaw probe is written out but off: the demo has no gateway.
    assert config.probes is None
    shipped = yaml.safe_load((REPO / "warden.yml").read_text())
    assert shipped["collectors"]["probes"]["http"][0]["url"] == "http://127.0.0.1:18789/readyz"


def test_minimal_config_takes_defaults(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path / "w.yml", "collectors:\n  git: {}\n"))
    assert config.project_dir == tmp_path
    assert config.build is None and config.git is not None
    assert config.git.review_ref == "refs/warden/reviewed" and config.git.interval == 30
    assert config.exporter.listen.port == 8947
    assert config.state_dir == tmp_path / ".warden"


def test_enabled_false_turns_a_collector_off(tmp_path: Path) -> None:
    config = load_config(
        write_config(
            tmp_path / "w.yml",
            "collectors:\n  git: {enabled: false, interval: 1m}\n  host: {enabled: false}\n",
        )
    )
    assert config.git is None and config.host is None


def test_unknown_key(tmp_path: Path) -> None:
    found = problems(tmp_path, "collectors:\n  build:\n    command: [git, x]\n    timout: 5m\n")
    assert found == [
        "collectors.build.timout: unknown key (known keys here: change_poll_interval, command, "
        "enabled, env, ignore, interval, output_tail_bytes, run_on_change, timeout, "
        "unchanged_interval)"
    ]


def test_unknown_top_level_key(tmp_path: Path) -> None:
    assert problems(tmp_path, "colectors: {}\n")[0].startswith("colectors: unknown key")


def test_wrong_type(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        "collectors:\n  build:\n    command: [true]\n    enabled: 'yes'\n"
        "    output_tail_bytes: lots\n",
    )
    assert "collectors.build.enabled: expected true or false, got a string ('yes')" in found
    assert "collectors.build.output_tail_bytes: expected an integer, got a string ('lots')" in found


def test_section_must_be_a_mapping(tmp_path: Path) -> None:
    assert problems(tmp_path, "collectors:\n  git: [1]\n") == [
        "collectors.git: expected a mapping, got a list"
    ]


@pytest.mark.parametrize("value", ["5 minutes", "5", "-1s", "2 days"])
def test_bad_duration(tmp_path: Path, value: str) -> None:
    found = problems(tmp_path, f"collectors:\n  git:\n    interval: '{value}'\n")
    assert found == [
        f"collectors.git.interval: expected a duration like 250ms, 30s, 5m or 1h30m, got {value!r}"
    ]


def test_duration_given_as_number(tmp_path: Path) -> None:
    found = problems(tmp_path, "collectors:\n  git:\n    interval: 30\n")
    assert found == [
        "collectors.git.interval: expected a duration like 250ms, 30s, 5m or 1h30m, "
        "got a number (30)"
    ]


def test_parse_duration() -> None:
    assert parse_duration("250ms") == 0.25
    assert parse_duration("1h30m") == 5400
    assert parse_duration("5m") == 300
    assert parse_duration("1w") == 7 * 86400 and parse_duration("1d12h") == 129600
    assert parse_duration("2m30s") == 150


def test_missing_project_dir(tmp_path: Path) -> None:
    found = problems(tmp_path, "project:\n  dir: nowhere\n")
    assert found == [f"project.dir: directory {str(tmp_path / 'nowhere')!r} does not exist"]


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "absent.yml")
    assert "cannot read the config file: No such file or directory" in str(info.value)
    assert "absent.yml" in str(info.value)


def test_missing_program(tmp_path: Path) -> None:
    found = problems(tmp_path, "collectors:\n  build:\n    command: [no-such-program-zz, x]\n")
    assert found == [
        f"collectors.build.command[0]: program 'no-such-program-zz' not found "
        f"(looked in PATH and relative to {str(tmp_path)!r})"
    ]


def test_command_must_be_a_list(tmp_path: Path) -> None:
    found = problems(tmp_path, "collectors:\n  build:\n    command: 'npm run build; rm -rf /'\n")
    assert found[0].startswith("collectors.build.command: expected an argument list")


def test_invalid_yaml(tmp_path: Path) -> None:
    assert problems(tmp_path, "collectors: [\n")[0].startswith("not valid YAML: while parsing")


def test_item_of_wrong_type(tmp_path: Path) -> None:
    assert problems(tmp_path, "collectors:\n  build:\n    command: [true]\n") == [
        "collectors.build.command[0]: expected a string, got a boolean (True)"
    ]


def test_bad_regex_and_duplicate_names(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        collectors:
          logs:
            sources:
              - {name: app, path: a.log, patterns: ['(unclosed']}
              - {name: app, path: b.log}
        """,
    )
    assert any(
        p.startswith("collectors.logs.sources[0].patterns[0]: invalid regular expression")
        for p in found
    )
    assert (
        "collectors.logs.sources: name 'app' is used twice; names label metrics and must be unique"
        in found
    )


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        "exporter:\n  listen: nowhere\ncollectors:\n  coverage:\n    format: xml\n"
        "  host:\n    interval: soon\n",
    )
    assert len(found) == 3
    assert found[0].startswith("exporter.listen: expected HOST:PORT")
    assert (
        found[1]
        == "collectors.coverage.format: expected one of auto, istanbul, cobertura, lcov, got 'xml'"
    )


def test_secret_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    body = """
    collectors:
      probes:
        http:
          - name: gw
            url: http://127.0.0.1:1/readyz
            headers: {Authorization: 'Bearer ${WARDEN_TEST_TOKEN}'}
    """
    monkeypatch.setenv("WARDEN_TEST_TOKEN", "s3cret")
    config = load_config(write_config(tmp_path / "w.yml", body))
    assert config.probes is not None
    assert config.probes.http[0].headers == {"Authorization": "Bearer s3cret"}
    monkeypatch.delenv("WARDEN_TEST_TOKEN")
    assert problems(tmp_path, body) == [
        "collectors.probes.http[0].headers.Authorization: environment variable "
        "WARDEN_TEST_TOKEN is not set"
    ]


def test_check_config_cli(tmp_path: Path) -> None:
    ok = run_cli("check-config", "-c", str(REPO / "warden.yml"))
    assert ok.returncode == 0 or refused_only_for_the_agents_reach(_listed(ok.stderr)), ok.stderr
    bad = write_config(tmp_path / "bad.yml", "collectors:\n  git:\n    interval: soon\n    x: 1\n")
    res = run_cli("check-config", "-c", str(bad))
    assert res.returncode == 1
    assert f"{bad}: collectors.git.interval: expected a duration" in res.stderr
    assert f"{bad}: collectors.git.x: unknown key" in res.stderr


def _listed(stderr: str) -> list[str]:
    """The problems check-config printed, one a line after the file's name."""
    return [line.split(": ", 1)[1] for line in stderr.splitlines() if line.startswith("  ")]


def test_exporter_refuses_to_start_on_bad_config(tmp_path: Path) -> None:
    bad = write_config(tmp_path / "bad.yml", "collectors:\n  git:\n    interval: soon\n")
    res = run_cli("exporter", "-c", str(bad), "--listen", f"127.0.0.1:{free_port()}")
    assert res.returncode == 1
    assert "refusing to start" in res.stderr
    assert "collectors.git.interval" in res.stderr


# -- issue 13: one rule for paths, addresses that agree, no tracebacks ---------------


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    (project / "reports").mkdir(parents=True)
    cfg = tmp_path / "conf" / "warden.yml"
    cfg.parent.mkdir()
    cfg.write_text(
        "project: {dir: ../proj}\n"
        "collectors:\n"
        "  tests: {junit_report: ../proj/reports/junit.xml}\n"
        "  coverage: {}\n"
        "  logs: {sources: [{name: app, path: app.log}]}\n"
    )
    config = load_config(cfg)
    assert config.project_dir == project
    assert config.tests is not None and config.tests.junit_report == project / "reports/junit.xml"
    assert config.logs is not None and config.logs.sources[0].path == cfg.parent / "app.log"
    # Defaults of files inside the project are under project.dir.
    assert config.coverage is not None
    assert config.coverage.path == project / "coverage/coverage-summary.json"
    assert config.swarm_types["bugfix"].cwd == project
    assert config.host is not None and config.host.paths == (Path("/"), project)
    # Warden's own Prometheus and Alertmanager configs, wherever warden.yml is.
    assert config.stack.prometheus_config == REPO / "prometheus" / "prometheus.yml"


def test_a_copied_shipped_config_checks_and_names_what_is_missing(tmp_path: Path) -> None:
    text = (REPO / "warden.yml").read_text().replace("examples/demo", str(DEMO))
    (tmp_path / "warden.yml").write_text(text)
    checked = run_cli("check-config", "-c", str(tmp_path / "warden.yml"))
    assert checked.returncode == 0 or refused_only_for_the_agents_reach(_listed(checked.stderr)), (
        checked.stderr
    )
    found = problems(tmp_path, "stack: {prometheus_config: prom.yml}\n")
    assert found == [f"stack.prometheus_config: file {str(tmp_path / 'prom.yml')!r} does not exist"]


def test_responder_urls_follow_the_stack_or_must_agree(tmp_path: Path) -> None:
    cfg = tmp_path / "w.yml"
    cfg.write_text(
        "stack: {prometheus_listen: '127.0.0.1:9191', alertmanager_listen: '0.0.0.0:9393'}\n"
    )
    config = load_config(cfg)
    assert config.responder.prometheus_url == "http://127.0.0.1:9191"
    assert config.responder.alertmanager_url == "http://127.0.0.1:9393"
    found = problems(
        tmp_path,
        "stack: {prometheus_listen: '127.0.0.1:9191'}\n"
        "responder: {prometheus_url: 'http://127.0.0.1:9090'}\n",
    )
    assert found == [
        "responder.prometheus_url: http://127.0.0.1:9090 is not where "
        "stack.prometheus_listen (127.0.0.1:9191) makes it listen; leave it out to derive "
        "it, or make the two agree"
    ]
    # Without a stack section (the compose stack), the URLs are as written.
    cfg.write_text("responder: {prometheus_url: 'http://prometheus:9090'}\n")
    assert load_config(cfg).responder.prometheus_url == "http://prometheus:9090"


COMMANDS = [
    ["check-config"],
    ["exporter"],
    ["rules", "--check"],
    ["responder"],
    ["supervise", "responder"],
    ["up"],
    ["compose-config", "--check"],
    ["dashboards", "--check"],
    ["secrets"],
    ["swarm", "run", "bugfix"],
    ["swarm", "list"],
    ["swarm", "kill", "s-1"],
    ["swarm", "resume", "bugfix"],
    ["retry", "BuildFailing"],
    ["budget"],
    ["status"],
    ["maintenance", "start"],
    ["report"],
    ["simulate"],
    ["cleanup"],
]

BROKEN = {
    "missing": None,
    "not yaml": "project: [\n",
    "unknown key": "projet: {dir: .}\n",
    "bad value": "collectors: {build: {command: 'make all'}}\n",
    "stack file missing": "stack: {alertmanager_config: nowhere.yml}\n",
}


def test_every_command_covers_every_subcommand() -> None:
    from warden.shell.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    names = set(sub.choices)
    nested = {
        f"swarm {n}"
        for a in sub.choices["swarm"]._actions
        if isinstance(a, argparse._SubParsersAction)
        for n in a.choices
    }
    listed = {c[0] if c[0] != "swarm" else f"swarm {c[1]}" for c in COMMANDS}
    assert listed == (names - {"swarm"}) | nested


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_no_config_problem_ends_in_a_traceback(
    tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from warden.shell.cli import main

    cfg = tmp_path / "warden.yml"
    body = BROKEN[kind]
    if body is not None:
        cfg.write_text(body)
    for command in COMMANDS:
        argv = (
            [*command[:2], "-c", str(cfg), *command[2:]]
            if command[0] == "swarm"
            else [
                command[0],
                "-c",
                str(cfg),
                *command[1:],
            ]
        )
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code  # type: ignore[assignment]
        err = capsys.readouterr().err
        assert code not in (0, None), (command, err)
        assert str(cfg) in err, (command, err)


def test_folders_warden_cannot_write_in_are_refused_by_name(tmp_path: Path) -> None:
    """Was: `state_dir` naming a file and `secrets_dir: /proc/self` passed check-config,
    then the responder crashed at its first write."""
    (tmp_path / "a-file").write_text("x")
    found = problems(tmp_path, f"state_dir: {tmp_path / 'a-file'}\n")
    a_file = tmp_path / "a-file"
    assert found == [f"state_dir: '{a_file}' is a file, not a folder ({a_file} must be one)"]
    found = problems(tmp_path, f"state_dir: {tmp_path / 'a-file' / 'below'}\n")
    assert found[0].startswith(f"state_dir: '{tmp_path / 'a-file'}' is a file")
    found = problems(tmp_path, "secrets_dir: /proc/self\n")
    assert len(found) == 1 and found[0].startswith("secrets_dir: Warden cannot write in '/proc/")
    checked = run_cli("check-config", "-c", str(tmp_path / "w.yml"))
    assert checked.returncode == 1 and "secrets_dir: Warden cannot write in" in checked.stderr
    # A folder not made yet is fine where one can be made.
    load_config(write_config(tmp_path / "w.yml", f"state_dir: {tmp_path / 'new' / 'state'}\n"))


def test_what_the_schema_refuses_names_key_expected_and_found(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        collectors:
          logs:
            sources: [{path: a.log}]
          probes: {http: {a: 1}}
          build: {command: [git], change_poll_interval: 1s}
        responder:
          policies: {BuildFailing: {kill_below: HIGH}, 3: {}}
        """,
    )
    assert found == [
        "responder.policies.BuildFailing.kill_below: no longer a policy key: the admission "
        "rule stops what may not run (R4, modes, budget tiers) for every alert; remove it "
        "(docs/responder.md)",
        "responder.policies.3: expected a name (a string) as key, got a number (3)",
        "collectors.build.change_poll_interval: no longer a key: changes are file events from "
        "the kernel, seen at once, not polled; remove it (docs/configuration.md)",
        "collectors.logs.sources[0].name: required key is missing (expected a string)",
        "collectors.probes.http: expected a list of mappings, got a mapping",
    ]
    assert problems(tmp_path, "- collectors\n") == ["(top level): expected a mapping, got a list"]
