"""Build collector (T1, J3): the project's build command, every 30 s and on change."""

from __future__ import annotations

from pathlib import Path

from exporter.changes import ProjectChanges
from exporter.collectors.check import CommandCheckCollector
from warden.config import CommandCheck
from warden.runner import CommandRunner


class BuildCollector(CommandCheckCollector):
    def __init__(
        self,
        settings: CommandCheck,
        project_dir: Path,
        runner: CommandRunner,
        changes: ProjectChanges | None = None,
    ) -> None:
        super().__init__("build", settings, project_dir, runner, changes)
