"""What the schema refused, as lines a person reads: `key.path: expected ..., got ...`.

The kinds (`values.py`) word their own refusals; what pydantic reports about
the file's shape (an unknown key, a missing one, a list where a mapping
belongs) is worded here, naming the keys known at that place.
"""

from __future__ import annotations

import types
from collections.abc import Sequence
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from warden.config.values import PROBLEM, Kind, Nested, kind

_MAPPING = ("model_type", "model_attributes_type", "dict_type")


def problems_of(exc: ValidationError, root: type[BaseModel]) -> list[str]:
    """One line per refusal, in the file's order."""
    return [_line(e, root) for e in exc.errors()]


def _line(error: ErrorDetails, root: type[BaseModel]) -> str:
    loc = error["loc"]
    if loc and loc[-1] == "[key]":  # a mapping's key that is not a string (`3:`)
        where = f"{_path(loc[:-2])}.{loc[-2]}"
        return f"{where}: expected a name (a string) as key, got {kind(error['input'])}"
    return f"{_path(loc) or '(top level)'}: {_message(error, root)}"


def _message(error: ErrorDetails, root: type[BaseModel]) -> str:
    kind_of_error = error["type"]
    if kind_of_error == PROBLEM:
        return str((error.get("ctx") or {})["reason"])
    if kind_of_error == "extra_forbidden":
        model = _model_at(root, error["loc"][:-1])
        known = ", ".join(sorted(_keys(model))) if model else ""
        return f"unknown key (known keys here: {known or 'none'})"
    if kind_of_error in _MAPPING:
        return f"expected a mapping, got {kind(error['input'])}"
    if kind_of_error == "list_type":
        return f"expected a list of mappings, got {kind(error['input'])}"
    if kind_of_error == "missing":
        field = _field_at(root, error["loc"])
        kind_of_value = _kind_of(field) if field else None
        expected = kind_of_value.expected if kind_of_value else "a value"
        return f"required key is missing (expected {expected})"
    return f"{error['msg']}, got {kind(error['input'])}"


def _path(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _keys(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def _field(model: type[BaseModel], key: int | str) -> FieldInfo | None:
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return info
    return None


def _kind_of(field: FieldInfo) -> Kind | None:
    return next((m for m in field.metadata if isinstance(m, Kind)), None)


def _field_at(root: type[BaseModel], loc: Sequence[int | str]) -> FieldInfo | None:
    model = _model_at(root, loc[:-1])
    return _field(model, loc[-1]) if model and loc else None


def _model_at(root: type[BaseModel], loc: Sequence[int | str]) -> type[BaseModel] | None:
    """The section at `loc`, walking the schema as the file nests (lists and mappings
    of sections are walked through by their index or key)."""
    current: Any = root
    pending_item = False
    for part in loc:
        if pending_item:
            pending_item = False
            continue
        field = _field(current, part)
        if field is None:
            return None
        current, pending_item = section_of(field)
        if current is None:
            return None
    return None if pending_item else current


def section_of(field: FieldInfo) -> tuple[type[BaseModel] | None, bool]:
    """The section a field holds, and whether it holds many of them (a list or
    mapping whose index or key comes next in a path)."""
    nested = next((m.model for m in field.metadata if isinstance(m, Nested)), None)
    if nested is not None:
        return nested, False
    return _section_in(field.annotation)


def _section_in(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        for arg in get_args(annotation):
            found = _section_in(arg)
            if found[0] is not None:
                return found
        return None, False
    if origin in (list, dict):
        inner, _ = _section_in(get_args(annotation)[-1])
        return inner, inner is not None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    return None, False
