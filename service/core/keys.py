"""Server-made identifiers: opaque, collision-free, time-ordered, prefixed by kind."""

from __future__ import annotations

import base64
import secrets
import time

from service.models import MessageType

# Crockford's base32 alphabet is in ASCII order, so keys sort like the numbers they encode.
_CROCKFORD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789abcdefghjkmnpqrstvwxyz")

_PREFIX = {
    MessageType.EMAIL: "email",
    MessageType.BOUNCE: "bounce",
    MessageType.AUTO_REPLY: "autoreply",
}


def _time_ordered_token() -> str:
    # 48 bits of milliseconds then 80 random bits (the ULID layout), base32 without padding:
    # sortable by creation time, and 2^80 values per millisecond make collisions negligible.
    raw = (time.time_ns() // 1_000_000).to_bytes(6, "big") + secrets.token_bytes(10)
    return base64.b32encode(raw).decode().rstrip("=").translate(_CROCKFORD)


def new_storage_key(message_type: MessageType) -> str:
    """A fresh storage key such as ``email_01hx...``."""
    return f"{_PREFIX[message_type]}_{_time_ordered_token()}"


def new_thread_id() -> str:
    """A fresh thread id such as ``thread_01hx...``."""
    return f"thread_{_time_ordered_token()}"
