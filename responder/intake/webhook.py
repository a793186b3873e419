"""Alertmanager's webhook body (version 4), read strictly.

Anything that is not a well-formed version-4 body is refused with the reason,
before anything is stored: a 400 changes nothing. That includes what JSON
allows but Warden cannot keep or compare: strings with lone surrogates
(`"\ud800"`, not UTF-8), nesting deeper than Python's parser goes, and times
that are not RFC 3339. Each alert of an accepted
body is handled on its own; the group-level `status` is ignored, because
Alertmanager mixes firing and resolved alerts in one group notification.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from warden.rfc3339 import instant

_FINGERPRINT = re.compile(r"^[0-9a-f]{1,64}$")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
"""How a surrogate reaches a parsed string: JSON's escape (the UTF-8 decoder refuses
an encoded one). A body without one needs no look at each string."""
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


class BadBody(ValueError):
    """The body is not an Alertmanager version-4 webhook; the message says why."""


@dataclass(frozen=True)
class Alert:
    fingerprint: str
    status: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: str
    """As Alertmanager sent it: with the fingerprint, it names one firing episode."""

    @property
    def name(self) -> str:
        return self.labels["alertname"]

    @property
    def episode(self) -> tuple[str, str]:
        return (self.fingerprint, self.starts_at)


def parse_body(raw: bytes) -> list[Alert]:
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadBody(f"body is not JSON: {exc}") from exc
    except RecursionError as exc:
        raise BadBody("body is nested too deeply") from exc
    if not isinstance(body, dict):
        raise BadBody("body must be a JSON object")
    version = body.get("version")
    if version != "4":
        raise BadBody(f'version must be "4" (Alertmanager\'s webhook), got {version!r}')
    alerts = body.get("alerts")
    if not isinstance(alerts, list):
        raise BadBody("`alerts` must be a list")
    unicode = _SURROGATE_ESCAPE.search(raw) is not None
    return [_alert(a, i, unicode) for i, a in enumerate(alerts)]


def _alert(a: Any, i: int, unicode: bool) -> Alert:
    where = f"alerts[{i}]"
    if not isinstance(a, dict):
        raise BadBody(f"{where} must be an object")
    status = a.get("status")
    if status not in ("firing", "resolved"):
        raise BadBody(f"{where}.status must be firing or resolved, got {status!r}")
    labels = _string_map(a.get("labels"), f"{where}.labels", True, unicode)
    if not labels.get("alertname"):
        raise BadBody(f"{where}.labels.alertname is missing")
    annotations = _string_map(a.get("annotations", {}), f"{where}.annotations", False, unicode)
    fingerprint = a.get("fingerprint")
    if not isinstance(fingerprint, str) or not _FINGERPRINT.fullmatch(fingerprint):
        raise BadBody(f"{where}.fingerprint must be a hex string, got {fingerprint!r}")
    starts = a.get("startsAt")
    if not isinstance(starts, str) or instant(starts) is None:
        raise BadBody(f"{where}.startsAt must be an RFC 3339 time, got {starts!r}")
    return Alert(fingerprint, status, labels, annotations, starts)


def _string_map(value: Any, where: str, names: bool, unicode: bool) -> dict[str, str]:
    """`unicode`: the body escapes a surrogate somewhere, so each string is looked at."""
    if not isinstance(value, dict):
        raise BadBody(f"{where} must be an object of strings")
    for k, v in value.items():
        if not isinstance(v, str) or (names and not _LABEL_NAME.fullmatch(k)):
            raise BadBody(f"{where}.{k} must be a string with a valid name")
        if unicode and not (_utf8(k) and _utf8(v)):
            raise BadBody(f"{where}.{k!a} is not valid Unicode (a lone surrogate)")
    return dict(value)


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
