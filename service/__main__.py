"""The `emailstore` command: serve, migrate."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from service.config import Config, ConfigError
from service.models import Caller

if TYPE_CHECKING:
    from service.app import App

log = logging.getLogger("emailstore")

# Before grpc is imported: its fork handlers crash forked children now and then (seen as
# "pg_ctl ... died with SIGSEGV" when the embedded PostgreSQL is stopped while gRPC threads
# run). Nothing here forks a process that goes on using gRPC (the parse workers are spawned),
# so the handlers have nothing to protect.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `emailstore` command."""
    parser = argparse.ArgumentParser(prog="emailstore", description="EmailStore gRPC service")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the gRPC server (embedded PostgreSQL by default)")
    commands.add_parser("migrate", help="apply pending database migrations and exit")
    commands.add_parser(
        "gc", help="free unreferenced blobs past EMAILSTORE_BLOB_GRACE_S and expired uploads"
    )
    recompress = commands.add_parser(
        "recompress",
        help="rewrite older content into packs with each tenant's current zstd dictionary "
        "(training one where there is enough mail); safe to stop at any moment",
    )
    recompress.add_argument("--tenant", help="only this tenant (UUID)")
    recompress.add_argument(
        "--batch", type=int, default=200, help="messages per transaction (default 200)"
    )
    purge = commands.add_parser(
        "purge",
        help="bring older messages to changed retention policies, then delete every expired "
        "message no legal hold covers (the server does it every EMAILSTORE_PURGE_INTERVAL_S)",
    )
    purge.add_argument("--tenant", help="only this tenant (UUID)")
    reindex = commands.add_parser(
        "reindex",
        help="build the search vectors of messages stored before search existed (the server "
        "also does it in the background); safe to stop at any moment",
    )
    reindex.add_argument("--tenant", help="only this tenant (UUID)")
    from service.cli import transfer

    transfer.export_arguments(
        commands.add_parser(
            "export", help="write a tenant's messages (by filters or a query) to an mbox file"
        )
    )
    transfer.import_arguments(
        commands.add_parser(
            "import",
            help="load an mbox, a maildir or a folder of .eml files into a tenant "
            "(IngestRawMessage; safe to run again)",
        )
    )
    args = parser.parse_args(argv)

    try:
        config = Config.from_env()
    except ConfigError as exc:
        print(f"emailstore: configuration error: {exc}", file=sys.stderr)
        return 2

    from service.telemetry import setup_logging, setup_tracing

    setup_logging(config.log_level)
    if args.command in ("export", "import"):
        return transfer.run(args, config.listen)
    if args.command == "serve":
        from service.server import serve

        provider = setup_tracing(os.environ)
        try:
            asyncio.run(serve(config))
        finally:
            provider.shutdown()
        return 0
    if args.command == "gc":
        return asyncio.run(_gc(config))
    if args.command == "recompress":
        return asyncio.run(_recompress(config, args.tenant, args.batch))
    if args.command == "reindex":
        return asyncio.run(_reindex(config, args.tenant))
    if args.command == "purge":
        return asyncio.run(_purge(config, args.tenant))
    return asyncio.run(_migrate(config))


@asynccontextmanager
async def _app(config: Config) -> AsyncIterator[App]:
    """The service's use cases on the configured database (the embedded one started for the
    block), for a command that works on the database directly."""
    from service.app import App, database

    async with database(config) as target:
        app = App(config, target.url, pool_size=2)
        try:
            await app.open()
            yield app
        finally:
            await app.close()


def _tenant(tenant: str | None, command: str) -> Caller | None:
    """The caller a --tenant option names (None: every tenant); exits with a usage error
    when it is not a UUID."""
    from service.core import validation
    from service.errors import InvalidArgument

    try:
        return validation.caller(tenant, "--tenant") if tenant else None
    except InvalidArgument as exc:
        print(f"emailstore {command}: {exc.message}", file=sys.stderr)
        raise SystemExit(2) from None


async def _gc(config: Config) -> int:
    async with _app(config) as app:
        result = await app.gc.collect()
    print(
        f"visited {result.tenants} tenant(s): freed {result.blobs} blob(s) and "
        f"{result.uploads} expired upload(s), {result.freed_bytes:,} bytes"
    )
    return 0


async def _recompress(config: Config, tenant: str | None, batch: int) -> int:
    from service.core.recompress import Recompressor

    caller = _tenant(tenant, "recompress")
    async with _app(config) as app:
        job = Recompressor(
            app.db, app.dictionaries, config.zstd_level, config.inline_max_bytes, batch
        )
        results = [await job.tenant(caller)] if caller else await job.all_tenants()
    for r in results:
        print(
            f"{r.tenant_id}: {r.rewritten:,} message(s) rewritten with dictionary "
            f"{r.dictionary_id or 'none'}, {r.stored_before:,} -> {r.stored_after:,} stored "
            f"bytes, {r.released_blobs:,} blob(s) left to the collector, "
            f"{r.dropped_dictionaries} old dictionar(ies) dropped"
        )
    return 0


async def _reindex(config: Config, tenant: str | None) -> int:
    from service.core.reindex import SearchBackfill

    caller = _tenant(tenant, "reindex")
    async with _app(config) as app:
        job = SearchBackfill(app.db, app.messages)
        results = [await job.tenant(caller)] if caller else await job.all_tenants()
    for r in results:
        print(f"{r.tenant_id}: {r.indexed:,} message(s) indexed for search")
    return 0


async def _purge(config: Config, tenant: str | None) -> int:
    caller = _tenant(tenant, "purge")
    async with _app(config) as app:
        governance = app.governance
        if caller is None:
            result = await governance.purge_all()
        else:
            applied = await governance.apply_retention(caller)
            if applied:
                print(f"{caller.tenant_id}: {applied:,} message(s) given the current expiry")
            result = await governance.purge_tenant(caller)
    print(
        f"purged {result.deleted_messages:,} expired message(s), released "
        f"{result.freed_bytes:,} stored bytes (blobs nothing references are freed after "
        "EMAILSTORE_BLOB_GRACE_S)"
    )
    return 0


async def _migrate(config: Config) -> int:
    from service.app import database, migrate

    async with database(config) as target:
        applied = await migrate(target)
    log.info("%d migration(s) applied", applied)
    return 0


if __name__ == "__main__":
    sys.exit(main())
