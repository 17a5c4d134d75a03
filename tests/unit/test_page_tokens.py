"""Page tokens: round trip, forgery, reuse under other filters or tenants (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.core.page_tokens import PagePosition, PageTokens
from service.errors import InvalidArgument

TOKENS = PageTokens(b"k" * 32)
TENANT = "0b7f3c2e-4a1d-4c7e-9f3a-2d6e8b1c5a90"


@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    st.text(min_size=1, max_size=200),
)
def test_round_trip_is_exact_to_the_microsecond(created_at: datetime, key: str) -> None:
    """The position a token names is exactly the one it was made from."""
    token = TOKENS.encode(TENANT, "scope", PagePosition(created_at, key))
    assert TOKENS.decode(token, TENANT, "scope") == PagePosition(created_at, key)


def _token() -> str:
    return TOKENS.encode(TENANT, "scope", PagePosition(datetime.now(UTC), "email_1"))


@pytest.mark.parametrize(
    "token",
    ["", "abc", "a.b.c", _token()[:-2] + "AA", "x" + _token()[1:], _token().replace(".", "")],
)
def test_malformed_or_forged_tokens_are_invalid(token: str) -> None:
    """Anything not issued by this key is INVALID_ARGUMENT."""
    with pytest.raises(InvalidArgument):
        TOKENS.decode(token, TENANT, "scope")


def test_token_is_bound_to_tenant_scope_and_key() -> None:
    """A token does not work for another tenant, other filters, or another secret."""
    token = _token()
    with pytest.raises(InvalidArgument):
        TOKENS.decode(token, "7b0c1d1e-0000-4000-8000-000000000002", "scope")
    with pytest.raises(InvalidArgument):
        TOKENS.decode(token, TENANT, "other-filters")
    with pytest.raises(InvalidArgument):
        PageTokens(b"z" * 32).decode(token, TENANT, "scope")
