"""Every RPC of the contract, fuzzed: arbitrary requests never answer UNKNOWN or INTERNAL.

Requests are built from the message descriptors, so an RPC or field added to the .proto is
fuzzed without a change here: arbitrary strings (NULs and control characters included),
out-of-range Timestamps, huge and negative numbers, unknown enum values, and bytes that are not
valid protobuf at all (a string field holding a lone surrogate, i.e. invalid UTF-8; random
bytes). After every example the server must still answer a health check.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections import Counter
from typing import Any

import grpc
import pytest
from emailstore.v1 import emailstore_pb2 as pb
from google.protobuf import symbol_database
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.server import SERVICE_NAME, EmailStoreServer
from tests.factories import store_request

SERVICE = pb.DESCRIPTOR.services_by_name["EmailStore"]
TENANT = str(uuid.uuid4())
FORBIDDEN = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL}
# Calls that stream forever (a live tail) are cut off; that is not a failure.
CALL_TIMEOUT_S = 5.0

_INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}

# Text a protobuf string may carry (no surrogates: those cannot be valid UTF-8), NUL included.
_ANY_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)


def _text(name: str) -> st.SearchStrategy[str]:
    """Mostly plausible values for well-known field names, so calls get past the first check."""
    plausible: list[st.SearchStrategy[str]] = []
    if name == "tenant_id":
        plausible = [st.just(TENANT), st.uuids().map(str)]
    elif name in ("storage_key", "original_storage_key", "parent_storage_key"):
        plausible = [st.sampled_from(["k1", "k2", "email_x"]), st.from_regex(r"\A[a-z0-9]{1,12}\Z")]
    elif name in ("upload_id", "event_id", "request_id"):
        plausible = [st.uuids().map(str)]
    elif "sha256" in name:
        plausible = [st.binary(min_size=32, max_size=32).map(bytes.hex)]
    elif name == "email":
        plausible = [st.emails()]
    elif name in ("message_id_header", "in_reply_to", "references"):
        plausible = [st.from_regex(r"\A<[a-z0-9.]{1,10}@[a-z]{1,8}\.com>\Z")]
    elif name == "query":
        plausible = [st.sampled_from(["invoice", "from:acme.com -status:bounced", '"a b" OR c'])]
    return st.one_of(*plausible, _ANY_TEXT) if plausible else _ANY_TEXT


def _timestamp() -> st.SearchStrategy[dict[str, int]]:
    return st.fixed_dictionaries(
        {
            "seconds": st.one_of(
                st.integers(0, 4_000_000_000),
                st.integers(-(2**63), 2**63 - 1),
                st.sampled_from([2**40, -(2**40), 253_402_300_800, -62_135_596_801]),
            ),
            "nanos": st.one_of(st.integers(0, 999_999_999), st.integers(-(2**31), 2**31 - 1)),
        }
    )


def _scalar(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    if field.type == FieldDescriptor.TYPE_STRING:
        return _text(field.name)
    if field.type == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=300)
    if field.type == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if field.type == FieldDescriptor.TYPE_ENUM:
        known = [v.number for v in field.enum_type.values]
        return st.one_of(st.sampled_from(known), st.integers(-(2**31), 2**31 - 1))
    if field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return st.floats(width=32 if field.type == FieldDescriptor.TYPE_FLOAT else 64)
    lo, hi = _INT_RANGES[field.type]
    return st.one_of(st.integers(0, 5_000), st.integers(lo, hi), st.sampled_from([lo, hi, -1]))


def _is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def message_values(descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    """Field values for a message of this type (a dict for the message's constructor)."""
    if descriptor.full_name == "google.protobuf.Timestamp":
        return _timestamp()
    parts: dict[str, st.SearchStrategy[Any]] = {}
    for field in descriptor.fields:
        if field.containing_oneof is not None:
            continue
        parts[field.name] = _field_values(field, depth)
    oneofs = [
        st.one_of(
            st.just({}),
            *(_field_values(f, depth).map(lambda v, n=f.name: {n: v}) for f in oneof.fields),
        )
        for oneof in descriptor.oneofs
    ]
    optional = st.fixed_dictionaries({}, optional=parts)
    return st.tuples(optional, *oneofs).map(lambda ds: {k: v for d in ds for k, v in d.items()})


def _field_values(field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    if _is_map(field):
        key = _scalar(field.message_type.fields_by_name["key"])
        value_field = field.message_type.fields_by_name["value"]
        return st.dictionaries(key, _single(value_field, depth), max_size=3)
    single = _single(field, depth)
    if field.is_repeated:
        return st.lists(single, max_size=3)
    return single


def _single(field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    if field.message_type is None:
        return _scalar(field)
    if depth >= 3:
        return st.just({})
    return message_values(field.message_type, depth + 1)


def _message_class(descriptor: Descriptor) -> type[Message]:
    cls: type[Message] = symbol_database.Default().GetSymbol(descriptor.full_name)
    return cls


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _undecodable(descriptor: Descriptor) -> st.SearchStrategy[bytes]:
    """Bytes no decoder accepts: a string field holding invalid UTF-8 (a lone surrogate, a
    stray continuation byte), a length running past the end, or random bytes."""
    strings = [f for f in descriptor.fields if f.type == FieldDescriptor.TYPE_STRING]
    bad_utf8 = st.sampled_from(
        ["\ud800".encode("utf-8", "surrogatepass"), b"\xff\xfe", b"a\x80b", b"\xc3"]
    )
    options: list[st.SearchStrategy[bytes]] = [
        st.binary(min_size=1, max_size=40),
        st.just(b"\x0a\x7f" + b"short"),  # field 1, length 127, five bytes
    ]
    if strings:
        options.append(
            st.tuples(st.sampled_from(strings), bad_utf8).map(
                lambda fb: _varint(fb[0].number << 3 | 2) + _varint(len(fb[1])) + fb[1]
            )
        )
    return st.one_of(*options)


def _seeds() -> dict[str, list[Message]]:
    """Valid requests to start from, so that mutations reach past the first checks."""
    raw = (
        b"From: Jane <jane@example.com>\r\nTo: sam@acme.io\r\nSubject: Re: hi\r\n"
        b"Date: Mon, 1 Jan 2024 10:00:00 +0100\r\nMessage-ID: <r1@example.com>\r\n\r\nYes\r\n"
    )
    return {
        "emailstore.v1.StoreMessageRequest": [
            store_request(TENANT),
            store_request(
                TENANT,
                attachments=[pb.AttachmentInput(filename="a.txt", content=b"hello")],
                sent_at=Timestamp(seconds=1_700_000_000),
            ),
        ],
        "emailstore.v1.IngestRawMessageRequest": [
            pb.IngestRawMessageRequest(
                metadata=pb.RawMessageMetadata(tenant_id=TENANT, direction=pb.INBOUND)
            ),
            pb.IngestRawMessageRequest(chunk=raw),
        ],
        "emailstore.v1.UploadBlobRequest": [
            pb.UploadBlobRequest(
                tenant_id=TENANT, upload_id=str(uuid.uuid4()), data=b"abc", finish_write=True
            )
        ],
        "emailstore.v1.ListMessagesRequest": [pb.ListMessagesRequest(tenant_id=TENANT)],
        "emailstore.v1.DownloadAttachmentRequest": [
            pb.DownloadAttachmentRequest(tenant_id=TENANT, blob_sha256="ab" * 32)
        ],
    }


SEEDS = _seeds()


def _mutated(seed: Message) -> st.SearchStrategy[Message]:
    """The seed with up to three of its fields given arbitrary values."""
    descriptor = seed.DESCRIPTOR
    fields = list(descriptor.fields)

    def apply(changes: list[tuple[FieldDescriptor, Any]]) -> Message:
        message = type(seed)()
        message.CopyFrom(seed)
        for field, value in changes:
            message.ClearField(field.name)
            merged = _message(type(seed), {field.name: value})
            message.MergeFrom(merged)
        return message

    change = st.sampled_from(fields).flatmap(lambda f: _field_values(f, 1).map(lambda v: (f, v)))
    return st.lists(change, max_size=3).map(apply)


def _request(descriptor: Descriptor) -> st.SearchStrategy[bytes]:
    """One request on the wire: a valid request with some fields made arbitrary, a message of
    arbitrary values, or undecodable bytes."""
    cls = _message_class(descriptor)

    def build(values: dict[str, Any]) -> bytes:
        return _message(cls, values).SerializeToString()

    options = [message_values(descriptor).map(build), _undecodable(descriptor)]
    for seed in SEEDS.get(descriptor.full_name, []):
        options.append(_mutated(seed).map(lambda m: m.SerializeToString()))
    return st.one_of(*options)


def _message(cls: type[Message], values: dict[str, Any]) -> Message:
    message = cls()
    for name, value in values.items():
        field = cls.DESCRIPTOR.fields_by_name[name]
        target = getattr(message, name)
        if _is_map(field):
            value_field = field.message_type.fields_by_name["value"]
            for key, item in value.items():
                if value_field.message_type is None:
                    target[key] = item
                else:
                    target[key].CopyFrom(_message(_message_class(value_field.message_type), item))
        elif field.message_type is not None:
            sub = _message_class(field.message_type)
            if field.is_repeated:
                target.extend(_message(sub, item) for item in value)
            else:
                target.CopyFrom(_message(sub, value))
        elif field.is_repeated:
            target.extend(value)
        else:
            setattr(message, name, value)
    return message


def _stream(descriptor: Descriptor) -> st.SearchStrategy[list[bytes]]:
    """A request stream: 0-4 arbitrary requests, or the seeds in order, each maybe mutated."""
    seeds = SEEDS.get(descriptor.full_name, [])
    arbitrary = st.lists(_request(descriptor), max_size=4)
    if not seeds:
        return arbitrary
    in_order = st.tuples(
        *(st.one_of(st.just(s), _mutated(s)).map(lambda m: m.SerializeToString()) for s in seeds)
    ).map(list)
    return st.one_of(arbitrary, in_order)


METHODS = list(SERVICE.methods)
# Examples per RPC: 25 keep the suite quick; EMAILSTORE_FUZZ_EXAMPLES=2000 is a deep run.
FUZZ_EXAMPLES = int(os.environ.get("EMAILSTORE_FUZZ_EXAMPLES", "25"))
OUTCOMES: Counter[tuple[str, str]] = Counter()


def _outcome(channel: grpc.Channel, method: Any, payload: Any) -> tuple[grpc.StatusCode, str]:
    """The status a call with these request bytes ends with.

    The synchronous client is used on purpose: when a server ends a client-streaming call
    early, the asyncio client may report INTERNAL "Internal error from Core" for a write that
    races the end, hiding the server's real status (grpc/grpc#36066).
    """
    path = f"/{SERVICE.full_name}/{method.name}"
    identity: dict[str, Any] = {"request_serializer": None, "response_deserializer": None}
    kind = {
        (False, False): channel.unary_unary,
        (False, True): channel.unary_stream,
        (True, False): channel.stream_unary,
        (True, True): channel.stream_stream,
    }[method.client_streaming, method.server_streaming]
    request = iter(payload) if method.client_streaming else payload
    try:
        result = kind(path, **identity)(request, timeout=CALL_TIMEOUT_S)
        if method.server_streaming:
            for _ in result:
                pass
    except grpc.RpcError as exc:
        return exc.code(), exc.details() or ""
    return grpc.StatusCode.OK, ""


async def _still_serving(channel: grpc.aio.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    response = await health.Check(
        health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=CALL_TIMEOUT_S
    )
    assert response.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize("method", METHODS, ids=[m.name for m in METHODS])
@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_arbitrary_requests_never_answer_unknown_or_internal(
    server: EmailStoreServer, channel: grpc.aio.Channel, method: Any, data: st.DataObject
) -> None:
    """Arbitrary requests (and request streams) to this RPC get a definite status, never
    UNKNOWN or INTERNAL, and the server keeps answering."""
    descriptor = method.input_type
    payload = data.draw(_stream(descriptor) if method.client_streaming else _request(descriptor))
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as sync_channel:
        code, details = await asyncio.to_thread(_outcome, sync_channel, method, payload)
    OUTCOMES[method.name, code.name] += 1
    assert code not in FORBIDDEN, f"{method.name}: {code.name} ({details}) to {payload!r}"[:2000]
    await _still_serving(channel)


def teardown_module() -> None:
    """With -s, shows what the fuzzed calls answered (to see how deep they got)."""
    for (name, code), count in sorted(OUTCOMES.items()):
        print(f"{name:24} {code:20} {count}")
