"""What every benchmark needs: free ports, fresh databases, `emailstore serve` processes."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

from service.store.migrations import apply_migrations


def free_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def database(admin_url: str, name: str, *, migrate: bool = True) -> str:
    """A new database on the server of admin_url (migrated unless told otherwise)."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_conninfo(admin_url, dbname=name)
    if migrate:
        apply_migrations(url)
    return url


def analyze_now(url: str) -> None:
    """ANALYZE the database, as autovacuum does within a minute or so of a table's growth.

    Run after each warm-up: PostgreSQL plans the queries that check foreign keys once per
    connection and keeps the plan until the table's statistics change. Planned on the empty
    tables of a fresh database, the check that a content row's message exists read the table
    whole, and cost more per message than the rest of the insert by the time the table held a
    few thousand rows; a deployment past its first minute has statistics.
    """
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE")


@dataclass(frozen=True)
class Result:
    """One measured scenario: messages in seconds."""

    name: str
    messages: int
    seconds: float

    @property
    def rate(self) -> float:
        """Messages per second."""
        return self.messages / self.seconds


async def run_concurrently(
    items: Sequence[Any], concurrency: int, work: Callable[[Any], Awaitable[Any]]
) -> float:
    """Runs `work` on every item from `concurrency` tasks taking the next item as each
    finishes one; the seconds it took."""
    queue: asyncio.Queue[Any] = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)

    async def worker() -> None:
        while not queue.empty():
            await work(queue.get_nowait())

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - start


async def analyze(url: str | None) -> None:
    """`analyze_now` off the event loop (nothing for None)."""
    if url:
        await asyncio.to_thread(analyze_now, url)


async def start_server(
    url: str,
    pool: int,
    *,
    server_tree: str | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[asyncio.subprocess.Process, int]:
    """`emailstore serve` on the database, in its own process, listening on a free port (or
    `python -m service serve` from another checkout, for A/B runs against older code)."""
    port = free_port()
    environment = {
        **os.environ,
        "EMAILSTORE_DATABASE_URL": url,
        "EMAILSTORE_LISTEN": f"127.0.0.1:{port}",
        "EMAILSTORE_DB_POOL_MIN_SIZE": str(pool),
        "EMAILSTORE_DB_POOL_MAX_SIZE": str(pool),
        "EMAILSTORE_LOG_LEVEL": "INFO",
        **(env or {}),
    }
    command = (
        [sys.executable, "-m", "service", "serve"]
        if server_tree
        else [str(Path(sys.executable).parent / "emailstore"), "serve"]
    )
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=server_tree or None,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    while True:
        line = (await asyncio.wait_for(process.stdout.readline(), timeout=60)).decode()
        if not line:
            raise RuntimeError("emailstore serve exited before listening")
        if "EmailStore listening" in line:
            break
    # Keep draining its output so the server never blocks on a full pipe.
    asyncio.get_running_loop().create_task(_drain(process))
    return process, port


async def stop_server(process: asyncio.subprocess.Process) -> None:
    """SIGTERM, and wait for it to finish."""
    if process.returncode is None:
        process.terminate()
        await process.wait()


async def _drain(process: asyncio.subprocess.Process) -> None:
    assert process.stdout is not None
    while await process.stdout.readline():
        pass
