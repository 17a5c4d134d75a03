"""Server-made identifiers: opaque, collision-free, time-ordered, prefixed by kind."""

from __future__ import annotations

import random
import time

from service.models import MessageType

# Crockford's base32 alphabet is in ASCII order, so keys sort like the numbers they encode.
CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
# Every pair of digits at once: 13 look-ups for a token instead of 26.
_PAIRS = [a + b for a in CROCKFORD for b in CROCKFORD]

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
    value = (time.time_ns() // 1_000_000) << 80 | _RANDOM.getrandbits(80)
    return encode_128(value)


def encode_128(value: int) -> str:
    """A 128-bit number in 26 Crockford base32 digits, most significant first, as RFC 4648
    base32 of its 16 big-endian bytes spells it (two zero bits pad the last digit)."""
    value <<= 2
    return "".join([_PAIRS[(value >> shift) & 0x3FF] for shift in range(120, -1, -10)])


def new_storage_key(message_type: MessageType) -> str:
    """A fresh storage key such as ``email_01hx...``."""
    return f"{_PREFIX[message_type]}_{_time_ordered_token()}"


def new_thread_id() -> str:
    """A fresh thread id such as ``thread_01hx...``."""
    return f"thread_{_time_ordered_token()}"
