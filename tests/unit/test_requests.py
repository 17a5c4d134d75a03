"""The checks every request passes before a servicer sees it (pure, no server)."""

from __future__ import annotations

import pytest
from emailstore.v1 import emailstore_pb2 as pb
from google.protobuf.timestamp_pb2 import Timestamp

from service.api.requests import MAX_SECONDS, MIN_SECONDS, Rejected, decoder, timestamp_violation


@pytest.mark.parametrize(
    ("seconds", "nanos", "ok"),
    [
        (0, 0, True),
        (MIN_SECONDS, 0, True),
        (MAX_SECONDS, 999_999_999, True),
        (MAX_SECONDS + 1, 0, False),
        (MIN_SECONDS - 1, 0, False),
        (2**40, 0, False),
        (0, -1, False),
        (0, 1_000_000_000, False),
    ],
)
def test_timestamp_range(seconds: int, nanos: int, ok: bool) -> None:
    """Exactly the range google.protobuf.Timestamp defines is accepted."""
    request = pb.StoreMessageRequest(sent_at=Timestamp(seconds=seconds, nanos=nanos))
    violation = timestamp_violation(request)
    assert (violation is None) == ok
    if not ok:
        assert violation is not None
        assert violation.field == "sent_at"


def test_unset_timestamps_are_not_checked() -> None:
    """A field left unset is not a violation (its default is the epoch anyway)."""
    assert timestamp_violation(pb.ListMessagesRequest(tenant_id="t")) is None


def test_nested_and_repeated_timestamps_are_named_by_path() -> None:
    """Timestamps inside nested and repeated messages are found and named by their path."""
    thread = pb.Thread(messages=[pb.Message(), pb.Message(created_at=Timestamp(seconds=2**40))])
    violation = timestamp_violation(thread)
    assert violation is not None
    assert violation.field == "messages[1].created_at"


def test_decoder_never_raises() -> None:
    """Undecodable bytes and out-of-range times come back as Rejected, never raised."""
    decode = decoder(pb.GetMessageRequest.FromString, "emailstore.v1.GetMessageRequest")
    bad_utf8 = b"\x0a\x02\xff\xfe"  # tenant_id holding invalid UTF-8
    rejected = decode(bad_utf8)
    assert isinstance(rejected, Rejected)
    assert "could not be decoded" in rejected.error.message
    assert rejected.error.violations[0].field == "request"

    decode = decoder(pb.StoreMessageRequest.FromString, "emailstore.v1.StoreMessageRequest")
    late = pb.StoreMessageRequest(sent_at=Timestamp(seconds=2**40)).SerializeToString()
    rejected = decode(late)
    assert isinstance(rejected, Rejected)
    assert rejected.error.violations[0].field == "sent_at"

    fine = decode(pb.StoreMessageRequest(subject="hi").SerializeToString())
    assert isinstance(fine, pb.StoreMessageRequest)
    assert fine.subject == "hi"
