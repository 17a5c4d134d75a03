"""`emailstore export` and `emailstore import` run as a user runs them, as subprocesses against a
real server: mbox, maildir and .eml folders, summaries, duplicates on a second run, failures
with their reasons, and plain progress lines when stderr is not a terminal."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import uuid
from pathlib import Path

import pytest
from emailstore.v1 import emailstore_pb2 as pb
from emailstore.v1 import emailstore_pb2_grpc as pb_grpc

from service.codec import mbox
from service.config import Config
from service.server import EmailStoreServer
from tests.api.test_export_api import awkward_mail
from tests.api.test_ingest_api import ingest, raw_of
from tests.factories import store_request

Stub = pb_grpc.EmailStoreStub
EMAILSTORE = str(Path(sys.executable).parent / "emailstore")
# The server of these tests refuses messages over this (a failure the summary must name).
LIMIT = 2 * 1024 * 1024


@pytest.fixture
def config() -> Config:
    """The test server, with a small raw message limit."""
    return Config(
        listen="127.0.0.1:0",
        health_interval_s=0.3,
        shutdown_grace_s=2.0,
        max_message_bytes=LIMIT,
    )


async def emailstore(server: EmailStoreServer, *args: str) -> tuple[int, bytes, str]:
    """Runs `emailstore <args> --target <server>`; exit code, stdout, stderr."""
    process = await asyncio.create_subprocess_exec(
        EMAILSTORE,
        *args,
        "--target",
        f"127.0.0.1:{server.port}",
        "--progress-interval",
        "0",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "EMAILSTORE_LOG_LEVEL": "WARNING"},
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out, err.decode()


async def all_raw(stub: Stub, tenant: str) -> list[bytes]:
    """Every message of the tenant as GetRawMessage gives it, sorted."""
    listed = await stub.ListMessages(pb.ListMessagesRequest(tenant_id=tenant, page_size=1000))
    return sorted([await raw_of(stub, tenant, m.storage_key) for m in listed.messages])


async def test_export_then_import_gives_the_same_bytes_in_another_tenant(
    server: EmailStoreServer, stub: Stub, tenant: str, tmp_path: Path
) -> None:
    """An exported mbox imported into another tenant gives byte-identical raw messages; the
    summary counts them; a second run finds them all there already (duplicates, exit 0)."""
    mail = awkward_mail()
    for name, raw in mail.items():
        await ingest(stub, tenant, raw, email_account_id=f"acct-{name}")
    target = tmp_path / "export.mbox"

    code, out, err = await emailstore(server, "export", "--tenant", tenant, "--output", str(target))
    assert code == 0, err
    assert re.match(rf"exported {len(mail)} messages, [\d,]+ bytes in ", out.decode())
    assert re.search(r"^export: \d+(/\d+)? messages, .*/s, .* msg/s", err, re.MULTILINE)
    assert not (tmp_path / "export.mbox.partial").exists()
    exported = [m for _, m in mbox.messages([target.read_bytes()])]
    assert sorted(exported) == sorted(mail.values())

    other = str(uuid.uuid4())
    args = ("import", "--tenant", other, "--account", "restored", str(target))
    code, out, err = await emailstore(server, *args)
    assert code == 0, err
    size = sum(len(m) for m in mail.values())
    assert (
        out.decode()
        .splitlines()[0]
        .startswith(f"imported {len(mail)}, duplicates 0, failed 0; {size:,} bytes in ")
    )
    assert re.search(r"^import mbox: \d+ messages, .* of .*, .*/s", err, re.MULTILINE)
    assert await all_raw(stub, other) == sorted(mail.values())

    code, out, err = await emailstore(server, *args, "--concurrency", "2")
    assert code == 0, err
    assert out.decode().startswith(f"imported 0, duplicates {len(mail)}, failed 0;")
    assert len(await all_raw(stub, other)) == len(mail)


async def test_maildir_and_eml_folder_with_failures(
    server: EmailStoreServer, stub: Stub, tenant: str, tmp_path: Path
) -> None:
    """A maildir (new/ and cur/, not tmp/) and a folder of .eml files (recursively, any case
    of the suffix, other files ignored) import exactly; a message over the server's limit
    and one over --max-message-bytes are failures with their reasons, and the exit code is 1."""
    maildir = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    (maildir / "new" / "1.host").write_bytes(b"Subject: new\n\nFrom here\n")
    (maildir / "cur" / "2.host:2,S").write_bytes(b"Subject: seen\r\n\r\nno final newline")
    (maildir / "tmp" / "3.host").write_bytes(b"Subject: being delivered\n\n")
    code, out, err = await emailstore(
        server, "import", "--tenant", tenant, "--account", "a", str(maildir)
    )
    assert code == 0, err
    assert out.decode().startswith("imported 2, duplicates 0, failed 0;")
    assert await all_raw(stub, tenant) == sorted(
        [b"Subject: new\n\nFrom here\n", b"Subject: seen\r\n\r\nno final newline"]
    )

    folder = tmp_path / "eml"
    (folder / "deep" / "deeper").mkdir(parents=True)
    (folder / "a.eml").write_bytes(b"Subject: a\n\nhello \xff\n")
    (folder / "deep" / "deeper" / "B.EML").write_bytes(b"Subject: b\r\n\r\nbye\r\n")
    (folder / "notes.txt").write_bytes(b"not mail")
    (folder / "huge.eml").write_bytes(b"Subject: huge\n\n" + b"x" * (LIMIT + 1))
    (folder / "deep" / "client-limit.eml").write_bytes(b"Subject: big\n\n" + b"y" * 2 * LIMIT)
    other = str(uuid.uuid4())
    code, out, err = await emailstore(
        server,
        "import",
        "--tenant",
        other,
        "--account",
        "a",
        "--max-message-bytes",
        str(2 * LIMIT),
        str(folder),
    )
    assert code == 1, err
    lines = out.decode().splitlines()
    assert lines[0].startswith("imported 2, duplicates 0, failed 2;")
    reasons = sorted(lines[1:])
    assert reasons[0].startswith(
        f"  failed {folder / 'deep' / 'client-limit.eml'}: {2 * LIMIT + 14:,} bytes, over the "
        f"limit of {2 * LIMIT:,} (--max-message-bytes)"
    )
    assert reasons[1].startswith(f"  failed {folder / 'huge.eml'}: RESOURCE_EXHAUSTED")
    assert "EMAILSTORE_MAX_MESSAGE_BYTES" in reasons[1]
    assert await all_raw(stub, other) == sorted(
        [b"Subject: a\n\nhello \xff\n", b"Subject: b\r\n\r\nbye\r\n"]
    )
    assert re.search(r"^import eml: \d+/4 messages, .* of .*ETA", err, re.MULTILINE)


async def test_export_by_query_and_filters_to_stdout(
    server: EmailStoreServer, stub: Stub, tenant: str, tmp_path: Path
) -> None:
    """--query and the filter flags select what they say; `-` writes the mbox to stdout and
    the summary to stderr; a query with filters, or a bad tenant, is a usage error (2)."""
    await stub.StoreMessage(store_request(tenant, campaign_id="spring", subject="Spring deal"))
    await stub.StoreMessage(store_request(tenant, campaign_id="autumn", subject="Autumn deal"))

    def subjects(data: bytes) -> list[bytes]:
        return [
            line
            for _, raw in mbox.messages([data])
            for line in raw.splitlines()
            if line.startswith(b"Subject: ")
        ]

    code, out, err = await emailstore(
        server, "export", "--tenant", tenant, "--campaign", "autumn", "-o", "-"
    )
    assert code == 0, err
    assert subjects(out) == [b"Subject: Autumn deal"]
    assert "exported 1 messages" in err
    code, out, err = await emailstore(
        server, "export", "--tenant", tenant, "--query", "spring", "-o", "-"
    )
    assert code == 0, err
    assert subjects(out) == [b"Subject: Spring deal"]

    code, _, err = await emailstore(
        server, "export", "--tenant", tenant, "--query", "deal", "--lead", "x", "-o", "-"
    )
    assert code == 2
    assert "not both" in err
    code, _, err = await emailstore(server, "export", "--tenant", "nope", "-o", str(tmp_path / "x"))
    assert code == 2
    assert "not a UUID" in err
    code, _, err = await emailstore(
        server, "export", "--tenant", tenant, "--query", '"open', "-o", str(tmp_path / "x")
    )
    assert code == 1
    assert "INVALID_ARGUMENT" in err
    assert not (tmp_path / "x").exists()
    assert not (tmp_path / "x.partial").exists()


async def test_empty_export_writes_an_empty_file(
    server: EmailStoreServer, tenant: str, tmp_path: Path
) -> None:
    """A selection with no messages is an empty mbox, and importing it imports nothing."""
    target = tmp_path / "empty.mbox"
    code, out, err = await emailstore(server, "export", "--tenant", tenant, "--output", str(target))
    assert code == 0, err
    assert out.decode().startswith("exported 0 messages, 0 bytes")
    assert target.read_bytes() == b""
    code, out, err = await emailstore(
        server, "import", "--tenant", tenant, "--account", "a", str(target)
    )
    assert code == 0, err
    assert out.decode().startswith("imported 0, duplicates 0, failed 0;")
