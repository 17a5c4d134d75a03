"""The composition root: where the database, the writer and the use cases are built and wired.

`emailstore serve`, `migrate` and `gc` (and the CLIs to come) all start here: `database()`
gives the database URL to use, starting the embedded PostgreSQL when none is configured, and
`App` builds everything the service runs on that database. Nothing else constructs a
repository, a writer or a use case.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from service.codec.mime import MimeLimits
from service.config import Config
from service.core import linking
from service.core.analytics import AnalyticsService
from service.core.dictionaries import DictionaryBook, DictionarySettings
from service.core.downloads import DownloadService
from service.core.events import EventService
from service.core.export import ExportService
from service.core.feed import FeedService
from service.core.gc import GarbageCollector
from service.core.governance import GovernanceService
from service.core.ingest import IngestService
from service.core.messages import MessageService
from service.core.page_tokens import PageTokens
from service.core.parser_pool import ParserPool
from service.core.search import SearchService
from service.core.uploads import UploadService
from service.core.writer import InsertHook, MessageWriter
from service.store.database import Database
from service.store.embedded import EmbeddedPostgres
from service.store.migrations import apply_migrations

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DatabaseTarget:
    """The database the service runs on, and how to name it in the log."""

    url: str
    description: str


@asynccontextmanager
async def database(config: Config) -> AsyncIterator[DatabaseTarget]:
    """EMAILSTORE_DATABASE_URL, or else the embedded PostgreSQL in the data directory, started
    for the block and stopped after it."""
    if config.database_url:
        yield DatabaseTarget(config.database_url, redact(config.database_url))
        return
    embedded = EmbeddedPostgres(config.data_dir / "postgres")
    url = await asyncio.to_thread(embedded.start)
    try:
        yield DatabaseTarget(url, f"embedded PostgreSQL in {embedded.data_dir}")
    finally:
        await asyncio.to_thread(embedded.stop)


async def migrate(target: DatabaseTarget) -> int:
    """Applies pending migrations; how many were applied."""
    return len(await asyncio.to_thread(apply_migrations, target.url))


def redact(url: str) -> str:
    """The URL without its password, for the log."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


class App:
    """Everything the service runs on one database: pool, writer, parser workers, use cases.

    `open()` before use (it opens the pool and reads the page-token secret), `close()` after.
    The parser workers start on first need only (`migrate` and `gc` never parse).
    """

    def __init__(self, config: Config, database_url: str, *, pool_size: int | None = None) -> None:
        self.config = config
        self.db = Database(
            database_url,
            min_size=min(config.db_pool_min_size, pool_size or config.db_pool_min_size),
            max_size=pool_size or config.db_pool_max_size,
            timeout_s=config.db_pool_timeout_s,
        )
        self.writer = MessageWriter(
            self.db,
            max_batch=config.write_batch_max,
            concurrency=config.write_concurrency,
            # A reply or a bounce marks the message it answers, in its own transaction.
            on_inserted=[InsertHook(linking.concerns, linking.mark_originals)],
        )
        self.events = EventService(config, self.db)
        self.analytics = AnalyticsService(self.db)
        self.feed = FeedService(config, self.db)
        self.uploads = UploadService(config, self.db)
        self.downloads = DownloadService(self.db)
        self.gc = GarbageCollector(self.db, config.blob_grace_s)
        self.governance = GovernanceService(config, self.db)
        self.dictionaries = DictionaryBook(
            self.db,
            DictionarySettings(
                level=config.zstd_level,
                min_samples=config.dict_min_samples,
                size_bytes=config.dict_size_bytes,
                drift=config.dict_retrain_drift,
                cache_size=config.dict_cache_size,
                train=config.dict_training,
            ),
        )
        self._parser: ParserPool | None = None
        self._messages: MessageService | None = None
        self._ingest: IngestService | None = None
        self._search: SearchService | None = None
        self._export: ExportService | None = None

    async def open(self) -> None:
        """Opens the pool (waiting until it works) and builds the use cases that need it."""
        await self.db.open()
        secret = (
            self.config.page_token_secret.encode()
            if self.config.page_token_secret
            else await self.db.page_token_secret()
        )
        self._messages = MessageService(
            self.config, self.db, self.writer, PageTokens(secret), self.dictionaries
        )
        self._search = SearchService(self.db, PageTokens(secret))

    @property
    def messages(self) -> MessageService:
        """Store, read, list, delete; storage usage."""
        if self._messages is None:
            raise RuntimeError("App.open() first")
        return self._messages

    @property
    def search(self) -> SearchService:
        """SearchMessages."""
        if self._search is None:
            raise RuntimeError("App.open() first")
        return self._search

    @property
    def export(self) -> ExportService:
        """ExportMessages (starts the parser workers with ingest)."""
        if self._export is None:
            self._export = ExportService(self.db, self.messages, self.search, self.ingest)
        return self._export

    @property
    def ingest(self) -> IngestService:
        """Raw ingest and GetRawMessage (starts the parser workers)."""
        if self._ingest is None:
            cfg = self.config
            self._parser = ParserPool(
                cfg.parse_workers,
                cfg.parse_timeout_s,
                MimeLimits(max_parts=cfg.max_attachments, max_header_bytes=cfg.max_header_bytes),
            )
            self._ingest = IngestService(cfg, self.db, self.messages, self._parser)
        return self._ingest

    async def close(self) -> None:
        """Stops the parser workers and dictionary trainings, and closes the pool."""
        if self._parser is not None:
            self._parser.close()
        await self.dictionaries.close()
        await self.db.close()
