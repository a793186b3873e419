"""Statements through the database driver, planned once from a Core statement.

SQLAlchemy's execution of a compiled, cached statement still costs about 100 us
of CPU a read on this machine (an execution context, parameters built, a result
wrapped) against 10-20 us for the driver itself: in a simulated week, whose
130,000 reads were most of its time, in the webhook's worker, and in the
webhook's one write (a body accepted). A statement that needs nothing of
SQLAlchemy at run time (no list parameter expanded at
execution, no column type that converts its values, such as JSON) is compiled
once for the engine's dialect and run through the driver, with the same SQL,
the same parameter conversions and rows that read like SQLAlchemy's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler


class DriverRow(tuple[Any, ...]):
    """A row as SQLAlchemy's `Row` reads: by position, and by name (`_mapping`)."""

    keys: tuple[str, ...] = ()

    @property
    def _mapping(self) -> Mapping[str, Any]:
        return dict(zip(self.keys, self, strict=True))

    def __getattr__(self, name: str) -> Any:
        try:
            return self[self.keys.index(name)]
        except ValueError:
            raise AttributeError(name) from None


@dataclass(frozen=True)
class DriverStatement:
    sql: str
    names: tuple[str, ...]
    """The parameters in the order the SQL takes them."""
    fixed: Mapping[str, Any]
    """Values the statement carries itself (a literal compared with)."""
    convert: Mapping[str, Callable[[Any], Any]]
    """What SQLAlchemy applies to a parameter before the driver sees it."""
    row: type[DriverRow]

    @staticmethod
    def of(statement: Executable, dialect: Dialect) -> DriverStatement | None:
        if not isinstance(statement, ClauseElement):
            return None
        compiled = statement.compile(dialect=dialect)
        if not isinstance(compiled, SQLCompiler):
            return None
        if compiled.post_compile_params or compiled.literal_execute_params:
            return None  # a list parameter: expanded at each execution
        if any(c.type._cached_result_processor(dialect, None) for c in compiled._result_columns):
            return None  # a column whose values SQLAlchemy converts (JSON)
        names = tuple(compiled.positiontup or ())
        fixed = {n: b.effective_value for n, b in compiled.binds.items() if not b.required}
        convert = {n: f for n, f in compiled._bind_processors.items() if callable(f)}
        row = type(
            "Row", (DriverRow,), {"keys": tuple(c.keyname for c in compiled._result_columns)}
        )
        return DriverStatement(str(compiled), names, fixed, convert, row)

    def run(self, driver: Any, params: Mapping[str, Any]) -> list[Any]:
        values = [params[n] if n in params else self.fixed[n] for n in self.names]
        for i, name in enumerate(self.names):
            if name in self.convert and values[i] is not None:
                values[i] = self.convert[name](values[i])
        rows: Sequence[tuple[Any, ...]] = driver.execute(self.sql, values).fetchall()
        return [self.row(r) for r in rows]
