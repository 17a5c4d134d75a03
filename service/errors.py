"""Domain errors shared by every layer.

They carry no transport types: `service.api.status` maps each class to one gRPC status code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class FieldViolation:
    """One invalid field of a request, named by its proto path (e.g. ``to[2].email``)."""

    field: str
    description: str


class EmailStoreError(Exception):
    """Base class of every error a caller may see."""

    def __init__(self, message: str, *, violations: Sequence[FieldViolation] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.violations = tuple(violations)


class InvalidArgument(EmailStoreError):
    """The request is malformed: a field is missing, too long or does not parse."""

    @classmethod
    def field(cls, field: str, description: str) -> InvalidArgument:
        """The error of one field: "<field> <description>", with its violation."""
        return cls(f"{field} {description}", violations=[FieldViolation(field, description)])


class NotFound(EmailStoreError):
    """The key does not exist for this tenant (or belongs to another one)."""


class AlreadyExists(EmailStoreError):
    """A caller-chosen key is already used with different content."""


class FailedPrecondition(EmailStoreError):
    """The request is valid but the system is not in a state that allows it."""


class OutOfRange(EmailStoreError):
    """An offset or range lies outside the data."""


class ResourceExhausted(EmailStoreError):
    """A configured limit was exceeded."""


class Unavailable(EmailStoreError):
    """The database cannot be reached right now; retrying is safe."""


class TransientConflict(Unavailable):
    """A transaction lost a deadlock or serialization race; retrying it will succeed."""


class DataLoss(EmailStoreError):
    """Stored data cannot be read back (damaged, or a dictionary it needs is gone)."""


class Internal(EmailStoreError):
    """An invariant broke; the details are in the log, not in the response."""


class Unimplemented(EmailStoreError):
    """The RPC is part of the contract but not built yet."""
