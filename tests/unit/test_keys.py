"""Server-made identifiers (pure)."""

from __future__ import annotations

import base64

from hypothesis import given
from hypothesis import strategies as st

from service.core import keys
from service.core.keys import new_storage_key, new_thread_id
from service.core.validation import STORAGE_KEY_RE
from service.models import MessageType


def test_keys_are_prefixed_valid_and_unique() -> None:
    """Keys carry their kind, pass the caller-key rules, and do not collide."""
    made = {new_storage_key(MessageType.EMAIL) for _ in range(10_000)}
    assert len(made) == 10_000
    assert all(k.startswith("email_") and STORAGE_KEY_RE.match(k) for k in made)
    assert new_storage_key(MessageType.BOUNCE).startswith("bounce_")
    assert new_storage_key(MessageType.AUTO_REPLY).startswith("autoreply_")
    assert new_thread_id().startswith("thread_")


def test_keys_sort_by_creation_time() -> None:
    """A later key sorts after an earlier one (millisecond prefix)."""
    import time

    first = new_storage_key(MessageType.EMAIL)
    time.sleep(0.002)
    assert new_storage_key(MessageType.EMAIL) > first


@given(st.integers(min_value=0, max_value=2**128 - 1))
def test_token_spelling_is_rfc4648_base32_in_crockfords_alphabet(value: int) -> None:
    """Keys made by this release are spelled exactly as before (base32 of the 16 bytes, in
    Crockford's digits), so old and new keys sort together by time."""
    spelled = base64.b32encode(value.to_bytes(16, "big")).decode().rstrip("=")
    expected = spelled.translate(
        str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789abcdefghjkmnpqrstvwxyz")
    )
    assert keys.encode_128(value) == expected
