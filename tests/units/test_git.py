"""Unreviewed commits are counted since a review ref, in a real git repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.collectors.git import GitCollector
from tests.conftest import commit_all, git
from tests.units.test_checks import value
from warden.config import GitSettings

T0 = 1_780_000_000


def collector(repo: Path) -> GitCollector:
    return GitCollector(GitSettings("HEAD", "refs/warden/reviewed", 30), repo)


def test_unreviewed_commits(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    (repo / "app").mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    shas = []
    for i in range(4):
        (repo / "app" / f"f{i}").write_text(str(i))
        shas.append(commit_all(repo, f"c{i}", when=T0 + i * 60))
    fam = collector(repo).collect()
    assert value(fam, "warden_git_unreviewed_commits") == 4
    assert value(fam, "warden_git_last_commit_timestamp_seconds") == T0 + 180
    assert value(fam, "warden_git_reviewed_commit_timestamp_seconds") == 0

    git(repo, "update-ref", "refs/warden/reviewed", shas[1])
    fam = collector(repo).collect()
    assert value(fam, "warden_git_unreviewed_commits") == 2
    assert value(fam, "warden_git_reviewed_commit_timestamp_seconds") == T0 + 60

    # Only commits touching the project folder count when it is a subfolder.
    (repo / "other").mkdir()
    (repo / "other" / "x").write_text("x")
    commit_all(repo, "elsewhere", when=T0 + 300)
    assert value(collector(repo / "app").collect(), "warden_git_unreviewed_commits") == 2
    assert value(collector(repo).collect(), "warden_git_unreviewed_commits") == 3

    git(repo, "update-ref", "refs/warden/reviewed", "HEAD")
    assert value(collector(repo).collect(), "warden_git_unreviewed_commits") == 0


def test_not_a_repository_fails_the_collector(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="git rev-parse"):
        collector(tmp_path).collect()
