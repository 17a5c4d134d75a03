"""Running a statement and reading its rows as frozen dataclasses (psycopg's class_row)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any, Generic, TypeVar

from psycopg.rows import RowMaker, class_row

AsyncConn = Any  # psycopg.AsyncConnection[Any]; see service.store.database
Row = TypeVar("Row")
Other = TypeVar("Other")


async def records(
    conn: AsyncConn, row: type[Row], query: str, params: Mapping[str, Any], **options: Any
) -> list[Row]:
    """Every row of the statement, as `row` dataclasses (matched by column name)."""
    cur = conn.cursor(row_factory=class_row(row))
    await cur.execute(query, params, **options)
    found: list[Row] = await cur.fetchall()
    return found


async def record(
    conn: AsyncConn, row: type[Row], query: str, params: Mapping[str, Any], **options: Any
) -> Row | None:
    """The first row of the statement as a `row` dataclass, None when there is none."""
    cur = conn.cursor(row_factory=class_row(row))
    await cur.execute(query, params, **options)
    found: Row | None = await cur.fetchone()
    return found


class JoinedRow(Generic[Row, Other]):
    """A row factory for a row of one table joined (LEFT JOIN) to a row of another: the
    columns of `first` by name, then those of `second` by name with `prefix`; the second is
    None when its first column is NULL (no row to join)."""

    def __init__(self, first: type[Row], second: type[Other], prefix: str) -> None:
        self.first = first
        self.second = second
        self.prefix = prefix
        self._first_names = {f.name for f in fields(first)}  # type: ignore[arg-type]
        # The statement's columns -> which go where (the same statement, the same answer).
        self._plans: dict[tuple[str, ...], tuple[list[tuple[int, str]], list[tuple[int, str]]]]
        self._plans = {}

    def _plan(self, names: tuple[str, ...]) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
        plan = self._plans.get(names)
        if plan is None:
            own = [(i, n) for i, n in enumerate(names) if n in self._first_names]
            joined = [
                (i, n.removeprefix(self.prefix))
                for i, n in enumerate(names)
                if n.startswith(self.prefix)
            ]
            plan = self._plans[names] = (own, joined)
        return plan

    def __call__(self, cursor: Any) -> RowMaker[tuple[Row, Other | None]]:
        own, joined = self._plan(tuple(c.name for c in cursor.description or ()))
        first_column = joined[0][0]

        def make(values: Sequence[Any]) -> tuple[Row, Other | None]:
            row = self.first(**{n: values[i] for i, n in own})
            if values[first_column] is None:
                return row, None
            return row, self.second(**{n: values[i] for i, n in joined})

        return make
