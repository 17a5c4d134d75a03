"""The parser pool: parsing happens in worker processes under a time limit."""

from __future__ import annotations

import asyncio
import base64

from service.codec.mime import MimeLimits
from service.core.ingest import ParserPool
from tests.mime_corpus import corpus


def _big_message(megabytes: int) -> bytes:
    body = base64.encodebytes(bytes(range(256)) * (megabytes * 4096))
    return (
        b"From: a@b.co\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
        b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + body
        + b"--b--\r\n"
    )


async def test_slow_parse_is_cut_off_and_the_loop_keeps_running() -> None:
    """Past the time limit the message is kept unparsed; the event loop ran all along; the
    pool comes back for the next message."""
    pool = ParserPool(workers=1, timeout_s=60, limits=MimeLimits())
    try:
        warm = await pool.parse(corpus()["plain crlf"])  # starts the worker process
        assert warm.status == "parsed"
        pool.timeout_s = 0.05
        ticks = 0
        done = asyncio.Event()

        async def tick() -> None:
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0.001)

        ticker = asyncio.create_task(tick())
        raw = _big_message(30)
        result = await pool.parse(raw)
        done.set()
        await ticker
        assert result.status.startswith("unparsed: parse time limit")
        assert result.bodies == (raw,)  # kept whole
        assert ticks >= 10  # the server's loop was free while the worker parsed
        pool.timeout_s = 60
        again = await pool.parse(corpus()["mixed with pdf (76 col base64)"])
        assert again.status == "parsed"
        assert [a.filename for a in again.attachments] == ["deck.pdf"]
    finally:
        pool.close()
