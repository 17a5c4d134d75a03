"""The tenant registry: which tenants the service has stored mail for (control plane)."""

from __future__ import annotations

from typing import Any

from service.store.queries import query

AsyncConn = Any  # psycopg.AsyncConnection[Any]; see service.store.database

_FIRST = "00000000-0000-0000-0000-000000000000"


class TenantRepository:
    """known_tenants, from any transaction (it has no row-level security)."""

    def __init__(self, conn: AsyncConn, tenant_id: str | None) -> None:
        self._conn = conn
        self._tenant = tenant_id

    async def register(self) -> None:
        """Notes that the transaction's tenant has mail (sent with what follows)."""
        await self._conn.execute(query("tenants", "register"), {"tenant_id": self._tenant})

    async def known(self, after: str | None, limit: int) -> list[str]:
        """Known tenants after `after`, in order."""
        cur = await self._conn.execute(
            query("tenants", "known"), {"after": after or _FIRST, "limit": limit}
        )
        return [row[0] for row in await cur.fetchall()]
