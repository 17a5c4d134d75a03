"""Per-tenant zstd dictionaries: which one a write uses, reading packs back, training.

A tenant's writes use its newest dictionary (kept in memory, looked up again now and then so
that a dictionary another replica trained is picked up); a write that finds none packs
without one. Reads need the dictionary a pack names: kept in a bounded cache, loaded when
missing. The writes without a dictionary are counted per tenant; once there are enough of
them, a dictionary is trained in the background from a sample of the tenant's recent packs,
never blocking a write. The writes with one are measured too: when new mail compresses
clearly worse than the dictionary did on its training sample, another is trained.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from service.codec import packs
from service.core.ports import Transactions, UnitOfWork
from service.errors import DataLoss
from service.models import Caller

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DictionarySettings:
    """When to train, how big, how many to keep in memory."""

    level: int = 3
    min_samples: int = 1000  # packs written without a dictionary before one is trained
    sample_limit: int = 2000  # recent packs a dictionary is trained from, at most
    size_bytes: int = 64 * 1024
    drift: float = 0.25  # retrain when new packs compress this much worse than the sample
    cache_size: int = 256
    refresh_s: float = 60.0
    train: bool = True  # train in the background as writes come in


@dataclass
class _Tenant:
    """What this process knows of one tenant's dictionaries."""

    current: packs.Dictionary | None = None
    checked_at: float = 0.0
    dict_ratio: float = 0.0  # of the current dictionary, on its held-out samples
    undictionaried: int = 0  # packs written without a dictionary since the last training
    raw: int = 0  # packs written with the current dictionary: bytes before and after
    stored: int = 0
    training: asyncio.Task[None] | None = field(default=None, repr=False)


class DictionaryBook:
    """The dictionaries of every tenant this process writes or reads for."""

    def __init__(self, db: Transactions, settings: DictionarySettings) -> None:
        self.db = db
        self.settings = settings
        self._tenants: dict[str, _Tenant] = {}
        self._loaded: OrderedDict[tuple[str, int], packs.Dictionary] = OrderedDict()

    def _tenant(self, tenant_id: str) -> _Tenant:
        found = self._tenants.get(tenant_id)
        if found is None:
            found = self._tenants[tenant_id] = _Tenant()
        return found

    async def current(self, caller: Caller) -> packs.Dictionary | None:
        """The dictionary the tenant's writes use now (None: none trained yet)."""
        state = self._tenant(caller.tenant_id)
        now = time.monotonic()
        if now - state.checked_at >= self.settings.refresh_s:
            state.checked_at = now
            async with self.db.tenant(caller, "current_dictionary") as tx:
                found = await tx.dictionaries.latest()
            if found is not None and (
                state.current is None or found.dictionary_id != state.current.dictionary_id
            ):
                try:
                    dictionary = packs.Dictionary(found.dictionary_id, found.data)
                except packs.PackError:
                    # Writes go on without it; reads of what needs it say DATA_LOSS.
                    log.error("the current dictionary of %s is damaged", caller.tenant_id)
                    return state.current
                state.current = dictionary
                state.dict_ratio = found.dict_ratio
                state.raw = state.stored = 0
                self._keep(caller.tenant_id, state.current)
        return state.current

    def _keep(self, tenant_id: str, dictionary: packs.Dictionary) -> None:
        self._loaded[tenant_id, dictionary.dictionary_id] = dictionary
        self._loaded.move_to_end((tenant_id, dictionary.dictionary_id))
        while len(self._loaded) > self.settings.cache_size:
            self._loaded.popitem(last=False)

    async def get(
        self, caller: Caller, dictionary_id: int, owner: str, tx: UnitOfWork | None = None
    ) -> packs.Dictionary:
        """A dictionary of the tenant by id (from the cache, or the database: in `tx` when
        given); DataLoss naming `owner` (what needs it) when it is gone."""
        key = (caller.tenant_id, dictionary_id)
        found = self._loaded.get(key)
        if found is not None:
            self._loaded.move_to_end(key)
            return found
        if tx is not None:
            row = await tx.dictionaries.get(dictionary_id)
        else:
            async with self.db.tenant(caller, "load_dictionary") as own:
                row = await own.dictionaries.get(dictionary_id)
        if row is None:
            raise DataLoss(f"{owner} needs zstd dictionary {dictionary_id}, which is missing")
        try:
            dictionary = packs.Dictionary(dictionary_id, row.data)
        except Exception as exc:  # zstandard refuses bytes that are no dictionary
            raise DataLoss(
                f"{owner} needs zstd dictionary {dictionary_id}, which is damaged"
            ) from exc
        self._keep(caller.tenant_id, dictionary)
        return dictionary

    async def unpack(
        self,
        caller: Caller,
        stored: bytes,
        dictionary_id: int | None,
        owner: str,
        tx: UnitOfWork | None = None,
    ) -> dict[str, bytes]:
        """The parts of a stored pack; DataLoss naming `owner` when it cannot be read."""
        dictionary = await self.get(caller, dictionary_id, owner, tx) if dictionary_id else None
        try:
            return packs.unpack(stored, dictionary)
        except packs.PackError as exc:
            raise DataLoss(f"{owner} cannot be read: {exc}") from exc

    def wrote(self, caller: Caller, packed: packs.Packed) -> None:
        """Counts a pack written for the tenant; may start training a dictionary."""
        state = self._tenant(caller.tenant_id)
        if packed.dictionary_id is None:
            state.undictionaried += 1
        elif state.current is not None and packed.dictionary_id == state.current.dictionary_id:
            state.raw += packed.raw_size
            state.stored += len(packed.stored)
        if self.settings.train and self._due(state) and state.training is None:
            state.training = asyncio.ensure_future(self._train_in_background(caller, state))

    def _due(self, state: _Tenant) -> bool:
        s = self.settings
        if state.current is None:
            return state.undictionaried >= s.min_samples
        if state.raw < s.min_samples * 512:  # wait for enough new mail to judge by
            return False
        return state.stored / state.raw > state.dict_ratio * (1 + s.drift)

    async def _train_in_background(self, caller: Caller, state: _Tenant) -> None:
        try:
            await self.train(caller)
        except Exception:  # the next writes try again; the database may just be down
            log.warning("training a dictionary for %s failed", caller.tenant_id, exc_info=True)
        finally:
            state.training = None

    async def train(self, caller: Caller) -> packs.Trained | None:
        """Trains a dictionary from the tenant's recent packs and makes it current; None when
        there is too little to train on."""
        s = self.settings
        async with self.db.tenant(caller, "dictionary_samples") as tx:
            samples = await tx.dictionaries.samples(s.sample_limit)
        raw = [
            packs.encode(await self.unpack(caller, stored, dictionary_id, "a sample pack"))
            for stored, dictionary_id in samples
        ]
        if len(raw) < 20:
            return None
        async with self.db.tenant(caller, "next_dictionary") as tx:
            next_id = await tx.dictionaries.next_id()
        try:
            trained = await asyncio.to_thread(packs.train, raw, next_id, s.level, s.size_bytes)
        except ValueError:
            log.info("too little variety to train a dictionary for %s", caller.tenant_id)
            return None
        async with self.db.tenant(caller, "save_dictionary") as tx:
            saved = await tx.dictionaries.add(trained)
        if not saved:
            return None  # another process saved one with that id meanwhile: it is newer
        state = self._tenant(caller.tenant_id)
        state.current = trained.dictionary
        state.dict_ratio = trained.dict_ratio
        state.undictionaried = state.raw = state.stored = 0
        state.checked_at = time.monotonic()
        self._keep(caller.tenant_id, trained.dictionary)
        log.info(
            "trained zstd dictionary %d for %s from %d packs: %.3f of the size with it, %.3f "
            "without",
            trained.dictionary.dictionary_id,
            caller.tenant_id,
            trained.samples,
            trained.dict_ratio,
            trained.plain_ratio,
            extra={"event": "dictionary_trained"},
        )
        return trained

    async def maintain(self, caller: Caller) -> packs.Trained | None:
        """Trains a dictionary for the tenant if it is due: enough packs without one, or new
        packs compressing clearly worse than the current one did on its samples."""
        s = self.settings
        current = await self.current(caller)
        async with self.db.tenant(caller, "dictionary_check") as tx:
            if current is None:
                due = await tx.dictionaries.undictionaried(s.min_samples) >= s.min_samples
            else:
                ratio = await tx.dictionaries.recent_ratio(current.dictionary_id, 200)
                state = self._tenant(caller.tenant_id)
                due = ratio > state.dict_ratio * (1 + s.drift) > 0
        return await self.train(caller) if due else None

    async def maintain_all(self, batch: int = 500) -> int:
        """One maintenance pass over every known tenant; how many dictionaries it trained."""
        trained = 0
        after: str | None = None
        while True:
            async with self.db.control("known_tenants") as tx:
                tenants = await tx.tenants.known(after, batch)
            for tenant_id in tenants:
                try:
                    if await self.maintain(Caller(tenant_id)) is not None:
                        trained += 1
                except Exception:  # one tenant's trouble does not stop the pass
                    log.warning("dictionary check of %s failed", tenant_id, exc_info=True)
            if len(tenants) < batch:
                return trained
            after = tenants[-1]

    async def close(self) -> None:
        """Stops the trainings in flight."""
        tasks = [t.training for t in self._tenants.values() if t.training is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
