"""The problems found in one config file, all of them, each with its key path."""

from __future__ import annotations

from pathlib import Path


class ConfigError(Exception):
    """All problems found in one config file; `problems` holds one line each."""

    def __init__(self, file: Path, problems: list[str]) -> None:
        self.file = file
        self.problems = problems
        super().__init__("\n".join(f"{file}: {p}" for p in problems))


class Problems:
    """What the checks after the schema's found in one file: refusals and warnings."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self.items: list[str] = []
        self.warnings: list[str] = []
        """What works but will not do what was meant: reported, not refused."""

    def add(self, path: str, message: str) -> None:
        self.items.append(f"{path or '(top level)'}: {message}")

    def warn(self, path: str, message: str) -> None:
        self.warnings.append(f"{path or '(top level)'}: {message}")

    def raise_if_any(self) -> None:
        if self.items:
            raise ConfigError(self.file, self.items)
