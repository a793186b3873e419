"""The keys of `warden.yml` as a Markdown table, for docs/configuration.md: rendered
from the schema, so the page cannot list a default the code does not have."""

from __future__ import annotations

import json
from typing import Any, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from warden.config.refusals import section_of
from warden.config.schema import WardenFile
from warden.config.values import Removed

BEGIN = "<!-- keys: rendered by `warden check-config --reference`; do not edit -->"
END = "<!-- end of keys -->"


def markdown() -> str:
    """The table between its markers, as docs/configuration.md holds it."""
    rows = ["| Key | Default | Meaning |", "| --- | --- | --- |"]
    for path, info in keys(WardenFile, ""):
        section, many = section_of(info)
        doc = (section.__doc__ or "").split("\n")[0] if section else ""
        meaning = (info.description or doc).replace("|", "\\|")
        default = "" if section is not None and not many else _default(info.default)
        rows.append(f"| `{path}` | {default} | {meaning} |")
    return "\n".join([BEGIN, *rows, END]) + "\n"


def keys(model: type[BaseModel], prefix: str) -> list[tuple[str, FieldInfo]]:
    """Every key under `model` with its declaration, in the file's order; a section's
    keys follow its own, those of a list's items as `key[].item`, those of a
    mapping's values as `key.<name>.item`."""
    out: list[tuple[str, FieldInfo]] = []
    for name, info in model.model_fields.items():
        if _removed(info.metadata):
            continue
        path = f"{prefix}{info.alias or name}"
        out.append((path, info))
        section, many = section_of(info)
        if section is not None:
            item = (".<name>." if get_origin(info.annotation) is dict else "[].") if many else "."
            out += keys(section, f"{path}{item}")
    return out


def _removed(metadata: list[Any]) -> bool:
    return any(isinstance(m, Removed) for m in metadata)


def _default(value: Any) -> str:
    if value is PydanticUndefined:
        return "required"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, str):
        shown = value or '""'
    elif isinstance(value, float):
        shown = f"{value:g}"
    else:
        shown = json.dumps(value) if not isinstance(value, int) else str(value)
    return f"`{shown}`".replace("|", "\\|")
