"""The caller's deadline, carried from the RPC to the database waits.

The API layer records how long the caller is still willing to wait; the store bounds its waits
for a pooled connection by it, so that a wait never outlives the call (the caller then hears
UNAVAILABLE, not DEADLINE_EXCEEDED after the whole pool timeout). A context variable, so that it
needs no parameter through every layer, and tasks started for the call inherit it.
"""

from __future__ import annotations

import time
from contextvars import ContextVar

_deadline: ContextVar[float | None] = ContextVar("emailstore_deadline", default=None)


def set_remaining(seconds: float | None) -> None:
    """From now on, in this context, the caller waits `seconds` more (None: no deadline)."""
    _deadline.set(None if seconds is None else time.monotonic() + seconds)


def set_deadline(deadline: float | None) -> None:
    """Sets the deadline as a time.monotonic() value (None: no deadline)."""
    _deadline.set(deadline)


def current() -> float | None:
    """The deadline as a time.monotonic() value, None when the caller set none."""
    return _deadline.get()


def remaining() -> float | None:
    """Seconds left before the caller's deadline (may be negative), None without one."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()
