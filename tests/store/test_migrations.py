"""The migration runner: ordered, recorded, idempotent, safe when replicas start together."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from service.store.migrations import apply_migrations, load_migrations


@pytest.fixture
def empty_database(pg_server_url: str) -> Iterator[str]:
    """A database with no schema at all."""
    name = f"emailstore_m_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_conninfo(pg_server_url, dbname=name)
    finally:
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_files_are_numbered_without_gaps() -> None:
    """Migration versions are 1, 2, 3, ... in file order."""
    versions = [m.version for m in load_migrations()]
    assert versions == list(range(1, len(versions) + 1))


def test_concurrent_runners_apply_each_migration_once(empty_database: str) -> None:
    """Two replicas migrating at the same moment: one applies, the other finds nothing to do."""
    results: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(len(apply_migrations(empty_database)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(results) == [0, len(load_migrations())]
    with psycopg.connect(empty_database) as conn:
        recorded = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    assert [r[0] for r in recorded] == [m.version for m in load_migrations()]


def test_rerun_applies_nothing(empty_database: str) -> None:
    """Migrating an up-to-date database is a no-op."""
    apply_migrations(empty_database)
    assert apply_migrations(empty_database) == []
