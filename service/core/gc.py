"""Garbage collection: blobs nothing references past the grace period, and expired uploads."""

from __future__ import annotations

import logging

from service.core.ports import GcResult, Transactions
from service.models import Caller

log = logging.getLogger(__name__)


class GarbageCollector:
    """Frees what no message needs any more, for every tenant that may have some."""

    def __init__(self, db: Transactions, grace_s: float, *, tenant_limit: int = 1000) -> None:
        self.db = db
        self.grace_s = grace_s
        self.tenant_limit = tenant_limit

    async def collect(self) -> GcResult:
        """One pass: each tenant in its own transaction."""
        async with self.db.control("gc_tenants") as tx:
            tenants = await tx.gc.tenants(self.tenant_limit)
        uploads = blobs = freed = 0
        for tenant_id in tenants:
            async with self.db.tenant(Caller(tenant_id), "collect_garbage") as tx:
                expired, collected, freed_bytes = await tx.gc.collect(self.grace_s)
            uploads += expired
            blobs += collected
            freed += freed_bytes
        if blobs or uploads:
            log.info(
                "garbage collection freed %d blobs, %d uploads, %d bytes", blobs, uploads, freed
            )
        return GcResult(tenants=len(tenants), blobs=blobs, uploads=uploads, freed_bytes=freed)
