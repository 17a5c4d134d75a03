"""The import client's retries and idempotency keys, against a fake stub (no server)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from emailstore.v1 import emailstore_pb2 as pb

from service.cli.transfer import RetryPolicy, ingest, request_id

META = pb.RawMessageMetadata(
    tenant_id="0b7f3c2e-4a1d-4c7e-9f3a-2d6e8b1c5a90",
    email_account_id="acct-1",
    direction=pb.INBOUND,
)
RAW = b"Subject: hi\r\n\r\n" + b"x" * (600 * 1024)


def _error(code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), "fake")


class FakeStub:
    """Answers IngestRawMessage with the given errors first, then success; records what each
    call sent."""

    def __init__(self, *errors: grpc.StatusCode) -> None:
        self.errors = list(errors)
        self.sent: list[tuple[str, bytes]] = []

    async def IngestRawMessage(
        self,
        requests: AsyncIterator[pb.IngestRawMessageRequest],
        timeout: float,  # noqa: ASYNC109 (the gRPC stub's own parameter, mirrored)
    ) -> pb.StoreMessageResponse:
        items = [r async for r in requests]
        self.sent.append((items[0].metadata.request_id, b"".join(r.chunk for r in items[1:])))
        if self.errors:
            raise _error(self.errors.pop(0))
        return pb.StoreMessageResponse(storage_key="k", deduplicated=len(self.sent) > 1)


waits: list[float] = []


async def _no_sleep(delay: float) -> None:
    waits.append(delay)


async def test_unavailable_is_retried_with_the_same_request_id() -> None:
    """After UNAVAILABLE and DEADLINE_EXCEEDED the message is sent again, whole, under the
    same request_id, after a backoff; the answer of the attempt that got through is returned."""
    stub = FakeStub(grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    waits.clear()
    response = await ingest(
        stub,  # type: ignore[arg-type]
        META,
        RAW,
        timeout_s=5,
        policy=RetryPolicy(attempts=5, first_delay_s=0.5),
        sleep=_no_sleep,
    )
    assert response.storage_key == "k"
    assert len(stub.sent) == 3
    assert {rid for rid, _ in stub.sent} == {request_id(META, RAW)}
    assert all(data == RAW for _, data in stub.sent)
    assert len(waits) == 2
    assert 0.25 <= waits[0] <= 0.5
    assert 0.5 <= waits[1] <= 1.0


async def test_retries_are_bounded() -> None:
    """A server that stays UNAVAILABLE is tried `attempts` times, then the error is raised."""
    stub = FakeStub(*[grpc.StatusCode.UNAVAILABLE] * 10)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await ingest(
            stub,  # type: ignore[arg-type]
            META,
            RAW,
            timeout_s=5,
            policy=RetryPolicy(attempts=3),
            sleep=_no_sleep,
        )
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert len(stub.sent) == 3


async def test_other_errors_are_not_retried() -> None:
    """INVALID_ARGUMENT or RESOURCE_EXHAUSTED will not change on a retry: raised at once."""
    for code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED):
        stub = FakeStub(code)
        with pytest.raises(grpc.aio.AioRpcError):
            await ingest(
                stub,  # type: ignore[arg-type]
                META,
                RAW,
                timeout_s=5,
                policy=RetryPolicy(),
                sleep=_no_sleep,
            )
        assert len(stub.sent) == 1


def test_request_id_follows_bytes_and_metadata() -> None:
    """The same bytes and metadata give the same key (a re-run is a repeat); other bytes or
    another mailbox, campaign, lead, direction or tenant give another (not a reuse)."""
    key = request_id(META, RAW)
    assert key == request_id(META, bytes(RAW))
    assert key.startswith("import-")
    assert len(key) <= 200
    assert " " not in key
    variants = [
        (META, RAW + b"\n"),
        (
            pb.RawMessageMetadata(
                tenant_id="other", email_account_id="acct-1", direction=pb.INBOUND
            ),
            RAW,
        ),
        (
            pb.RawMessageMetadata(
                tenant_id=META.tenant_id, email_account_id="acct-2", direction=pb.INBOUND
            ),
            RAW,
        ),
        (
            pb.RawMessageMetadata(
                tenant_id=META.tenant_id, email_account_id="acct-1", direction=pb.OUTBOUND
            ),
            RAW,
        ),
        (
            pb.RawMessageMetadata(
                tenant_id=META.tenant_id,
                email_account_id="acct-1",
                direction=pb.INBOUND,
                campaign_id="c",
            ),
            RAW,
        ),
        (
            pb.RawMessageMetadata(
                tenant_id=META.tenant_id,
                email_account_id="acct-1",
                direction=pb.INBOUND,
                lead_id="l",
            ),
            RAW,
        ),
    ]
    assert len({request_id(m, r) for m, r in variants} | {key}) == len(variants) + 1
