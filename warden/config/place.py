"""Where a config file is: its paths are resolved from it, its commands' programs
looked for, and what is wrong reported against it."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from warden.config.problems import Problems


@dataclass(frozen=True)
class Place:
    problems: Problems
    base_dir: Path
    """The config file's folder: every relative path in the file is relative to it."""

    def path(
        self,
        key: str,
        written: str | None,
        default: str = "",
        must_exist: str = "",
        default_in: Path | None = None,
    ) -> Path:
        """A path as the file means it; a default left out is relative to `default_in`
        when given (a file inside the project). `must_exist` is "", "file" or "dir"."""
        base = self.base_dir if written is not None or default_in is None else default_in
        text = default if written is None else written
        path = (base / text).resolve() if text else base
        if must_exist == "dir" and not path.is_dir():
            self.problems.add(key, f"directory {str(path)!r} does not exist")
        if must_exist == "file" and not path.is_file():
            self.problems.add(key, f"file {str(path)!r} does not exist")
        return path

    def program(self, key: str, command: tuple[str, ...], cwd: Path) -> None:
        """A command's program must be found: on PATH, or as a path relative to `cwd`."""
        program = command[0]
        found = (cwd / program).is_file() if "/" in program else bool(shutil.which(program))
        if not found:
            self.problems.add(
                f"{key}[0]",
                f"program {program!r} not found (looked in PATH and relative to {str(cwd)!r})",
            )

    def regex(self, key: str, text: str) -> re.Pattern[str]:
        try:
            return re.compile(text)
        except re.error as exc:
            self.problems.add(key, f"invalid regular expression {text!r}: {exc}")
            return re.compile(re.escape(text))

    def regexes(self, key: str, texts: list[str]) -> tuple[re.Pattern[str], ...]:
        if not texts:
            self.problems.add(key, "expected at least one pattern")
        return tuple(self.regex(f"{key}[{i}]", t) for i, t in enumerate(texts))

    def unique(self, key: str, names: list[str]) -> None:
        seen: set[str] = set()
        for n in names:
            if n in seen:
                self.problems.add(
                    key, f"name {n!r} is used twice; names label metrics and must be unique"
                )
            seen.add(n)
