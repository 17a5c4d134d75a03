"""The dictionary repository: a tenant's zstd dictionaries, in the caller's transaction."""

from __future__ import annotations

from typing import Any

from service.codec.packs import Trained
from service.core.ports import StoredDictionary
from service.store.queries import query
from service.store.statements import record

AsyncConn = Any  # psycopg.AsyncConnection[Any]; see service.store.database


def _q(name: str) -> str:
    return query("dictionaries", name)


class DictionaryRepository:
    """Dictionaries of one tenant in one transaction."""

    def __init__(self, conn: AsyncConn, tenant_id: str) -> None:
        self._conn = conn
        self._tenant = tenant_id

    async def latest(self) -> StoredDictionary | None:
        """The newest dictionary."""
        return await record(self._conn, StoredDictionary, _q("latest"), {"tenant_id": self._tenant})

    async def get(self, dictionary_id: int) -> StoredDictionary | None:
        """A dictionary by id."""
        return await record(
            self._conn,
            StoredDictionary,
            _q("get"),
            {"tenant_id": self._tenant, "dictionary_id": dictionary_id},
        )

    async def samples(self, limit: int) -> list[tuple[bytes, int | None]]:
        """The newest packs, with the dictionary each needs."""
        cur = await self._conn.execute(
            _q("samples"), {"tenant_id": self._tenant, "limit": limit}, binary=True
        )
        return [(bytes(pack), dictionary_id) for pack, dictionary_id in await cur.fetchall()]

    async def next_id(self) -> int:
        """The id the next dictionary gets."""
        cur = await self._conn.execute(_q("next_id"), {"tenant_id": self._tenant})
        row = await cur.fetchone()
        return int(row[0]) if row else 1

    async def undictionaried(self, limit: int) -> int:
        """Packs written without a dictionary, counted up to `limit`."""
        cur = await self._conn.execute(
            _q("undictionaried"), {"tenant_id": self._tenant, "limit": limit}
        )
        row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def recent_ratio(self, dictionary_id: int, limit: int) -> float:
        """Compressed/raw of the newest packs made with this dictionary (0: none)."""
        cur = await self._conn.execute(
            _q("recent_ratio"),
            {"tenant_id": self._tenant, "dictionary_id": dictionary_id, "limit": limit},
        )
        row = await cur.fetchone()
        return float(row[0]) if row else 0.0

    async def drop_unused(self, current: int) -> list[int]:
        """Deletes the dictionaries older than `current` no pack needs; their ids."""
        cur = await self._conn.execute(
            _q("drop_unused"), {"tenant_id": self._tenant, "current": current}
        )
        return [row[0] for row in await cur.fetchall()]

    async def add(self, trained: Trained) -> bool:
        """Saves a dictionary and makes it current; False when its id is taken."""
        cur = await self._conn.execute(
            _q("add"),
            {
                "tenant_id": self._tenant,
                "dictionary_id": trained.dictionary.dictionary_id,
                "data": trained.dictionary.data,
                "samples": trained.samples,
                "sample_bytes": trained.sample_bytes,
                "dict_ratio": trained.dict_ratio,
                "plain_ratio": trained.plain_ratio,
            },
        )
        return await cur.fetchone() is not None
