"""The kinds of value `warden.yml` holds, each with its check, its message and its JSON Schema.

Why every kind validates itself instead of leaning on pydantic's own types:
the messages are the product. Each says what was expected and what was found
(`expected true or false, got a string ('yes')`), in Warden's words, and the
file's schema for editors comes from the same place. A kind is a marker in
`Annotated[...]`; `schema.py` declares which key holds which kind, with its
default written once.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from warden.config.listen import Listen, parse_listen

DURATION_RE = re.compile(
    r"^((?P<w>\d+)w)?((?P<d>\d+)d)?((?P<h>\d+)h)?((?P<m>\d+)m(?!s))?((?P<s>\d+)s)?((?P<ms>\d+)ms)?$"
)
_ENV_RE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")
MAX_DURATION = 31 * 86400.0
"""No interval, timeout or grace in Warden means anything past a month; a longer
one is a typo (`1000h`) that would silently turn a check off."""
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
PROBLEM = "warden"
"""The error type of every problem a kind reports: its message is final."""


def parse_duration(text: str) -> float:
    """Parse a Prometheus-style duration (`250ms`, `30s`, `5m`, `1h30m`, `1d`, `1w`) into
    seconds."""
    m = DURATION_RE.match(text)
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


def kind(value: object) -> str:
    """What was found, as a message names it."""
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


def refuse(message: str) -> NoReturn:
    """Report `message` at the key being read (the template keeps braces literal)."""
    raise PydanticCustomError(PROBLEM, "{reason}", {"reason": message})


def expand(text: str) -> str:
    """Replace `${VAR}` and `${VAR:-default}` with the environment's values."""

    def sub(m: re.Match[str]) -> str:
        name, default = m.group("name"), m.group("default")
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        refuse(f"environment variable {name} is not set")

    return _ENV_RE.sub(sub, text)


def text(value: object) -> str:
    """A string, its `${VAR}`s filled from the environment."""
    if not isinstance(value, str):
        refuse(f"expected a string, got {kind(value)}")
    return expand(value)


@dataclass(frozen=True)
class Kind(ABC):
    """A kind of value: `check` turns what the file holds into what Warden uses, or
    refuses it; `json` is its JSON Schema; `expected` names it when it is missing."""

    expected = "a string"

    @abstractmethod
    def check(self, value: Any) -> Any: ...

    @abstractmethod
    def json(self) -> JsonSchemaValue: ...

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(self.check)

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return self.json()


@dataclass(frozen=True)
class Text(Kind):
    def check(self, value: Any) -> str:
        return text(value)

    def json(self) -> JsonSchemaValue:
        return {"type": "string"}


@dataclass(frozen=True)
class Name(Kind):
    """Names label metrics: short, and of characters every label value may hold."""

    def check(self, value: Any) -> str:
        name = text(value)
        if not NAME_RE.match(name):
            refuse(f"expected a short name of letters, digits, '_', '.', '-', got {name!r}")
        return name

    def json(self) -> JsonSchemaValue:
        return {"type": "string", "pattern": NAME_RE.pattern}


@dataclass(frozen=True)
class Url(Kind):
    def check(self, value: Any) -> str:
        url = text(value)
        if not url.startswith(("http://", "https://")):
            refuse(f"expected an http:// or https:// URL, got {url!r}")
        return url

    def json(self) -> JsonSchemaValue:
        return {"type": "string", "pattern": "^https?://"}


@dataclass(frozen=True)
class Choice(Kind):
    choices: tuple[str, ...]

    def check(self, value: Any) -> str:
        chosen = text(value)
        if chosen not in self.choices:
            refuse(f"expected one of {', '.join(self.choices)}, got {chosen!r}")
        return chosen

    def json(self) -> JsonSchemaValue:
        return {"type": "string", "enum": list(self.choices)}


@dataclass(frozen=True)
class Flag(Kind):
    """A boolean: YAML's `yes` is a string in YAML 1.2 and here, so it is refused."""

    expected = "true or false"

    def check(self, value: Any) -> bool:
        if not isinstance(value, bool):
            refuse(f"expected true or false, got {kind(value)}")
        return value

    def json(self) -> JsonSchemaValue:
        return {"type": "boolean"}


@dataclass(frozen=True)
class Count(Kind):
    minimum: int = 0
    expected = "an integer"

    def check(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            refuse(f"expected an integer, got {kind(value)}")
        if value < self.minimum:
            refuse(f"expected an integer >= {self.minimum}, got {value}")
        return value

    def json(self) -> JsonSchemaValue:
        return {"type": "integer", "minimum": self.minimum}


@dataclass(frozen=True)
class Counts(Kind):
    """A list of integers, each at least `minimum`."""

    minimum: int = 0
    expected = "a list of integers"

    def check(self, value: Any) -> tuple[int, ...]:
        if not isinstance(value, list) or not all(
            isinstance(x, int) and not isinstance(x, bool) and x >= self.minimum for x in value
        ):
            refuse(f"expected a list of integers >= {self.minimum}, got {value!r}")
        return tuple(value)

    def json(self) -> JsonSchemaValue:
        return {"type": "array", "items": {"type": "integer", "minimum": self.minimum}}


@dataclass(frozen=True)
class Amount(Kind):
    """A finite non-negative number, at most `maximum` when given. NaN and
    infinities are refused: NaN compares false with everything, so a NaN cap
    would disable the budget."""

    maximum: float | None = None
    expected = "a number"

    def check(self, value: Any) -> float:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value < 0
            or (self.maximum is not None and value > self.maximum)
        ):
            upper = "" if self.maximum is None else f" to {self.maximum:g}"
            refuse(f"expected a number from 0{upper}, got {value!r}")
        return float(value)

    def json(self) -> JsonSchemaValue:
        out: JsonSchemaValue = {"type": "number", "minimum": 0}
        if self.maximum is not None:
            out["maximum"] = self.maximum
        return out


RATIO = Amount(maximum=1)


@dataclass(frozen=True)
class Duration(Kind):
    """Prometheus-style text, never a bare number: `interval: 30` cannot mean 30 ms
    to one reader and 30 s to another."""

    minimum: float = 0.001
    maximum: float = MAX_DURATION
    expected = "a duration"

    def check(self, value: Any) -> float:
        if not isinstance(value, str):
            refuse(f"expected a duration like 250ms, 30s, 5m or 1h30m, got {kind(value)}")
        try:
            seconds = parse_duration(value)
        except ValueError:
            refuse(f"expected a duration like 250ms, 30s, 5m or 1h30m, got {value!r}")
        if seconds < self.minimum:
            refuse(f"duration must be at least {self.minimum}s, got {value!r}")
        if seconds > self.maximum:
            refuse(f"duration must be at most {self.maximum / 86400:g} days, got {value!r}")
        return seconds

    def json(self) -> JsonSchemaValue:
        pattern = re.sub(r"\?P<\w+>", "?:", DURATION_RE.pattern)
        return {"type": "string", "pattern": pattern.replace("^", "^(?=.)", 1)}


@dataclass(frozen=True)
class Address(Kind):
    """HOST:PORT, IPv6 hosts in brackets."""

    expected = "HOST:PORT"

    def check(self, value: Any) -> Listen:
        try:
            return parse_listen(text(value))
        except ValueError as exc:
            refuse(str(exc))

    def json(self) -> JsonSchemaValue:
        return {"type": "string", "pattern": "^.+:[0-9]{1,5}$"}


@dataclass(frozen=True)
class Texts(Kind):
    """A list of strings (each with its `${VAR}`s filled)."""

    expected = "a list of strings"

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        """Each item is checked on its own, so a wrong one is named by its index."""
        items = core_schema.list_schema(core_schema.no_info_plain_validator_function(self.item))
        return core_schema.no_info_before_validator_function(self.check, items)

    def check(self, value: Any) -> Any:
        if not isinstance(value, list):
            refuse(f"expected a list of strings, got {kind(value)}")
        return value

    def item(self, value: Any) -> Any:
        return text(value)

    def json(self) -> JsonSchemaValue:
        return {"type": "array", "items": {"type": "string"}}


@dataclass(frozen=True)
class Addresses(Texts):
    """HOST:PORT of other hosts' parts, as Prometheus and Alertmanager will reach them."""

    def item(self, value: Any) -> Any:
        written = text(value)
        try:
            parse_listen(written)
        except ValueError as exc:
            refuse(str(exc))
        return written

    def json(self) -> JsonSchemaValue:
        return {"type": "array", "items": Address().json()}


@dataclass(frozen=True)
class Command(Texts):
    """An argument list, never a shell string: nothing Warden runs goes through a shell."""

    def check(self, value: Any) -> Any:
        if isinstance(value, str):
            refuse(
                "expected an argument list such as [npm, run, build], got a string "
                "(commands never go through a shell)"
            )
        if value == []:
            refuse("expected a non-empty argument list")
        return super().check(value)

    def json(self) -> JsonSchemaValue:
        return {"type": "array", "items": {"type": "string"}, "minItems": 1}


@dataclass(frozen=True)
class TextMap(Kind):
    """Strings by name (environment variables, HTTP headers)."""

    expected = "a mapping of strings to strings"

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        """Each value is checked as a Text, so an unset variable is named by its key."""
        values = core_schema.dict_schema(
            core_schema.str_schema(), core_schema.no_info_plain_validator_function(text)
        )
        return core_schema.no_info_before_validator_function(self.check, values)

    def check(self, value: Any) -> Any:
        if value is None:
            return {}
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            refuse(f"expected a mapping of strings to strings, got {kind(value)}")
        return value

    def json(self) -> JsonSchemaValue:
        return {"type": ["object", "null"], "additionalProperties": {"type": "string"}}


@dataclass(frozen=True)
class ClockTime(Kind):
    expected = "a time of day"

    def check(self, value: Any) -> dt.time:
        written = text(value)
        try:
            return dt.time.fromisoformat(written)
        except ValueError:
            refuse(f"expected a time of day like 23:00, got {written!r}")

    def json(self) -> JsonSchemaValue:
        return {"type": "string", "pattern": r"^[0-9]{2}:[0-9]{2}(:[0-9]{2})?$"}


CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def crontab(expression: str, zone: dt.tzinfo) -> CronTrigger:
    """The trigger of a standard crontab expression, weekday 0 and 7 being Sunday.
    APScheduler 3's own `from_crontab` takes 0 for Monday (its issue #286, fixed only
    in 4.0): '0 3 * * 0' would fire on Mondays. Numbers are given it as day names."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"expected 5 fields (minute hour day month weekday), got {len(fields)}")
    minute, hour, day, month, weekday = fields
    return CronTrigger(
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=_weekdays(weekday),
        timezone=zone,
    )


def _weekdays(field: str) -> str:
    if not any(c.isdigit() for c in field):
        return field  # *, or names: as APScheduler reads them
    days: set[int] = set()
    for term in field.split(","):
        span, _, step = term.partition("/")
        first, _, last = ("0-6" if span == "*" else span).partition("-")
        low, high = int(first), int(last or (6 if step else first))
        if not (0 <= low <= 7 and 0 <= high <= 7 and low <= high):
            raise ValueError(f"weekday {term!r}: expected 0-7 (0 and 7: Sunday)")
        days |= {d % 7 for d in range(low, high + 1, int(step or 1))}
    return ",".join(CRON_DAYS[d] for d in sorted(days))


@dataclass(frozen=True)
class Cron(Kind):
    """A crontab expression (minute hour day month weekday), kept as written."""

    expected = "a cron expression"

    def check(self, value: Any) -> str:
        written = text(value)
        try:
            crontab(written, dt.UTC)
        except ValueError as exc:
            refuse(f"expected a cron expression like '0 3 * * 0', got {written!r} ({exc})")
        return written

    def json(self) -> JsonSchemaValue:
        return {"type": "string"}


@dataclass(frozen=True)
class TimeZone(Kind):
    expected = "a time zone"

    def check(self, value: Any) -> ZoneInfo:
        name = text(value)
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            refuse(f"unknown time zone {name!r}, expected e.g. Europe/Berlin")

    def json(self) -> JsonSchemaValue:
        return {"type": "string", "description": "an IANA time zone, e.g. Europe/Berlin"}


@dataclass(frozen=True)
class Size(Kind):
    """Bytes, in binary units: 2GiB, 512MiB, or a plain number written as a string."""

    def check(self, value: Any) -> int:
        written = text(value)
        try:
            size = parse_bytes(written)
        except ValueError:
            size = 0
        if size <= 0:
            refuse(f"expected a size such as 2GiB or 512MiB, got {written!r}")
        return size

    def json(self) -> JsonSchemaValue:
        return {"type": "string", "pattern": r"^[0-9.]+([KMGT](i?B)?)?$"}


@dataclass(frozen=True)
class Removed(Kind):
    """A key an earlier release knew: named with what to do instead, not as unknown."""

    reason: str

    def check(self, value: Any) -> NoReturn:
        refuse(self.reason)

    def json(self) -> JsonSchemaValue:
        return {"not": {}, "deprecated": True, "description": self.reason}


@dataclass(frozen=True)
class Nested:
    """A section whose model is built from data (the alerts' parameters), which a
    static annotation cannot name."""

    model: type[Any]

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return handler.generate_schema(self.model)

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return handler(schema)


@dataclass(frozen=True)
class NullIsEmpty:
    """A list or mapping written with no value (`key:` and nothing after) is empty."""

    empty: Callable[[], object]

    def fill(self, value: Any) -> Any:
        return self.empty() if value is None else value

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_before_validator_function(self.fill, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"anyOf": [handler(schema), {"type": "null"}]}


EMPTY_LIST = NullIsEmpty(list)
EMPTY_MAP = NullIsEmpty(dict)
