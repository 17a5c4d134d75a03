"""Raw message use cases: ingest RFC 5322 bytes, and give back the exact original."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import replace

from opentelemetry import trace

from service.codec.blobs import CHUNK_SIZE, ChunkBuffer, decode_chunk
from service.codec.ingest import ParsedRaw
from service.codec.mime import BodyRef, Skeleton
from service.codec.render import render_plan
from service.config import Config
from service.core import content, drafts, validation
from service.core.content import BodySource
from service.core.dictionaries import DictionaryBook
from service.core.downloads import ChunkReader
from service.core.messages import MessageService
from service.core.parser_pool import ParserPool
from service.core.ports import StoredContent, Transactions, UnitOfWork
from service.errors import NotFound
from service.models import (
    BounceInfo,
    Caller,
    Classification,
    Content,
    Direction,
    MessageType,
    Parse,
    RawMessageInput,
    StoreResult,
)


def raw_draft(
    caller: Caller, meta: RawMessageInput, raw: bytes, parsed: ParsedRaw, max_subject: int
) -> drafts.Draft:
    """A parsed raw message as a draft: what the parser found, kept byte-exact."""
    direction = meta.direction or Direction.INBOUND
    return drafts.Draft(
        caller=caller,
        storage_key=meta.storage_key,
        request_id=meta.request_id,
        owner=meta.owner,
        # A message from a mailbox was sent by the time it is there.
        kind=Classification(
            direction, MessageType(parsed.kind), drafts.default_status(direction, sent=True)
        ),
        envelope=replace(parsed.envelope, subject=parsed.envelope.subject[:max_subject]),
        labels=dict(meta.labels),
        sent_at=parsed.date,
        content=Content(headers=parsed.headers, text_body=parsed.text, html_body=parsed.html),
        attachments=parsed.attachments,
        parse=Parse(parsed.status, parsed.warnings),
        raw=drafts.RawForm(
            raw_sha256=parsed.raw_sha256,  # hashed once, by the worker
            size_bytes=len(raw),
            skeleton=parsed.skeleton,
            bodies=parsed.bodies,
            thread_hint=parsed.original_message_id,
        ),
        bounce=_bounce(parsed),
    )


def _bounce(parsed: ParsedRaw) -> BounceInfo | None:
    """What a bounce the parser recognised says (the original's key comes with threading)."""
    report = parsed.bounce
    if parsed.kind != MessageType.BOUNCE.value or report is None:
        return None
    return BounceInfo(
        bounce_class=report.bounce_class,
        status_code=report.status_code,
        reason=report.reason,
        diagnostic=report.diagnostic,
        failed_recipient=report.failed_recipient,
        delayed=report.delayed,
    )


class IngestService:
    """IngestRawMessage and GetRawMessage."""

    def __init__(
        self, config: Config, db: Transactions, messages: MessageService, parser: ParserPool
    ) -> None:
        self.config = config
        self.db = db
        self.messages = messages
        self.parser = parser

    async def ingest(self, caller: Caller, meta: RawMessageInput, raw: bytes) -> StoreResult:
        """Parses and stores one raw message; it can be given back byte for byte."""
        validation.raw_metadata(meta, len(raw), self.config)
        span = trace.get_current_span()
        span.set_attribute("emailstore.raw_size_bytes", len(raw))
        parsed = await self.parser.parse(raw)
        span.set_attribute("emailstore.parse_status", parsed.status)
        draft = raw_draft(caller, meta, raw, parsed, self.config.max_subject_chars)
        return await self.messages.store_draft(draft)

    async def raw_message(self, caller: Caller, storage_key: str) -> AsyncIterator[bytes]:
        """The message as RFC 5322 bytes, in pieces of at most 256 KiB: the exact original
        for ingested messages, rebuilt as it streams (a few chunks in memory, whatever the
        message's size), and a rendering for structured ones."""
        key = validation.storage_key(storage_key)
        async with self.db.statement(caller, "get_raw_message") as tx:
            stored = await tx.messages.content(key)
            if stored is None:
                raise NotFound(f"message {key!r} not found")
            book = self.messages.dictionaries
            if not stored.ingested:
                plan, bodies = await _rendering(book, caller, tx, key, stored)
            else:
                trace.get_current_span().set_attribute(
                    "emailstore.raw_size_bytes", stored.raw_size_bytes
                )
                source = await content.raw(book, caller, tx, key, stored)
                plan = Skeleton.plan(source.skeleton)
                bodies = list(source.bodies)
        return self._stream(caller, plan, bodies)

    async def _stream(
        self, caller: Caller, plan: Sequence[bytes | BodyRef], bodies: Sequence[BodySource]
    ) -> AsyncIterator[bytes]:
        """The plan's literal bytes, with each referenced body read from its blob a few chunks
        at a time and encoded into place, in pieces of exactly CHUNK_SIZE (the last shorter)."""
        out = ChunkBuffer()
        for piece in plan:
            if isinstance(piece, bytes):
                out.append(piece)
                continue
            body = bodies[piece.index]
            encoder = piece.encoder()
            if isinstance(body, bytes):  # from the pack
                out.append(encoder.feed(body))
            else:
                reader = ChunkReader(self.db, caller, body.sha256, 0, body.chunk_count - 1)
                try:
                    async for chunk in reader:
                        out.append(encoder.feed(decode_chunk(body.codec, chunk)))
                        for ready in out.take(out.size // CHUNK_SIZE * CHUNK_SIZE):
                            yield bytes(ready)
                finally:
                    reader.close()  # the client went away mid-stream: stop reading ahead
            out.append(encoder.finish())
            for ready in out.take(out.size // CHUNK_SIZE * CHUNK_SIZE):
                yield bytes(ready)
        for rest in out.take(out.size):
            yield bytes(rest)


async def _rendering(
    book: DictionaryBook, caller: Caller, tx: UnitOfWork, key: str, stored: StoredContent
) -> tuple[list[bytes | BodyRef], list[BodySource]]:
    """A structured message's rendering plan, and the blob of each attachment in it."""
    found = await tx.messages.by_key(key)
    if found is None:
        raise NotFound(f"message {key!r} not found")
    message = found.message
    view = await content.full(book, caller, tx, key, stored)
    shas = [bytes.fromhex(a.sha256) for a in message.attachments]
    bodies: list[BodySource] = list(await content.blob_refs(tx, shas, f"message {key!r}"))
    return render_plan(message, view, message.attachments), bodies
