"""Opaque, tamper-proof page tokens (AIP-158) for keyset pagination.

A token names where the previous page ended and is bound to the tenant and the filters it was
made for; an HMAC stops a client from forging a position or reusing a token with other filters.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from service.errors import FieldViolation, InvalidArgument

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_VERSION = 1


@dataclass(frozen=True)
class PagePosition:
    """The (created_at, storage_key) of the last message of a page."""

    created_at: datetime
    storage_key: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _invalid(description: str) -> InvalidArgument:
    return InvalidArgument(
        f"page_token {description}",
        violations=[FieldViolation("page_token", description)],
    )


class PageTokens:
    """Signs and checks page tokens with one secret key."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("page token secret must be at least 16 bytes")
        self._secret = secret

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()[:16]

    def encode(self, tenant_id: str, scope: str, position: PagePosition) -> str:
        """A token for the page after position; scope identifies the query's filters."""
        micros = (position.created_at - _EPOCH) // timedelta(microseconds=1)
        payload = json.dumps(
            [_VERSION, tenant_id, scope, micros, position.storage_key], separators=(",", ":")
        ).encode()
        return f"{_b64(payload)}.{_b64(self._sign(payload))}"

    def decode(self, token: str, tenant_id: str, scope: str) -> PagePosition:
        """The position a token names; InvalidArgument when forged or made for other filters."""
        try:
            payload_part, signature_part = token.split(".")
            payload = _unb64(payload_part)
            signature = _unb64(signature_part)
        except ValueError:
            raise _invalid("is malformed") from None
        if not hmac.compare_digest(signature, self._sign(payload)):
            raise _invalid("is invalid (not issued by this service or altered)")
        version, token_tenant, token_scope, micros, storage_key = json.loads(payload)
        if version != _VERSION or token_tenant != tenant_id or token_scope != scope:
            raise _invalid("does not match this request's tenant or filters")
        return PagePosition(_EPOCH + timedelta(microseconds=micros), storage_key)
