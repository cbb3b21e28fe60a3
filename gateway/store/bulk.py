"""Many-row statements handed to the driver as they are, for the busy write paths.

SQLAlchemy's `connection.execute(statement, rows)` builds a parameter dictionary per row
and runs every value through its column type, which costs more Python than the database
spends storing the row. Here the SQL is made once per dialect from the table, each value
goes through the same column type's bind processor (so dates and JSON are stored exactly
as the ORM stores them), and the rows go to the driver's executemany, or to one multi-row
INSERT when generated keys come back. `BulkUpdate` does the same for an UPDATE of many rows
by their keys. `SelectIn` reads rows by a list of keys the same way,
without building and compiling a SELECT each time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import attrgetter, itemgetter
from typing import Any

from sqlalchemy import Connection, Row, Table

#: rows per multi-row INSERT (well below SQLite's 32766 parameters)
ROWS_PER_STATEMENT = 500

Processor = Callable[[Any], Any] | None


def placeholder(connection: Connection) -> str:
    """The driver's parameter marker: `?` for sqlite3, `%s` for psycopg."""
    return "?" if connection.dialect.paramstyle == "qmark" else "%s"


def processors(connection: Connection, table: Table, columns: Sequence[str]) -> list[Processor]:
    """Each column's bind processor for this connection's dialect (None: value as is)."""
    dialect = connection.dialect
    return [table.c[name].type._cached_bind_processor(dialect) for name in columns]


class _Row:
    """Turns a row (a mapping, an object whose attributes are named after the columns, or a
    tuple whose positions are the `columns`) into the driver's parameters: the columns'
    values in order, each through its bind processor. Made once per statement, because on
    the busy paths this runs for every row: only the columns that have a processor are
    looked at twice."""

    def __init__(
        self, columns: Sequence[str | int], procs: Sequence[Processor], attributes: bool = False
    ) -> None:
        self._get: Callable[[Any], Any] = (
            attrgetter(*[str(name) for name in columns]) if attributes else itemgetter(*columns)
        )
        self._procs = [(i, proc) for i, proc in enumerate(procs) if proc is not None]
        #: the getter of one name answers the value, not a tuple of one
        self._one = len(columns) == 1

    def __call__(self, row: Any) -> tuple[Any, ...]:
        found = [self._get(row)] if self._one else list(self._get(row))
        for i, proc in self._procs:
            value = found[i]
            if value is not None:
                found[i] = proc(value)
        return tuple(found)


class BulkInsert:
    """`INSERT INTO table (columns) VALUES …` for many rows at once.

    The rows are mappings, or objects whose attributes hold the columns (`attributes`).
    """

    def __init__(
        self,
        table: Table,
        columns: Sequence[str],
        returning: Sequence[str] = (),
        *,
        attributes: bool = False,
    ) -> None:
        self.table = table
        self.columns = list(columns)
        self.returning = list(returning)
        self.attributes = attributes
        self._prepared: dict[str, tuple[str, str, _Row]] = {}

    def _prepare(self, connection: Connection) -> tuple[str, str, _Row]:
        name = connection.dialect.name
        if name not in self._prepared:
            mark = placeholder(connection)
            head = f"INSERT INTO {self.table.name} ({', '.join(self.columns)}) VALUES "
            one = "(" + ", ".join([mark] * len(self.columns)) + ")"
            procs = processors(connection, self.table, self.columns)
            self._prepared[name] = (head, one, _Row(self.columns, procs, self.attributes))
        return self._prepared[name]

    def execute(self, connection: Connection, rows: Sequence[Any]) -> list[Row[Any]]:
        """Insert the rows; answers the `returning` columns of each (in no set order)."""
        if not rows:
            return []
        head, one, convert = self._prepare(connection)
        params = [convert(row) for row in rows]
        if not self.returning:
            connection.exec_driver_sql(head + one, params)
            return []
        tail = " RETURNING " + ", ".join(self.returning)
        found: list[Row[Any]] = []
        for start in range(0, len(params), ROWS_PER_STATEMENT):
            chunk = params[start : start + ROWS_PER_STATEMENT]
            flat = tuple(value for row in chunk for value in row)
            sql = head + ", ".join([one] * len(chunk)) + tail
            found.extend(connection.exec_driver_sql(sql, flat).all())
        return found


class BulkUpdate:
    """`UPDATE table SET columns = … WHERE key = … AND condition` for many rows, in one
    executemany.

    Each row is a sequence: the new values in `columns` order, the key, then the parameters
    of `condition`, which is SQL written with `{p}` where the driver's marker goes. The
    columns' values and the key go through their bind processors; the condition's parameters
    are handed to the driver as they are. `fixed` is SQL that sets columns to the same values
    for every row (`status = 'SENT', claimed_until = NULL`).
    """

    def __init__(
        self,
        table: Table,
        columns: Sequence[str],
        key: str,
        condition: str = "",
        *,
        fixed: str = "",
    ) -> None:
        self.table = table
        self.columns = list(columns)
        self.key = key
        self.condition = condition
        self.fixed = fixed
        self._prepared: dict[str, tuple[str, _Row]] = {}

    def _prepare(self, connection: Connection) -> tuple[str, _Row]:
        name = connection.dialect.name
        if name not in self._prepared:
            mark = placeholder(connection)
            assignments = [f"{column} = {mark}" for column in self.columns]
            sets = ", ".join([*assignments, self.fixed] if self.fixed else assignments)
            sql = f"UPDATE {self.table.name} SET {sets} WHERE {self.key} = {mark}"
            if self.condition:
                sql += " AND " + self.condition.format(p=mark)
            procs = processors(connection, self.table, [*self.columns, self.key])
            procs += [None] * self.condition.count("{p}")  # the condition's, as they are
            self._prepared[name] = (sql, _Row(range(len(procs)), procs))
        return self._prepared[name]

    def execute(self, connection: Connection, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        sql, convert = self._prepare(connection)
        connection.exec_driver_sql(sql, [convert(row) for row in rows])


#: a SELECT's SQL before and after its IN list, the driver's marker, the columns' result
#: processors, the keys' bind processor, and the conditions' (None: no conditions)
_Select = tuple[str, str, str, list[Processor], Processor, _Row | None]


class SelectIn:
    """`SELECT columns FROM table WHERE equal = … AND among IN (…)` for a list of keys.

    A Core SELECT with `.in_()` is built, cache-keyed and has its IN list rendered on every
    call; this SQL is a few string joins. Keys and conditions go through their columns' bind
    processors and the values read through their result processors, as Core does, so a
    date or JSON column reads back the same on SQLite and PostgreSQL.

    With `lock`, the rows are locked for the transaction on PostgreSQL (`FOR UPDATE`), in
    the order of `among`, so that writers locking several of them wait for each other
    rather than deadlock; SQLite has one writer at a time, and no such clause.
    """

    def __init__(
        self,
        table: Table,
        columns: Sequence[str],
        among: str,
        equal: Sequence[str] = (),
        *,
        lock: bool = False,
    ) -> None:
        self.table = table
        self.columns = list(columns)
        self.among = among
        self.equal = list(equal)
        self.lock = lock
        self._prepared: dict[str, _Select] = {}

    def _prepare(self, connection: Connection) -> _Select:
        dialect = connection.dialect
        if dialect.name not in self._prepared:
            mark = placeholder(connection)
            where = "".join(f"{name} = {mark} AND " for name in self.equal)
            head = f"SELECT {', '.join(self.columns)} FROM {self.table.name} WHERE {where}"
            head += f"{self.among} IN ("
            tail = ")"
            if self.lock:
                tail += f" ORDER BY {self.among}"
                tail += "" if dialect.name == "sqlite" else " FOR UPDATE"
            results: list[Processor] = [
                self.table.c[name].type._cached_result_processor(dialect, None)
                for name in self.columns
            ]
            [key] = processors(connection, self.table, [self.among])
            equal = (
                _Row(self.equal, processors(connection, self.table, self.equal))
                if self.equal
                else None
            )
            self._prepared[dialect.name] = (head, tail, mark, results, key, equal)
        return self._prepared[dialect.name]

    def execute(
        self, connection: Connection, keys: Sequence[Any], *equal: Any
    ) -> list[tuple[Any, ...]]:
        """The rows (values in `columns` order) whose `among` is one of `keys` and whose
        `equal` columns hold `equal`, in no set order unless locked."""
        if not keys:
            return []
        head, tail, mark, results, key, condition = self._prepare(connection)
        fixed = condition(dict(zip(self.equal, equal, strict=True))) if condition else ()
        wanted = [k if key is None or k is None else key(k) for k in dict.fromkeys(keys)]
        if self.lock:
            wanted.sort()  # one order across the statements, too
        found: list[tuple[Any, ...]] = []
        for start in range(0, len(wanted), ROWS_PER_STATEMENT):
            chunk = wanted[start : start + ROWS_PER_STATEMENT]
            sql = head + ", ".join([mark] * len(chunk)) + tail
            rows = connection.exec_driver_sql(sql, (*fixed, *chunk)).all()
            if any(proc is not None for proc in results):
                found.extend(
                    tuple(
                        value if proc is None else proc(value)
                        for value, proc in zip(row, results, strict=True)
                    )
                    for row in rows
                )
            else:
                found.extend(tuple(row) for row in rows)
        return found
