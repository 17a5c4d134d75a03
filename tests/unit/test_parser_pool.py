"""The parser pool: parsing happens in worker processes under a time limit."""

from __future__ import annotations

import asyncio
import base64

from service.codec.mime import MimeLimits
from service.core.parser_pool import ParserPool
from tests.mime_corpus import corpus


def _big_message(megabytes: int) -> bytes:
    body = base64.encodebytes(bytes(range(256)) * (megabytes * 4096))
    return (
        b"From: a@b.co\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
        b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + body
        + b"--b--\r\n"
    )


async def test_parsing_leaves_the_event_loop_free() -> None:
    """While a big message is parsed, the event loop goes on: the parse is still running
    when other work on the loop has already been done."""
    pool = ParserPool(workers=1, timeout_s=60, limits=MimeLimits())
    try:
        assert (await pool.parse(corpus()["plain crlf"])).status == "parsed"  # worker started
        parsing = asyncio.create_task(pool.parse(_big_message(30)))
        # Had the parse run on the loop, this sleep would only end after the parse had.
        await asyncio.sleep(0.001)
        assert not parsing.done()
        assert (await parsing).status == "parsed"
    finally:
        pool.close()


async def test_slow_parse_is_cut_off_and_the_pool_recovers() -> None:
    """Past the time limit the message is kept whole, unparsed; the next message is parsed."""
    pool = ParserPool(workers=1, timeout_s=60, limits=MimeLimits())
    try:
        assert (await pool.parse(corpus()["plain crlf"])).status == "parsed"
        pool.timeout_s = 0.001  # far less than a 30 MB message can take
        raw = _big_message(30)
        result = await pool.parse(raw)
        assert result.status.startswith("unparsed: parse time limit")
        assert result.bodies == (raw,)
        pool.timeout_s = 60
        again = await pool.parse(corpus()["mixed with pdf (76 col base64)"])
        assert again.status == "parsed"
        assert [a.filename for a in again.attachments] == ["deck.pdf"]
    finally:
        pool.close()
