"""Server-made identifiers (pure)."""

from __future__ import annotations

from service.core.keys import new_storage_key, new_thread_id
from service.core.validation import STORAGE_KEY_RE
from service.models import MessageType


def test_keys_are_prefixed_valid_and_unique() -> None:
    """Keys carry their kind, pass the caller-key rules, and do not collide."""
    keys = {new_storage_key(MessageType.EMAIL) for _ in range(10_000)}
    assert len(keys) == 10_000
    assert all(k.startswith("email_") and STORAGE_KEY_RE.match(k) for k in keys)
    assert new_storage_key(MessageType.BOUNCE).startswith("bounce_")
    assert new_storage_key(MessageType.AUTO_REPLY).startswith("autoreply_")
    assert new_thread_id().startswith("thread_")


def test_keys_sort_by_creation_time() -> None:
    """A later key sorts after an earlier one (millisecond prefix)."""
    import time

    first = new_storage_key(MessageType.EMAIL)
    time.sleep(0.002)
    assert new_storage_key(MessageType.EMAIL) > first
