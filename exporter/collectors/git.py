"""Git collector (W6): commits nobody reviewed yet, and the newest commit's time.

"Reviewed" is a ref (default `refs/warden/reviewed`) that a person or a
review swarm moves forward with `git update-ref`. Until it exists every
commit on the branch that touches the project folder counts as unreviewed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from exporter.collectors import Collector
from exporter.gitcmd import run_git
from warden.config import GitSettings


class GitCollector(Collector):
    name = "git"

    def __init__(self, settings: GitSettings, project_dir: Path) -> None:
        self.settings = settings
        self.project_dir = project_dir
        self.interval = settings.interval

    def _git(self, *args: str) -> str:
        out = run_git(self.project_dir, *args)
        if out is None:
            raise RuntimeError(f"git {' '.join(args)} failed in {self.project_dir}")
        return out.strip()

    def collect(self) -> Sequence[Metric]:
        s = self.settings
        branch = self._git("rev-parse", "--verify", f"{s.branch}^{{commit}}")
        reviewed = run_git(
            self.project_dir, "rev-parse", "--verify", "--quiet", f"{s.review_ref}^{{commit}}"
        )
        span = f"{reviewed.strip()}..{branch}" if reviewed else branch
        unreviewed = int(self._git("rev-list", "--count", span, "--", "."))
        newest = float(self._git("log", "-1", "--format=%ct", branch))
        reviewed_at = (
            float(self._git("log", "-1", "--format=%ct", reviewed.strip())) if reviewed else 0.0
        )
        return [
            GaugeMetricFamily(
                "warden_git_unreviewed_commits",
                "Commits on the watched branch touching the project, not yet under the review ref.",
                value=unreviewed,
            ),
            GaugeMetricFamily(
                "warden_git_last_commit_timestamp_seconds",
                "Commit time of the watched branch's newest commit (Unix time).",
                value=newest,
            ),
            GaugeMetricFamily(
                "warden_git_reviewed_commit_timestamp_seconds",
                "Commit time of the commit the review ref points at; 0 while the ref is missing.",
                value=reviewed_at,
            ),
        ]
