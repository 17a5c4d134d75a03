"""What every request passes before a servicer sees it: decoding, and the range of its Timestamps.

Both checks are generic, driven by the message descriptors, so they hold for every field of
every request, the ones added later included:

* bytes that are not a valid protobuf message of the request's type (invalid UTF-8 in a
  ``string`` field, a truncated varint, a wrong wire type) are refused with INVALID_ARGUMENT;
  grpc itself would answer UNKNOWN;
* a ``google.protobuf.Timestamp`` outside what the type defines (0001-01-01T00:00:00Z to
  9999-12-31T23:59:59.999999999Z, nanos 0-999,999,999), which ``datetime`` cannot hold either,
  is refused with INVALID_ARGUMENT naming the field (``sent_at``, ``filters.created_after``).

The deserializer never raises: it hands back a `Rejected` in place of the request, and the
interceptor turns it into the error (or, for streams whose items fail alone, the servicer does).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from service.errors import FieldViolation, InvalidArgument

TIMESTAMP = "google.protobuf.Timestamp"
# The range of google.protobuf.Timestamp (and of datetime, and well inside PostgreSQL's).
MIN_SECONDS = -62_135_596_800  # 0001-01-01T00:00:00Z
MAX_SECONDS = 253_402_300_799  # 9999-12-31T23:59:59Z
MAX_NANOS = 999_999_999
_RANGE = "0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z"


class Rejected:
    """Stands in for a request that could not be decoded or is out of its types' range."""

    __slots__ = ("error",)

    def __init__(self, error: InvalidArgument) -> None:
        self.error = error


def _is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def _target(field: FieldDescriptor) -> Descriptor | None:
    """The message type a field holds (for a map, its values'), None for scalars."""
    target = field.message_type
    if target is not None and _is_map(field):
        target = target.fields_by_name["value"].message_type
    return target


def _holds_timestamps(descriptor: Descriptor, seen: frozenset[Descriptor]) -> bool:
    if descriptor.full_name == TIMESTAMP:
        return True
    if descriptor in seen:
        return False  # a recursive type: its Timestamps are found where it starts
    return any(
        (target := _target(field)) is not None and _holds_timestamps(target, seen | {descriptor})
        for field in descriptor.fields
    )


@functools.cache
def _timestamp_fields(descriptor: Descriptor) -> tuple[FieldDescriptor, ...]:
    """The fields of a message type that are, or (nested, repeated, in maps) hold, Timestamps."""
    return tuple(
        field
        for field in descriptor.fields
        if (target := _target(field)) is not None
        and _holds_timestamps(target, frozenset({descriptor}))
    )


def timestamp_violation(message: Message, prefix: str = "") -> FieldViolation | None:
    """The first Timestamp of the message (at any depth) outside the type's range, or None."""
    for field in _timestamp_fields(message.DESCRIPTOR):
        name = f"{prefix}{field.name}"
        value: Any = getattr(message, field.name)
        items: Iterable[tuple[str, Any]]
        if _is_map(field):
            items = ((f"{name}[{key!r}]", value[key]) for key in value)
        elif field.is_repeated:
            items = ((f"{name}[{i}]", item) for i, item in enumerate(value))
        elif message.HasField(field.name):
            items = ((name, value),)
        else:
            continue
        for path, item in items:
            if item.DESCRIPTOR.full_name == TIMESTAMP:
                if not (
                    MIN_SECONDS <= item.seconds <= MAX_SECONDS and 0 <= item.nanos <= MAX_NANOS
                ):
                    return FieldViolation(
                        path,
                        f"must be a time from {_RANGE} (got seconds={item.seconds}, "
                        f"nanos={item.nanos})",
                    )
            else:
                found = timestamp_violation(item, f"{path}.")
                if found is not None:
                    return found
    return None


def decoder(parse: Callable[[bytes], Message], type_name: str) -> Callable[[bytes], Any]:
    """A request deserializer that never raises: the message, or a Rejected saying why not."""

    def decode(data: bytes) -> Message | Rejected:
        try:
            message = parse(data)
        except Exception as exc:  # DecodeError, or whatever the runtime raises on bad bytes
            description = f"is not a valid {type_name} ({exc})"[:500]
            return Rejected(
                InvalidArgument(
                    f"the request could not be decoded: it {description}",
                    violations=[FieldViolation("request", description)],
                )
            )
        violation = timestamp_violation(message)
        if violation is not None:
            return Rejected(
                InvalidArgument(
                    f"{violation.field} {violation.description}", violations=[violation]
                )
            )
        return message

    return decode
