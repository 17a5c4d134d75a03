"""Server-made identifiers: opaque, collision-free, time-ordered, prefixed by kind."""

from __future__ import annotations

import base64
import random
import time

from service.models import MessageType

# Crockford's base32 alphabet is in ASCII order, so keys sort like the numbers they encode.
_CROCKFORD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789abcdefghjkmnpqrstvwxyz")

_RANDOM = random.Random()  # seeded from os.urandom  # noqa: S311 - uniqueness, not secrecy

_PREFIX = {
    MessageType.EMAIL: "email",
    MessageType.BOUNCE: "bounce",
    MessageType.AUTO_REPLY: "autoreply",
}


def _time_ordered_token() -> str:
    # 48 bits of milliseconds then 80 random bits (the ULID layout), base32 without padding:
    # sortable by creation time, and 2^80 values per millisecond make collisions negligible.
    # The bits need to be unique, not secret (keys are no credentials: every read checks the
    # tenant): a generator seeded from the OS, not a system call per key.
    raw = (time.time_ns() // 1_000_000).to_bytes(6, "big") + _RANDOM.getrandbits(80).to_bytes(
        10, "big"
    )
    return base64.b32encode(raw).decode().rstrip("=").translate(_CROCKFORD)


def new_storage_key(message_type: MessageType) -> str:
    """A fresh storage key such as ``email_01hx...``."""
    return f"{_PREFIX[message_type]}_{_time_ordered_token()}"


def new_thread_id() -> str:
    """A fresh thread id such as ``thread_01hx...``."""
    return f"thread_{_time_ordered_token()}"
