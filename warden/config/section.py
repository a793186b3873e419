"""What every section of `warden.yml` shares: unknown keys are refused, defaults are
checked like written values, and a section written with no value is empty."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    ValidationError,
    create_model,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticUndefined, core_schema

S = TypeVar("S", bound="Section")


class Section(BaseModel):
    """A mapping of `warden.yml`. Defaults are written as the file would write them
    (`"30s"`) and pass the same check, so the schema shows them as a person types
    them and Warden reads them as it reads the file."""

    model_config = ConfigDict(
        extra="forbid", validate_default=True, frozen=True, populate_by_name=False
    )

    @model_validator(mode="before")
    @classmethod
    def _null_is_empty(cls, data: Any) -> Any:
        return {} if data is None else data

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """Null where the section may be written with nothing after its key: where it
        has no key that must be written."""
        own = handler(schema)
        try:
            cls.model_validate({})
        except ValidationError:
            return own
        return {"anyOf": [own, {"type": "null"}]}


def key(default: Any = PydanticUndefined, description: str = "", **more: Any) -> Any:
    """Declares a key: its default as the file writes it (`"30s"`), and what it means.
    Typed `Any` because the key's check turns what the file writes into what Warden
    uses (`"30s"` into 30.0), which a static type of the default cannot say."""
    return Field(default, description=description or None, **more)


def with_defaults(base: type[S], name: str, doc: str, **defaults: Any) -> type[S]:
    """`base` with other defaults: one kind of section in several places (the modes),
    each key's check and meaning still written once."""
    fields: dict[str, Any] = {
        key: (info.annotation, FieldInfo.merge_field_infos(info, default=defaults[key]))
        for key, info in base.model_fields.items()
        if key in defaults
    }
    return create_model(name, __base__=base, __doc__=doc, **fields)
