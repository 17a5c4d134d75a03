"""The `emailstore` command as a user runs it: serve, SIGTERM, restart, migrate."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
import psutil
import pytest
from emailstore.v1 import emailstore_pb2 as pb
from emailstore.v1 import emailstore_pb2_grpc as pb_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.factories import store_request

EMAILSTORE = str(Path(sys.executable).parent / "emailstore")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def running(env: dict[str, str]) -> AsyncIterator[tuple[int, list[str]]]:
    """Starts `emailstore serve`, waits for its listening line, SIGTERMs it at the end."""
    port = _free_port()
    full_env = {**os.environ, **env, "EMAILSTORE_LISTEN": f"127.0.0.1:{port}"}
    process = await asyncio.create_subprocess_exec(
        EMAILSTORE,
        "serve",
        env=full_env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    lines: list[str] = []
    try:
        while True:
            line = (await asyncio.wait_for(process.stdout.readline(), timeout=60)).decode()
            if not line:
                pytest.fail("emailstore serve exited early:\n" + "".join(lines))
            lines.append(line)
            if "EmailStore listening on" in line:
                break
        yield port, lines
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        rest, _ = await asyncio.wait_for(process.communicate(), timeout=60)
        lines.extend(rest.decode().splitlines(keepends=True))
    assert process.returncode == 0, "".join(lines)


async def test_serve_on_database_url_then_sigterm(database_url: str, tenant: str) -> None:
    """With EMAILSTORE_DATABASE_URL it serves that database, says so, and exits 0 on SIGTERM."""
    async with running({"EMAILSTORE_DATABASE_URL": database_url}) as (port, lines):
        assert f"EmailStore listening on 127.0.0.1:{port}" in lines[-1]
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            health = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest()
            )
            assert health.status == health_pb2.HealthCheckResponse.SERVING
            await pb_grpc.EmailStoreStub(channel).StoreMessage(store_request(tenant))


@pytest.mark.slow
async def test_embedded_data_survives_restart_and_postgres_stops(tenant: str) -> None:
    """Zero config: embedded PostgreSQL in the data dir; data survives; SIGTERM stops it all."""
    data_dir = Path(tempfile.mkdtemp(prefix="emailstore-cli-"))
    env = {"EMAILSTORE_DATA_DIR": str(data_dir), "EMAILSTORE_DATABASE_URL": ""}
    try:
        async with running(env) as (port, lines):
            assert "embedded PostgreSQL" in lines[-1]
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                await pb_grpc.EmailStoreStub(channel).StoreMessage(
                    store_request(tenant, storage_key="keep-me")
                )
        pid_file = data_dir / "postgres" / "postmaster.pid"
        assert not pid_file.exists(), "embedded PostgreSQL still running after SIGTERM"
        async with (
            running(env) as (port, _),
            grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
        ):
            got = await pb_grpc.EmailStoreStub(channel).GetMessage(
                pb.GetMessageRequest(tenant_id=tenant, storage_key="keep-me")
            )
            assert got.subject == "Quick question, Jane"
        still_running = [
            p
            for p in psutil.process_iter(["name", "cmdline"])
            if p.info["name"] == "postgres" and str(data_dir) in " ".join(p.info["cmdline"] or [])
        ]
        assert still_running == []
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


async def test_migrate_command_on_empty_database(pg_server_url: str) -> None:
    """`emailstore migrate` applies the migrations to an empty database and exits 0."""
    import uuid

    import psycopg
    from psycopg.conninfo import make_conninfo

    name = f"emailstore_cli_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = make_conninfo(pg_server_url, dbname=name)
        process = await asyncio.create_subprocess_exec(
            EMAILSTORE,
            "migrate",
            env={**os.environ, "EMAILSTORE_DATABASE_URL": url},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
        assert process.returncode == 0, out.decode()
        with psycopg.connect(url) as conn:
            tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables")}
        assert {"email_messages", "email_content", "attachments", "blobs", "blob_chunks"} <= tables
    finally:
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_bad_configuration_exits_with_a_clear_message() -> None:
    """A malformed EMAILSTORE_* value stops the command with exit code 2 and names it."""
    process = await asyncio.create_subprocess_exec(
        EMAILSTORE,
        "serve",
        env={**os.environ, "EMAILSTORE_ZSTD_LEVEL": "fast"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 2
    assert b"EMAILSTORE_ZSTD_LEVEL" in err


async def test_gc_command(database_url: str) -> None:
    """`emailstore gc` runs one collection pass on the configured database and reports it."""
    process = await asyncio.create_subprocess_exec(
        EMAILSTORE,
        "gc",
        env={**os.environ, "EMAILSTORE_DATABASE_URL": database_url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, out.decode()
    assert b"visited 0 tenant(s)" in out
