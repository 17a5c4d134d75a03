"""Raw message use cases: ingest RFC 5322 bytes, and give back the exact original."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace

from opentelemetry import trace

from service.codec.blobs import CHUNK_SIZE, BlobSet, ChunkBuffer, decode_blob, decode_chunk
from service.codec.ingest import ParsedRaw, parse_raw, unparsed
from service.codec.mime import BodyRef, MimeLimits, Skeleton
from service.codec.render import render_plan
from service.config import Config
from service.core import keys, validation
from service.core.messages import sha256_json
from service.core.validation import Violations
from service.errors import InvalidArgument
from service.models import (
    Direction,
    MessageStatus,
    MessageType,
    RawMessageInput,
    StoreResult,
)
from service.store.blobs import BlobRepository
from service.store.messages import MessageRepository
from service.store.records import BlobRef, NewAttachment, NewMessage

log = logging.getLogger(__name__)


class ParserPool:
    """Worker processes that parse raw messages, each parse under a time limit.

    A message that takes too long is stored unparsed, and the workers are replaced (a process
    cannot be interrupted otherwise); parses caught in that replacement are retried once.
    """

    def __init__(self, workers: int, timeout_s: float, limits: MimeLimits) -> None:
        self.workers = workers
        self.timeout_s = timeout_s
        self.limits = limits
        # spawn, not fork: the server process runs gRPC threads that must not be forked.
        self._context = multiprocessing.get_context("spawn")
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=self._context)

    async def parse(self, raw: bytes) -> ParsedRaw:
        """The parsed message, or the message kept whole with the reason it was not parsed."""
        loop = asyncio.get_running_loop()
        for _ in range(2):
            pool = self._pool
            try:
                future = loop.run_in_executor(pool, parse_raw, raw, self.limits)
                return await asyncio.wait_for(future, self.timeout_s)
            except TimeoutError:
                log.warning("parsing a %d-byte message passed %.1fs", len(raw), self.timeout_s)
                self._replace(pool)
                return unparsed(raw, f"parse time limit of {self.timeout_s:g}s passed")
            except BrokenProcessPool:
                self._replace(pool)
        return unparsed(raw, "parser worker crashed")

    def _replace(self, pool: ProcessPoolExecutor) -> None:
        if pool is not self._pool:
            return  # someone replaced it already
        self._pool = self._new_pool()
        # The private process table is the only handle on a worker stuck in a parse.
        for process in list(getattr(pool, "_processes", {}).values()):
            process.kill()
        pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Stops the workers."""
        self._pool.shutdown(wait=False, cancel_futures=True)


class IngestService:
    """IngestRawMessage and GetRawMessage."""

    def __init__(
        self,
        config: Config,
        repository: MessageRepository,
        blobs: BlobRepository,
        parser: ParserPool,
    ) -> None:
        self.config = config
        self.repository = repository
        self.blobs = blobs
        self.parser = parser

    async def ingest(self, meta: RawMessageInput, raw: bytes) -> StoreResult:
        """Parses and stores one raw message; it can be given back byte for byte."""
        tenant = validation.tenant_id(meta.tenant_id)
        v = Violations()
        for name in ("email_account_id", "campaign_id", "lead_id"):
            validation.check_id(v, name, getattr(meta, name))
        if meta.direction is None:
            v.add("metadata.direction", "is required: INBOUND or OUTBOUND")
        if meta.request_id and not validation.REQUEST_ID_RE.match(meta.request_id):
            v.add("metadata.request_id", "must be 1-200 printable ASCII characters")
        validation.check_labels(v, meta.labels)
        v.raise_if_any()
        if meta.storage_key:
            validation.storage_key(meta.storage_key, "metadata.storage_key")
        validation.check_limit(
            "raw message size in bytes",
            len(raw),
            self.config.max_message_bytes,
            "EMAILSTORE_MAX_MESSAGE_BYTES",
        )
        if meta.direction is None:  # reported above; keeps the type checker informed
            raise InvalidArgument("metadata.direction is required")
        span = trace.get_current_span()
        span.set_attribute("emailstore.tenant_id", tenant)
        span.set_attribute("emailstore.raw_size_bytes", len(raw))
        parsed = await self.parser.parse(raw)
        span.set_attribute("emailstore.parse_status", parsed.status)
        new = await asyncio.to_thread(self._build, replace(meta, tenant_id=tenant), raw, parsed)
        message, deduplicated = await self.repository.insert_message(new)
        span.set_attribute("emailstore.storage_key", message.storage_key)
        span.set_attribute("emailstore.deduplicated", deduplicated)
        return StoreResult(message, deduplicated)

    def _build(self, meta: RawMessageInput, raw: bytes, parsed: ParsedRaw) -> NewMessage:
        blob_set = BlobSet(self.config.zstd_level)
        add = blob_set.add

        text_sha = add(parsed.text.encode()) if parsed.text else None
        html_sha = add(parsed.html.encode()) if parsed.html else None
        attachments = [
            NewAttachment(
                attachment_id=str(i + 1),
                position=i,
                filename=a.filename,
                mime_type=a.mime_type,
                disposition=a.disposition,
                content_id=a.content_id,
                sha256=add(a.data),
                size_bytes=len(a.data),
                part_path=a.path,
            )
            for i, a in enumerate(parsed.attachments)
        ]
        skeleton_sha = add(parsed.skeleton)
        raw_parts = tuple(add(body) for body in parsed.bodies)
        raw_hash = parsed.raw_sha256  # hashed once, by the worker
        direction = meta.direction or Direction.INBOUND
        message_type = MessageType(parsed.kind)
        storage_key = meta.storage_key or keys.new_storage_key(message_type)
        fingerprint = sha256_json(
            {
                "raw": raw_hash.hex(),
                "account": meta.email_account_id,
                "campaign": meta.campaign_id,
                "lead": meta.lead_id,
                "direction": direction.value,
                "labels": dict(meta.labels),
            }
        )

        def pairs(addresses: tuple[tuple[str, str], ...]) -> list[list[str]]:
            return [[email, name] for email, name in addresses]

        status = MessageStatus.RECEIVED if direction is Direction.INBOUND else MessageStatus.SENT
        return NewMessage(
            tenant_id=meta.tenant_id,
            storage_key=storage_key,
            caller_chose_key=bool(meta.storage_key),
            request_id=meta.request_id or None,
            request_fingerprint=fingerprint,
            email_account_id=meta.email_account_id,
            campaign_id=meta.campaign_id,
            lead_id=meta.lead_id,
            direction=direction.value,
            message_type=message_type.value,
            status=status.value,
            from_email=parsed.from_address[0] if parsed.from_address else "",
            from_name=parsed.from_address[1] if parsed.from_address else "",
            recipients={
                "to": pairs(parsed.to),
                "cc": pairs(parsed.cc),
                "bcc": pairs(parsed.bcc),
                "reply_to": pairs(parsed.reply_to),
            },
            subject=parsed.subject[: self.config.max_subject_chars],
            message_id_header=parsed.message_id,
            in_reply_to=parsed.in_reply_to,
            references=parsed.references,
            new_thread_id=keys.new_thread_id(),
            labels=dict(meta.labels),
            content_hash=raw_hash,
            sent_at=parsed.date,
            headers=[
                [h.name, h.value, True] if h.kept_raw else [h.name, h.value] for h in parsed.headers
            ],
            text_sha256=text_sha,
            html_sha256=html_sha,
            attachments=tuple(attachments),
            new_blobs=blob_set.ordered(),
            new_blob_refs=dict(blob_set.refs),
            ingest_hash=raw_hash,
            parse_status=parsed.status,
            parse_warnings=parsed.warnings,
            raw_sha256=skeleton_sha,
            raw_parts=raw_parts,
            raw_size_bytes=len(raw),
            thread_hint=parsed.original_message_id,
        )

    async def raw_message(self, tenant_id: str, storage_key: str) -> AsyncIterator[bytes]:
        """The message as RFC 5322 bytes, in pieces of at most 256 KiB: the exact original
        for ingested messages, rebuilt as it streams (a few chunks in memory, whatever the
        message's size), and a rendering for structured ones."""
        tenant = validation.tenant_id(tenant_id)
        key = validation.storage_key(storage_key)
        span = trace.get_current_span()
        layout = await self.repository.raw_layout(tenant, key)
        if layout is None:
            plan, bodies = await self._rendering(tenant, key)
            return self._stream(tenant, plan, bodies)
        span.set_attribute("emailstore.raw_size_bytes", layout.raw_size_bytes)
        skeleton = decode_blob(layout.skeleton.codec, layout.skeleton.chunks)
        return self._stream(tenant, Skeleton.plan(skeleton), layout.bodies)

    async def _stream(
        self, tenant: str, plan: Sequence[bytes | BodyRef], bodies: Sequence[BlobRef]
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
            reader = self.blobs.reader(tenant, body.sha256, 0, body.chunk_count - 1)
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
        self, tenant: str, key: str
    ) -> tuple[list[bytes | BodyRef], list[BlobRef]]:
        """A structured message's rendering plan, and the blob of each attachment in it."""
        fetched = await self.repository.get_message(tenant, key, full=True)
        message = fetched.message
        text = (
            decode_blob(fetched.text_blob.codec, fetched.text_blob.chunks)
            if fetched.text_blob
            else b""
        )
        html = (
            decode_blob(fetched.html_blob.codec, fetched.html_blob.chunks)
            if fetched.html_blob
            else b""
        )
        bodies = await self.repository.blob_refs(
            tenant, [bytes.fromhex(a.sha256) for a in message.attachments], f"message {key!r}"
        )
        view = replace(
            message,
            text_body=text.decode("utf-8", "replace"),
            html_body=html.decode("utf-8", "replace"),
        )
        return render_plan(view, message.attachments), bodies
