"""ExportMessages' one statement of its own: the number of messages its filters select."""

from __future__ import annotations

from typing import Any

from psycopg import sql

from service.models import MessageFilter
from service.store.messages import _conditions
from service.store.queries import query

AsyncConn = Any  # psycopg.AsyncConnection[Any]; see service.store.database


class ExportRepository:
    """Counts for ExportMessages' progress."""

    def __init__(self, conn: AsyncConn, tenant_id: str) -> None:
        self._conn = conn
        self._tenant = tenant_id

    async def count_messages(self, filter_: MessageFilter) -> int:
        """How many messages ListMessages would list with these filters (all pages)."""
        where, params = _conditions(self._tenant, filter_, None)
        statement = sql.SQL(query("export", "count_messages")).format(where=where)
        cur = await self._conn.execute(statement, params)
        row = await cur.fetchone()
        return int(row[0]) if row else 0
