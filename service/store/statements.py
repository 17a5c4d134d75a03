"""Running a statement and reading its rows as frozen dataclasses (psycopg's class_row)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from psycopg.rows import class_row

AsyncConn = Any  # psycopg.AsyncConnection[Any]; see service.store.database
Row = TypeVar("Row")


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
