"""A strict reader for YAML mappings that reports every problem with its key path.

Why a hand-rolled reader instead of a schema library: the errors must name the
file, the dotted key path and what was expected, all of them at once, and the
runtime dependencies are fixed (prometheus-client, aiohttp, psutil, pyyaml).
Each section parser asks the reader for the keys it knows; whatever it did not
ask for is an unknown key and is reported as such.
"""

from __future__ import annotations

import math
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

_DURATION_RE = re.compile(
    r"^((?P<w>\d+)w)?((?P<d>\d+)d)?((?P<h>\d+)h)?((?P<m>\d+)m(?!s))?((?P<s>\d+)s)?((?P<ms>\d+)ms)?$"
)
_ENV_RE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")
MAX_DURATION = 31 * 86400.0
"""No interval, timeout or grace in Warden means anything past a month; a longer
one is a typo (`1000h`) that would silently turn a check off."""
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


class ConfigError(Exception):
    """All problems found in one config file; `problems` holds one line each."""

    def __init__(self, file: Path, problems: list[str]) -> None:
        self.file = file
        self.problems = problems
        super().__init__("\n".join(f"{file}: {p}" for p in problems))


def parse_duration(text: str) -> float:
    """Parse a Prometheus-style duration (`250ms`, `30s`, `5m`, `1h30m`, `1d`, `1w`) into
    seconds."""
    m = _DURATION_RE.match(text)
    if not text or m is None:
        raise ValueError(text)
    parts = {k: int(v) for k, v in m.groupdict().items() if v is not None}
    return (
        parts.get("w", 0) * 604800
        + parts.get("d", 0) * 86400
        + parts.get("h", 0) * 3600
        + parts.get("m", 0) * 60
        + parts.get("s", 0)
        + (parts.get("ms", 0) / 1000)
    )


def parse_bytes(text: str) -> int:
    """'512MiB', '2GiB', '1G', '1048576': bytes (binary units; K, M, G are KiB, MiB, GiB
    as in cgroup and systemd settings)."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    t = text.strip().removesuffix("B").removesuffix("i")
    if t and t[-1].upper() in units:
        return int(float(t[:-1]) * units[t[-1].upper()])
    return int(t)


class Problems:
    """Collects problems of one file; shared by every reader made from it."""

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


_MISSING: Any = object()


class Reader:
    """Typed access to one mapping of the config; records what was read."""

    def __init__(self, data: Any, path: str, problems: Problems, base_dir: Path) -> None:
        self.path = path
        self.problems = problems
        self.base_dir = base_dir
        self._seen: set[str] = set()
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            problems.add(path, f"expected a mapping, got {_kind(data)}")
            data = {}
        self._data: Mapping[str, Any] = data

    # -- plumbing ---------------------------------------------------------
    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def has(self, name: str) -> bool:
        return name in self._data

    def names(self) -> list[str]:
        return [str(k) for k in self._data]

    def _raw(self, name: str) -> Any:
        self._seen.add(name)
        return self._data.get(name, _MISSING)

    def finish(self) -> None:
        """Report every key that no parser asked for."""
        for name in self._data:
            if name not in self._seen:
                known = ", ".join(sorted(self._seen)) or "none"
                self.problems.add(self.key(str(name)), f"unknown key (known keys here: {known})")

    def expand(self, value: str, path: str) -> str:
        """Replace `${VAR}` and `${VAR:-default}` with the environment's values."""

        def sub(m: re.Match[str]) -> str:
            name, default = m.group("name"), m.group("default")
            if name in os.environ:
                return os.environ[name]
            if default is not None:
                return default
            self.problems.add(path, f"environment variable {name} is not set")
            return ""

        return _ENV_RE.sub(sub, value)

    # -- typed getters ----------------------------------------------------
    def section(self, name: str) -> Reader | None:
        raw = self._raw(name)
        if raw is _MISSING:
            return None
        return Reader(raw, self.key(name), self.problems, self.base_dir)

    def sections(self, name: str) -> list[Reader]:
        raw = self._raw(name)
        if raw is _MISSING or raw is None:
            return []
        if not isinstance(raw, list):
            self.problems.add(self.key(name), f"expected a list of mappings, got {_kind(raw)}")
            return []
        return [
            Reader(item, f"{self.key(name)}[{i}]", self.problems, self.base_dir)
            for i, item in enumerate(raw)
        ]

    def string(self, name: str, default: str = _MISSING) -> str:
        raw = self._raw(name)
        if raw is _MISSING:
            if default is _MISSING:
                self.problems.add(self.key(name), "required key is missing (expected a string)")
                return ""
            return default
        if not isinstance(raw, str):
            self.problems.add(self.key(name), f"expected a string, got {_kind(raw)}")
            return default if default is not _MISSING else ""
        return self.expand(raw, self.key(name))

    def boolean(self, name: str, default: bool) -> bool:
        raw = self._raw(name)
        if raw is _MISSING:
            return default
        if not isinstance(raw, bool):
            self.problems.add(self.key(name), f"expected true or false, got {_kind(raw)}")
            return default
        return raw

    def integer(self, name: str, default: int, minimum: int = 0) -> int:
        raw = self._raw(name)
        if raw is _MISSING:
            return default
        if isinstance(raw, bool) or not isinstance(raw, int):
            self.problems.add(self.key(name), f"expected an integer, got {_kind(raw)}")
            return default
        if raw < minimum:
            self.problems.add(self.key(name), f"expected an integer >= {minimum}, got {raw}")
            return default
        return raw

    def integer_list(self, name: str, default: list[int], minimum: int = 0) -> list[int]:
        raw = self._raw(name)
        if raw is _MISSING or raw is None:
            return list(default)
        if not isinstance(raw, list) or not all(
            isinstance(x, int) and not isinstance(x, bool) and x >= minimum for x in raw
        ):
            self.problems.add(
                self.key(name), f"expected a list of integers >= {minimum}, got {raw!r}"
            )
            return list(default)
        return list(raw)

    def removed(self, name: str, message: str) -> None:
        """A key an earlier release knew: named with what to do instead, not as unknown."""
        if self._raw(name) is not _MISSING:
            self.problems.add(self.key(name), message)

    def raw_is_null(self, name: str) -> bool:
        """The key is written with no value (`null`, `~`): a feature turned off."""
        return self._raw(name) is None

    def number(self, name: str, default: float, maximum: float | None = None) -> float:
        """A finite non-negative number, at most `maximum` when given. NaN and
        infinities are refused: NaN compares false with everything, so a NaN cap
        would disable the budget."""
        raw = self._raw(name)
        if raw is _MISSING:
            return default
        upper = "" if maximum is None else f" to {maximum:g}"
        if (
            isinstance(raw, bool)
            or not isinstance(raw, int | float)
            or not math.isfinite(raw)
            or raw < 0
            or (maximum is not None and raw > maximum)
        ):
            self.problems.add(self.key(name), f"expected a number from 0{upper}, got {raw!r}")
            return default
        return raw

    def ratio(self, name: str, default: float) -> float:
        return float(self.number(name, default, maximum=1))

    def duration(
        self, name: str, default: str, minimum: float = 0.001, maximum: float = MAX_DURATION
    ) -> float:
        raw = self._raw(name)
        text = default if raw is _MISSING else raw
        if not isinstance(text, str):
            self.problems.add(
                self.key(name),
                f"expected a duration like 250ms, 30s, 5m or 1h30m, got {_kind(text)}",
            )
            return parse_duration(default)
        try:
            seconds = parse_duration(text)
        except ValueError:
            self.problems.add(
                self.key(name), f"expected a duration like 250ms, 30s, 5m or 1h30m, got {text!r}"
            )
            return parse_duration(default)
        if seconds < minimum:
            self.problems.add(self.key(name), f"duration must be at least {minimum}s, got {text!r}")
        if seconds > maximum:
            self.problems.add(
                self.key(name), f"duration must be at most {maximum / 86400:g} days, got {text!r}"
            )
            return parse_duration(default)
        return seconds

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        value = self.string(name, default)
        if value not in choices:
            self.problems.add(
                self.key(name), f"expected one of {', '.join(choices)}, got {value!r}"
            )
            return default
        return value

    def string_list(self, name: str, default: list[str] | None = None) -> list[str]:
        raw = self._raw(name)
        if raw is _MISSING:
            if default is None:
                self.problems.add(
                    self.key(name), "required key is missing (expected a list of strings)"
                )
                return []
            return list(default)
        if not isinstance(raw, list):
            self.problems.add(self.key(name), f"expected a list of strings, got {_kind(raw)}")
            return list(default or [])
        for i, x in enumerate(raw):
            if not isinstance(x, str):
                self.problems.add(f"{self.key(name)}[{i}]", f"expected a string, got {_kind(x)}")
                return list(default or [])
        return [self.expand(x, f"{self.key(name)}[{i}]") for i, x in enumerate(raw)]

    def string_map(self, name: str) -> dict[str, str]:
        raw = self._raw(name)
        if raw is _MISSING or raw is None:
            return {}
        if not isinstance(raw, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in raw.items()
        ):
            self.problems.add(
                self.key(name), f"expected a mapping of strings to strings, got {_kind(raw)}"
            )
            return {}
        return {k: self.expand(v, f"{self.key(name)}.{k}") for k, v in raw.items()}

    def regex(self, name: str, default: str = _MISSING) -> re.Pattern[str]:
        text = self.string(name, default)
        return self._compile(text, self.key(name))

    def regex_list(self, name: str, default: list[str] | None = None) -> list[re.Pattern[str]]:
        texts = self.string_list(name, default)
        if not texts and name in self._data:
            self.problems.add(self.key(name), "expected at least one pattern")
        return [self._compile(t, f"{self.key(name)}[{i}]") for i, t in enumerate(texts)]

    def _compile(self, text: str, path: str) -> re.Pattern[str]:
        try:
            return re.compile(text)
        except re.error as exc:
            self.problems.add(path, f"invalid regular expression {text!r}: {exc}")
            return re.compile(re.escape(text))

    def name(self, key: str = "name") -> str:
        value = self.string(key)
        if value and not NAME_RE.match(value):
            self.problems.add(
                self.key(key),
                f"expected a short name of letters, digits, '_', '.', '-', got {value!r}",
            )
        return value

    def path_value(
        self,
        name: str,
        default: str = _MISSING,
        must_exist: str = "",
        default_in: Path | None = None,
    ) -> Path:
        """A path relative to `base_dir` (the config file's folder); a default left
        out is relative to `default_in` when given (a file inside the project).
        `must_exist` is "", "file" or "dir"."""
        base = self.base_dir if self.has(name) or default_in is None else default_in
        text = self.string(name, default)
        path = (base / text).resolve() if text else base
        if must_exist == "dir" and not path.is_dir():
            self.problems.add(self.key(name), f"directory {str(path)!r} does not exist")
        if must_exist == "file" and not path.is_file():
            self.problems.add(self.key(name), f"file {str(path)!r} does not exist")
        return path

    def command(
        self, name: str, default: list[str] | None, cwd: Path, check_program: bool = True
    ) -> tuple[str, ...]:
        """An argument list (never a shell string) whose program can be found."""
        raw = self._raw(name)
        if isinstance(raw, str):
            self.problems.add(
                self.key(name),
                "expected an argument list such as [npm, run, build], got a string "
                "(commands never go through a shell)",
            )
            return ()
        self._seen.discard(name)
        before = len(self.problems.items)
        args = self.string_list(name, default)
        if len(self.problems.items) > before:
            return ()
        if not args:
            if name in self._data:
                self.problems.add(self.key(name), "expected a non-empty argument list")
            return ()
        program = args[0]
        if not check_program:
            return tuple(args)
        found = (cwd / program).is_file() if "/" in program else bool(shutil.which(program))
        if not found:
            self.problems.add(
                f"{self.key(name)}[0]",
                f"program {program!r} not found (looked in PATH and relative to {str(cwd)!r})",
            )
        return tuple(args)


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({value})"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({value!r})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return type(value).__name__
