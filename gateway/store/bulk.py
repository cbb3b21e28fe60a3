"""Many-row statements handed to the driver as they are, for the busy write paths.

SQLAlchemy's `connection.execute(statement, rows)` builds a parameter dictionary per row
and runs every value through its column type, which costs more Python than the database
spends storing the row. Here the SQL is made once per dialect from the table, each value
goes through the same column type's bind processor (so dates and JSON are stored exactly
as the ORM stores them), and the rows go to the driver's executemany, or to one multi-row
INSERT when generated keys come back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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


def values(
    row: Mapping[str, Any], columns: Sequence[str], procs: Sequence[Processor]
) -> tuple[Any, ...]:
    """One row's parameters, in column order, as the driver takes them."""
    return tuple(
        row[name] if proc is None or row[name] is None else proc(row[name])
        for name, proc in zip(columns, procs, strict=True)
    )


class BulkInsert:
    """`INSERT INTO table (columns) VALUES …` for many rows at once."""

    def __init__(self, table: Table, columns: Sequence[str], returning: Sequence[str] = ()) -> None:
        self.table = table
        self.columns = list(columns)
        self.returning = list(returning)
        self._prepared: dict[str, tuple[str, str, list[Processor]]] = {}

    def _prepare(self, connection: Connection) -> tuple[str, str, list[Processor]]:
        name = connection.dialect.name
        if name not in self._prepared:
            mark = placeholder(connection)
            head = f"INSERT INTO {self.table.name} ({', '.join(self.columns)}) VALUES "
            one = "(" + ", ".join([mark] * len(self.columns)) + ")"
            self._prepared[name] = (head, one, processors(connection, self.table, self.columns))
        return self._prepared[name]

    def execute(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> list[Row[Any]]:
        """Insert the rows; answers the `returning` columns of each (in no set order)."""
        if not rows:
            return []
        head, one, procs = self._prepare(connection)
        params = [values(row, self.columns, procs) for row in rows]
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
