"""`emailstore recompress`: older content rewritten into packs with the current dictionary.

Rows written before packs (headers in the row, bodies in blobs) and packs made with an older
dictionary, or none, are rewritten in batches, each batch one transaction: its rows are
locked, their small parts gathered into one pack made with the tenant's current dictionary,
and the blob references they no longer need given up in the same transaction. Killed at any
moment, every message still reads back exactly: a batch is all done or not at all, and the
next run goes on from what is left. A tenant without a dictionary first has its old rows
packed without one, then, if there is enough to train on, a dictionary trained and a second
pass made with it.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

from service.codec import packs
from service.codec.blobs import decode_blob
from service.core.dictionaries import DictionaryBook
from service.core.ports import NewContent, PartRef, StoredContent, Transactions, UnitOfWork
from service.models import Caller

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecompressResult:
    """What a run did for one tenant."""

    tenant_id: str
    rewritten: int
    released_blobs: int
    stored_before: int
    stored_after: int
    dictionary_id: int | None
    dropped_dictionaries: int


@dataclass(frozen=True)
class _Rewrite:
    content: NewContent
    released: Counter[bytes]  # references given up, per blob
    unreferenced: set[bytes]  # blobs the message no longer references at all
    stored_delta: int
    stored_before: int


class Recompressor:
    """Rewrites a tenant's content, a batch at a time."""

    def __init__(
        self, db: Transactions, book: DictionaryBook, level: int, inline_max: int, batch: int = 200
    ) -> None:
        self.db = db
        self.book = book
        self.level = level
        self.inline_max = inline_max
        self.batch = batch

    async def tenant(self, caller: Caller) -> RecompressResult:
        """Rewrites every row of the tenant that is not packed with its current dictionary."""
        dictionary = await self.book.current(caller)
        total = [0, 0, 0, 0]
        if dictionary is None:
            # Packs first (they are what a dictionary is trained on), then the dictionary.
            self._add(total, await self._pass(caller, None))
            trained = await self.book.train(caller)
            dictionary = trained.dictionary if trained else None
        dropped = 0
        if dictionary is not None:
            second = await self._pass(caller, dictionary)
            total[0] = second[0]  # the same rows again: count each once
            total[1] += second[1]
            total[2] = total[2] if total[2] else second[2]
            total[3] = second[3]
            async with self.db.tenant(caller, "drop_dictionaries") as tx:
                dropped = len(await tx.dictionaries.drop_unused(dictionary.dictionary_id))
        return RecompressResult(
            caller.tenant_id,
            total[0],
            total[1],
            total[2],
            total[3],
            dictionary.dictionary_id if dictionary else None,
            dropped,
        )

    @staticmethod
    def _add(total: list[int], counts: tuple[int, int, int, int]) -> None:
        for i, n in enumerate(counts):
            total[i] += n

    async def _pass(
        self, caller: Caller, dictionary: packs.Dictionary | None
    ) -> tuple[int, int, int, int]:
        """Batches until none is left: (rows, blobs released, stored bytes before, after)."""
        after = ""
        rewritten = released = before = later = 0
        while True:
            found, last, freed, was, now = await self._batch(caller, dictionary, after)
            rewritten += found
            released += freed
            before += was
            later += now
            if found < self.batch:
                return rewritten, released, before, later
            after = last

    async def _batch(
        self, caller: Caller, dictionary: packs.Dictionary | None, after: str
    ) -> tuple[int, str, int, int, int]:
        dictionary_id = dictionary.dictionary_id if dictionary else None
        async with self.db.tenant(caller, "recompress") as tx:
            rows = await tx.messages.to_recompress(after, self.batch, dictionary_id)
            released: Counter[bytes] = Counter()
            messages: Counter[bytes] = Counter()
            before = later = 0
            for key, stored, attachment_shas in rows:
                change = await self._rewrite(caller, tx, key, stored, attachment_shas, dictionary)
                await tx.messages.rewrite_content(key, change.content, change.stored_delta)
                released.update(change.released)
                messages.update(change.unreferenced)
                before += change.stored_before
                later += change.stored_before + change.stored_delta
            unreferenced: list[bytes] = []
            if released:
                unreferenced = await tx.blobs.release(
                    {sha: (n, messages[sha]) for sha, n in released.items()}
                )
                if unreferenced:
                    await tx.blobs.mark_gc_pending()
        return len(rows), rows[-1][0] if rows else after, len(unreferenced), before, later

    async def _rewrite(
        self,
        caller: Caller,
        tx: UnitOfWork,
        key: str,
        stored: StoredContent,
        attachment_shas: list[bytes],
        dictionary: packs.Dictionary | None,
    ) -> _Rewrite:
        """One row's new layout: every small part in a pack, the large ones (and attachments)
        left in their blobs."""
        owner = f"message {key!r}"
        parts = (
            await self.book.unpack(caller, stored.pack, stored.dictionary_id, owner, tx)
            if stored.pack
            else {}
        )
        parts.setdefault(packs.HEADERS, packs.encode_headers(stored.headers))
        singles = [stored.text_sha256, stored.html_sha256, stored.skeleton_sha256]
        candidates = [s for s in singles if s is not None]
        candidates += [p for p in stored.parts if isinstance(p, bytes) and p not in attachment_shas]
        sizes = await tx.blobs.sizes(candidates) if candidates else {}
        small = [
            s
            for s in dict.fromkeys(candidates)
            if s in sizes and sizes[s].size_bytes <= self.inline_max
        ]
        blobs = await tx.blobs.read_whole(small) if small else {}
        data = {sha: decode_blob(b.codec, b.chunks) for sha, b in blobs.items()}
        released: Counter[bytes] = Counter()
        kept: list[bytes | None] = []
        inline = 0
        for name, sha in zip((packs.TEXT, packs.HTML, packs.SKELETON), singles, strict=True):
            if sha is not None and sha in data:
                parts[name] = data[sha]
                released[sha] += 1
                inline += len(data[sha]) if name != packs.SKELETON else 0
                kept.append(None)
            else:
                kept.append(sha)
        refs: list[PartRef] = []
        for i, p in enumerate(stored.parts):
            if isinstance(p, bytes) and p in data and p not in attachment_shas:
                parts[packs.body(i)] = data[p]
                released[p] += 1
                refs.append(i)
            else:
                refs.append(p)
        packed = packs.pack(parts, self.level, dictionary)
        still = (
            set(attachment_shas)
            | {s for s in kept if s}
            | {p for p in refs if isinstance(p, bytes)}
        )
        freed = sum(sizes[sha].stored_size_bytes * n for sha, n in released.items())
        old_pack = len(stored.pack) if stored.pack else 0
        content = NewContent(
            pack=packed,
            text_sha256=kept[0],
            html_sha256=kept[1],
            skeleton_sha256=kept[2],
            parts=tuple(refs),
            inline_bytes=inline,
        )
        return _Rewrite(
            content=content,
            released=released,
            unreferenced={sha for sha in released if sha not in still},
            stored_delta=len(packed.stored) - old_pack - freed,
            stored_before=old_pack + freed,
        )

    async def all_tenants(self) -> list[RecompressResult]:
        """Every known tenant, one after the other."""
        results = []
        after: str | None = None
        while True:
            async with self.db.control("known_tenants") as tx:
                tenants = await tx.tenants.known(after, 500)
            for tenant_id in tenants:
                results.append(await self.tenant(Caller(tenant_id)))
            if len(tenants) < 500:
                return results
            after = tenants[-1]
