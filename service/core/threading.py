"""Which conversation a new message joins (pure).

A message that answers one the tenant has (by In-Reply-To, References, or, for a bounce, the
Message-ID of the message it reports on) joins that message's thread and names it as its
parent; any other message starts a thread of its own.
"""

from __future__ import annotations

from collections.abc import Sequence

from service.core.ports import ThreadCandidate
from service.models import Envelope, Thread


def references(envelope: Envelope, hint: str = "") -> tuple[str, ...]:
    """The Message-IDs a message may answer: In-Reply-To, then References, then the hint."""
    found = dict.fromkeys(r for r in (envelope.in_reply_to, *envelope.references, hint) if r)
    return tuple(found)


def parent(
    refs: Sequence[str], in_reply_to: str, candidates: Sequence[ThreadCandidate]
) -> ThreadCandidate | None:
    """The stored message a new one answers: the one named by In-Reply-To when the tenant has
    it, else the newest stored message among the references; None when none is stored."""
    wanted = set(refs)
    found = [c for c in candidates if c.message_id_header in wanted]
    if not found:
        return None
    return max(found, key=lambda c: (c.message_id_header == in_reply_to, c.created_at))


def choose(
    refs: Sequence[str], in_reply_to: str, candidates: Sequence[ThreadCandidate]
) -> Thread | None:
    """The thread to join: the parent's (see `parent`), None when the tenant has no parent."""
    best = parent(refs, in_reply_to, candidates)
    return Thread(best.thread_id, best.storage_key) if best else None
