"""`emailstore export` and `emailstore import`: mbox out of a tenant, mail into one, over gRPC.

Export writes ExportMessages' stream to a file (`FILE.partial` until the stream is complete,
then renamed, so an interrupted export never looks finished). Import reads an mbox, a maildir or
a folder of `.eml` files (`service.cli.sources`) and sends each message with IngestRawMessage,
a few at a time on one channel. Each message's request_id is derived from the tenant, the
metadata and the SHA-256 of its bytes, so a retry after UNAVAILABLE and a second run of the
whole import store nothing twice: repeats come back deduplicated and count as duplicates.

This is a client of the service: like `service.api`, it is one of the few modules that import
grpc and the generated code.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, TypeVar

import grpc
from emailstore.v1 import emailstore_pb2 as pb
from emailstore.v1 import emailstore_pb2_grpc as pb_grpc

from service.cli.progress import Progress, size
from service.cli.sources import Source, SourceError, SourceMessage, open_source

T = TypeVar("T")

# Worth trying again with the same request_id: the server did not answer (or not in time),
# and a write it did finish makes the repeat a deduplicated no-op.
RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})
# Bytes per IngestRawMessage request (the server's chunk size).
SEND_CHUNK = 256 * 1024
# Reasons printed in the summary; the rest are counted.
MAX_REASONS = 10
DEFAULT_MAX_MESSAGE_BYTES = 50 * 1024 * 1024


# ---------------------------------------------------------------------- arguments


def _timestamp(value: str) -> datetime:
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an ISO 8601 date or time (2026-11-03, 2026-11-03T14:00:00Z)"
        ) from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _tenant(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a UUID") from None


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def _common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tenant", required=True, type=_tenant, help="the tenant (UUID)")
    parser.add_argument(
        "--target",
        help="the server, host:port (default: EMAILSTORE_LISTEN, else localhost:50051)",
    )
    parser.add_argument(
        "--progress-interval",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="seconds between progress lines when stderr is not a terminal (default 5)",
    )


def export_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `emailstore export`."""
    _common_arguments(parser)
    parser.add_argument(
        "--output", "-o", required=True, help="the mbox file to write (- for stdout)"
    )
    parser.add_argument("--query", help="a SearchMessages query instead of filters")
    filters = parser.add_argument_group("filters (as ListMessages; not with --query)")
    filters.add_argument("--campaign", help="campaign id")
    filters.add_argument("--lead", help="lead id")
    filters.add_argument("--account", help="email account (mailbox) id")
    filters.add_argument("--thread", help="thread id")
    filters.add_argument(
        "--after", type=_timestamp, help="created at or after (ISO 8601, UTC unless given)"
    )
    filters.add_argument("--before", type=_timestamp, help="created before (ISO 8601)")
    filters.add_argument("--include-archived", action="store_true", help="archived messages too")


def import_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `emailstore import`."""
    _common_arguments(parser)
    parser.add_argument("--account", required=True, help="the email account (mailbox) id")
    parser.add_argument(
        "--direction", choices=("inbound", "outbound"), default="inbound", help="default inbound"
    )
    parser.add_argument("--campaign", default="", help="campaign id of every message")
    parser.add_argument("--lead", default="", help="lead id of every message")
    parser.add_argument(
        "--concurrency", type=_positive, default=8, help="messages in flight (default 8)"
    )
    parser.add_argument(
        "--max-message-bytes",
        type=_positive,
        default=DEFAULT_MAX_MESSAGE_BYTES,
        help="skip (as failed) messages larger than this; default 50 MiB, the server's default",
    )
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds per message (default 120)"
    )
    parser.add_argument(
        "source", type=Path, help="an mbox file, a maildir, or a folder of .eml files"
    )


def run(args: argparse.Namespace, listen: str) -> int:
    """Runs `export` or `import` against the server (`listen`: the configured address)."""
    target = args.target or default_target(listen)
    command = export_command if args.command == "export" else import_command
    try:
        return asyncio.run(command(args, target))
    except KeyboardInterrupt:
        # An import is safe to run again; an export leaves no partial file behind.
        print(f"emailstore {args.command}: interrupted", file=sys.stderr)
        return 130


def default_target(listen: str) -> str:
    """Where a client on this machine reaches a server listening on `listen`."""
    host, _, port = listen.rpartition(":")
    if host in ("", "0.0.0.0", "[::]", "::"):  # noqa: S104 (a listen address, not a bind)
        host = "localhost"
    return f"{host}:{port or 50051}"


# ---------------------------------------------------------------------- retries


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait before trying a call again: exponential backoff with
    jitter, a bounded number of attempts."""

    attempts: int = 5
    first_delay_s: float = 0.5
    max_delay_s: float = 8.0

    def delays(self) -> Iterator[float]:
        """The waits before the second, third, ... attempt."""
        for attempt in range(self.attempts - 1):
            delay = min(self.max_delay_s, self.first_delay_s * 2**attempt)
            # Jitter spreads the retries of concurrent calls; not security relevant.
            yield delay * random.uniform(0.5, 1.0)  # noqa: S311


async def with_retries(
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """The result of `call`, tried again after UNAVAILABLE or DEADLINE_EXCEEDED as the policy
    allows; any other error, or the last retryable one, is raised."""
    delays = policy.delays()
    while True:
        try:
            return await call()
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in RETRYABLE:
                raise
            delay = next(delays, None)
            if delay is None:
                raise
            await sleep(delay)


# ---------------------------------------------------------------------- import


def request_id(meta: pb.RawMessageMetadata, raw: bytes) -> str:
    """The idempotency key of importing these bytes with this metadata: the same on a retry
    and on a second run, different when anything the server compares differs."""
    scope = [
        meta.tenant_id,
        meta.email_account_id,
        meta.direction,
        meta.campaign_id,
        meta.lead_id,
        hashlib.sha256(raw).hexdigest(),
    ]
    return "import-" + hashlib.sha256(json.dumps(scope).encode()).hexdigest()


async def _requests(
    meta: pb.RawMessageMetadata, raw: bytes
) -> AsyncIterator[pb.IngestRawMessageRequest]:
    yield pb.IngestRawMessageRequest(metadata=meta)
    view = memoryview(raw)
    for start in range(0, len(raw), SEND_CHUNK):
        yield pb.IngestRawMessageRequest(chunk=bytes(view[start : start + SEND_CHUNK]))


async def ingest(
    stub: pb_grpc.EmailStoreAsyncStub,
    meta: pb.RawMessageMetadata,
    raw: bytes,
    *,
    timeout_s: float,
    policy: RetryPolicy,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> pb.StoreMessageResponse:
    """One message sent with IngestRawMessage under its derived request_id, retried with the
    same id as the policy allows."""
    keyed = pb.RawMessageMetadata()
    keyed.CopyFrom(meta)
    keyed.request_id = request_id(meta, raw)

    async def call() -> pb.StoreMessageResponse:
        # A new request stream each time: a stream is consumed by the call that sends it.
        response: pb.StoreMessageResponse = await stub.IngestRawMessage(
            _requests(keyed, raw),
            timeout=timeout_s,
        )
        return response

    return await with_retries(call, policy, sleep)


@dataclass
class ImportSummary:
    """What an import did."""

    imported: int = 0
    duplicates: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    bytes: int = 0
    source_bytes: int = 0

    @property
    def done(self) -> int:
        """Messages dealt with, however it went."""
        return self.imported + self.duplicates + len(self.failures)

    def note(self) -> str:
        """The short form for the progress display."""
        return f"{self.duplicates:,} dup, {len(self.failures):,} failed"

    def lines(self, elapsed_s: float) -> list[str]:
        """The summary printed at the end."""
        rate = size(self.bytes / max(elapsed_s, 1e-9))
        lines = [
            f"imported {self.imported:,}, duplicates {self.duplicates:,}, "
            f"failed {len(self.failures):,}; {self.bytes:,} bytes in {elapsed_s:.1f} s ({rate}/s)"
        ]
        for name, reason in self.failures[:MAX_REASONS]:
            lines.append(f"  failed {name}: {reason}")
        if len(self.failures) > MAX_REASONS:
            lines.append(f"  ... and {len(self.failures) - MAX_REASONS:,} more failures")
        return lines


def _reason(exc: grpc.aio.AioRpcError) -> str:
    """A failed call for the summary: the status code and the server's message."""
    code = exc.code()
    name = code.name if code else "UNKNOWN"
    details = exc.details()
    return f"{name}: {details}" if details else name


async def import_messages(
    stub: pb_grpc.EmailStoreAsyncStub,
    source: Source,
    meta: pb.RawMessageMetadata,
    *,
    concurrency: int,
    timeout_s: float,
    policy: RetryPolicy,
    progress: Progress,
) -> ImportSummary:
    """Every message of the source sent, `concurrency` at a time; a message that fails is
    counted with its reason and the import goes on."""
    summary = ImportSummary()
    slots = asyncio.Semaphore(concurrency)
    running: set[asyncio.Task[None]] = set()

    async def one(item: SourceMessage, raw: bytes) -> None:
        try:
            response = await ingest(stub, meta, raw, timeout_s=timeout_s, policy=policy)
        except grpc.aio.AioRpcError as exc:
            summary.failures.append((item.name, _reason(exc)))
        else:
            if response.deduplicated:
                summary.duplicates += 1
            else:
                summary.imported += 1
            summary.bytes += len(raw)
        finally:
            slots.release()
            summary.source_bytes += item.weight
            progress.update(summary.done, summary.source_bytes, summary.note())

    for item in source.messages:
        await slots.acquire()
        if item.raw is None:
            summary.failures.append((item.name, item.error))
            summary.source_bytes += item.weight
            slots.release()
            progress.update(summary.done, summary.source_bytes, summary.note())
            continue
        task = asyncio.create_task(one(item, item.raw))
        running.add(task)
        task.add_done_callback(running.discard)
    if running:
        await asyncio.gather(*running)
    # All of the source has been read (an mbox's weights leave out its quoting).
    progress.update(summary.done, source.total_bytes, summary.note())
    return summary


async def _reachable(channel: grpc.aio.Channel, target: str, command: str) -> bool:
    try:
        await asyncio.wait_for(channel.channel_ready(), timeout=10)
    except TimeoutError:
        print(f"emailstore {command}: no server answers at {target}", file=sys.stderr)
        return False
    return True


async def import_command(args: argparse.Namespace, target: str) -> int:
    """`emailstore import`: exit 0 when every message was imported or was there already."""
    try:
        source = open_source(args.source, args.max_message_bytes)
    except (SourceError, OSError) as exc:
        print(f"emailstore import: {exc}", file=sys.stderr)
        return 2
    meta = pb.RawMessageMetadata(
        tenant_id=args.tenant,
        email_account_id=args.account,
        direction=pb.INBOUND if args.direction == "inbound" else pb.OUTBOUND,
        campaign_id=args.campaign,
        lead_id=args.lead,
    )
    progress = Progress(
        f"import {source.kind}",
        sys.stderr,
        terminal=sys.stderr.isatty(),
        interval_s=args.progress_interval,
        total_bytes=source.total_bytes,
        total_messages=source.total_messages,
    )
    started = time.monotonic()
    async with grpc.aio.insecure_channel(target) as channel:
        if not await _reachable(channel, target, "import"):
            return 2
        try:
            summary = await import_messages(
                pb_grpc.EmailStoreStub(channel),
                source,
                meta,
                concurrency=args.concurrency,
                timeout_s=args.timeout,
                policy=RetryPolicy(),
                progress=progress,
            )
        except OSError as exc:  # the source went away or broke while being read
            print(f"emailstore import: {exc}", file=sys.stderr)
            return 2
        finally:
            progress.close()
    for line in summary.lines(time.monotonic() - started):
        print(line)
    return 1 if summary.failures else 0


# ---------------------------------------------------------------------- export


def export_request(args: argparse.Namespace) -> pb.ExportMessagesRequest:
    """The ExportMessagesRequest the options ask for."""
    request = pb.ExportMessagesRequest(tenant_id=args.tenant, query=args.query or "")
    filters = pb.ListMessagesRequest(
        campaign_id=args.campaign or "",
        lead_id=args.lead or "",
        email_account_id=args.account or "",
        thread_id=args.thread or "",
        include_archived=args.include_archived,
    )
    if args.after:
        filters.created_after.FromDatetime(args.after)
    if args.before:
        filters.created_before.FromDatetime(args.before)
    if filters != pb.ListMessagesRequest():
        request.filters.CopyFrom(filters)
    return request


async def _export_to(
    stub: pb_grpc.EmailStoreAsyncStub,
    request: pb.ExportMessagesRequest,
    out: BinaryIO,
    progress: Progress,
    policy: RetryPolicy,
) -> tuple[int, int]:
    """Writes the stream to `out`; (messages, bytes). Retried only before the first byte: the
    stream cannot resume in the middle."""
    delays = policy.delays()
    while True:
        messages = written = 0
        try:
            async for chunk in stub.ExportMessages(request):
                if written == 0 and chunk.messages_total:
                    progress.set_total_messages(chunk.messages_total)
                out.write(chunk.data)
                written += len(chunk.data)
                messages = chunk.messages_done
                progress.update(messages, written)
            return messages, written
        except grpc.aio.AioRpcError as exc:
            delay = next(delays, None) if exc.code() in RETRYABLE and written == 0 else None
            if delay is None:
                raise
            await asyncio.sleep(delay)


async def export_command(args: argparse.Namespace, target: str) -> int:
    """`emailstore export`: exit 0 when the whole mbox is written."""
    has_filter = (
        any(
            getattr(args, name)
            for name in ("campaign", "lead", "account", "thread", "after", "before")
        )
        or args.include_archived
    )
    if args.query and has_filter:
        print("emailstore export: give --query or filters, not both", file=sys.stderr)
        return 2
    to_stdout = args.output == "-"
    report = sys.stderr if to_stdout else sys.stdout
    final = Path(args.output)
    partial = final.with_name(final.name + ".partial")
    progress = Progress(
        "export",
        sys.stderr,
        terminal=sys.stderr.isatty(),
        interval_s=args.progress_interval,
    )
    started = time.monotonic()
    async with grpc.aio.insecure_channel(target) as channel:
        if not await _reachable(channel, target, "export"):
            progress.close()
            return 2
        out = sys.stdout.buffer if to_stdout else partial.open("wb")
        complete = False
        try:
            messages, written = await _export_to(
                pb_grpc.EmailStoreStub(channel), export_request(args), out, progress, RetryPolicy()
            )
            out.flush()
            complete = True
        except grpc.aio.AioRpcError as exc:
            progress.close()
            print(f"emailstore export: {_reason(exc)}", file=sys.stderr)
            return 1
        finally:
            if not to_stdout:
                out.close()
                if complete:
                    os.replace(partial, final)
                else:  # failed or interrupted: no file that looks like a whole export
                    partial.unlink(missing_ok=True)
    progress.close()
    elapsed = time.monotonic() - started
    where = "stdout" if to_stdout else str(final)
    print(
        f"exported {messages:,} messages, {written:,} bytes in {elapsed:.1f} s "
        f"({size(written / max(elapsed, 1e-9))}/s) to {where}",
        file=report,
    )
    return 0
