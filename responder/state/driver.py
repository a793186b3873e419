"""Statements through the database driver, planned once from a Core statement.

SQLAlchemy's execution of a compiled, cached statement still costs about 100 us
of CPU on this machine (an execution context, parameters built, a result
wrapped) against 10-20 us for the driver itself: in a simulated week, whose
reads and writes were most of its time, and in the webhook's worker and its
accepted bodies. A statement that needs nothing of SQLAlchemy at run time (no
column type that converts the values it returns, such as JSON; no default it
computes at each execution) is compiled once for the engine's dialect and the
parameters it is given, and run through the driver, with the same SQL, the same
parameter conversions, list parameters expanded as SQLAlchemy expands them, and
rows that read like SQLAlchemy's. Reads use it (`StoreBase._rows`), and so do
the statements of a write transaction (`Tx`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection
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
    lists: frozenset[str] = frozenset()
    """Parameters that take a list (IN): one placeholder an item, at each execution.
    SQLite reads an empty list, `IN ()`, as no row."""

    @staticmethod
    def of(
        statement: Executable, dialect: Dialect, keys: Sequence[str] | None = None
    ) -> DriverStatement | None:
        """Planned for parameters named `keys` (an INSERT or UPDATE without its own
        values sets the columns it is given, as SQLAlchemy's execution compiles it)."""
        if not isinstance(statement, ClauseElement):
            return None
        compiled = statement.compile(
            dialect=dialect, column_keys=None if keys is None else list(keys)
        )
        if not isinstance(compiled, SQLCompiler):
            return None
        if compiled.literal_execute_params:
            return None  # a value rendered into the SQL at each execution
        if compiled.insert_prefetch or compiled.update_prefetch:
            return None  # a default SQLAlchemy computes at each execution
        if any(c.type._cached_result_processor(dialect, None) for c in compiled._result_columns):
            return None  # a column whose values SQLAlchemy converts (JSON)
        names = tuple(compiled.positiontup or ())
        fixed = {n: b.effective_value for n, b in compiled.binds.items() if not b.required}
        convert = {n: f for n, f in compiled._bind_processors.items() if callable(f)}
        row = type(
            "Row", (DriverRow,), {"keys": tuple(c.keyname for c in compiled._result_columns)}
        )
        lists = frozenset(n for n in names if compiled.binds[n].expanding)
        return DriverStatement(str(compiled), names, fixed, convert, row, lists)

    def run(self, driver: Any, params: Mapping[str, Any]) -> list[Any]:
        return self.execute(driver, params).rows

    def execute(self, driver: Any, params: Mapping[str, Any]) -> DriverResult:
        sql, values = self.sql, []
        for name in self.names:
            value = params[name] if name in params else self.fixed[name]
            convert = self.convert.get(name)
            if name in self.lists:
                items = [v if convert is None or v is None else convert(v) for v in value]
                sql = sql.replace(f"__[POSTCOMPILE_{name}]", ", ".join(["?"] * len(items)))
                values.extend(items)
            else:
                values.append(value if convert is None or value is None else convert(value))
        cursor = driver.execute(sql, values)
        rows: Sequence[tuple[Any, ...]] = cursor.fetchall()
        return DriverResult([self.row(r) for r in rows], cursor.rowcount)


class Result(Protocol):
    """What the store reads of a write's result, from SQLAlchemy's or the driver's."""

    @property
    def rowcount(self) -> int: ...

    def first(self) -> Any: ...

    def scalar_one(self) -> Any: ...

    def __iter__(self) -> Iterator[Any]: ...


@dataclass(frozen=True)
class DriverResult:
    rows: list[Any]
    rowcount: int

    def first(self) -> Any:
        return self.rows[0] if self.rows else None

    def scalar_one(self) -> Any:
        if len(self.rows) != 1:
            raise LookupError(f"one row expected, {len(self.rows)} returned")
        return self.rows[0][0]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.rows)


Planner = Callable[[Executable, tuple[str, ...]], DriverStatement | None]
"""The store's plan of a statement for the parameters named (None: SQLAlchemy runs it)."""


class Tx:
    """A write transaction's statements: through the driver where the store planned
    them, as the reads are (in a simulated step, SQLAlchemy's execution of the
    writes was a fifth of the time), else through SQLAlchemy's execution."""

    def __init__(
        self,
        conn: Connection,
        driver: Any,
        plan: Planner,
        note: Callable[[Connection, Executable], None],
    ) -> None:
        """`driver`: SQLite's connection under `conn` (None: nothing is planned)."""
        self.conn, self.driver, self._plan, self._note = conn, driver, plan, note

    def execute(
        self,
        statement: Executable,
        params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    ) -> Result:
        if params is None or isinstance(params, Mapping):
            given = params or {}
            plan = self._plan(statement, tuple(sorted(given)))
            if plan is not None:
                self._note(self.conn, statement)  # as SQLAlchemy's before_execute does
                return plan.execute(self.driver, given)
        return self.conn.execute(statement, params)
