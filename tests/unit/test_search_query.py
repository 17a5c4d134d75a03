"""The SearchMessages query language (service/core/search.py): every operator, phrases, OR,
negation, and errors naming the token and its position."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.codec.searchtext import Lexeme
from service.core import search
from service.core.search import (
    AddressTerm,
    AttachmentTerm,
    Condition,
    DateTerm,
    EqualTerm,
    SearchQuery,
    SizeTerm,
    TextTerm,
)
from service.errors import InvalidArgument

NOW = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)


def _one(text: str) -> Condition:
    query = search.parse(text, NOW)
    assert len(query.clauses) == 1
    assert len(query.clauses[0]) == 1
    return query.clauses[0][0]


def _word(text: str, weight: search.Weight = "") -> TextTerm:
    return TextTerm(((Lexeme(text, 0),),), weight)


def test_the_example_of_the_issue_parses_term_by_term() -> None:
    """from:, has:attachment, a negated status, a phrase and a word: five clauses."""
    query = search.parse('from:acme.com has:attachment -status:bounced "quick question" invoice')
    assert query == SearchQuery(
        (
            (Condition(AddressTerm("f", "acme.com")),),
            (Condition(AttachmentTerm()),),
            (Condition(EqualTerm("status", "bounced"), negated=True),),
            (Condition(TextTerm(((Lexeme("quick", 0), Lexeme("question", 1)),))),),
            (Condition(_word("invoice")),),
        )
    )


@pytest.mark.parametrize(
    ("text", "term"),
    [
        ("from:ACME.com", AddressTerm("f", "acme.com")),
        ("to:jane", AddressTerm("t", "jane")),
        ('cc:"Bob  Smith"', AddressTerm("c", "bob smith")),
        ("subject:Résumé", _word("resume", "A")),
        ("campaign:camp-1", EqualTerm("campaign_id", "camp-1")),
        ("lead:L-9", EqualTerm("lead_id", "L-9")),
        ("account:acct-3", EqualTerm("email_account_id", "acct-3")),
        ("status:bounced", EqualTerm("status", "bounced")),
        ("type:auto_reply", EqualTerm("message_type", "auto_reply")),
        ("direction:inbound", EqualTerm("direction", "inbound")),
        ("step:2", EqualTerm("sequence_step", 2)),
        ("HAS:Attachment", AttachmentTerm()),
        ("before:2026-11-03", DateTerm(True, datetime(2026, 11, 3, tzinfo=UTC))),
        ("after:2026/11/03", DateTerm(False, datetime(2026, 11, 3, tzinfo=UTC))),
        ("after:7d", DateTerm(False, NOW - timedelta(days=7))),
        ("after:36h", DateTerm(False, NOW - timedelta(hours=36))),
        ("before:2w", DateTerm(True, NOW - timedelta(weeks=2))),
        (
            "after:2026-11-03T09:30:00+01:00",
            DateTerm(False, datetime(2026, 11, 3, 8, 30, tzinfo=UTC)),
        ),
        ("larger:2MB", SizeTerm(True, 2 * 1024 * 1024)),
        ("smaller:500KB", SizeTerm(False, 500 * 1024)),
        ("larger:1GB", SizeTerm(True, 1024**3)),
        ("larger:1.5m", SizeTerm(True, 1536 * 1024)),
        ("smaller:1000", SizeTerm(False, 1000)),
    ],
)
def test_each_operator_becomes_its_term(text: str, term: search.Term) -> None:
    """Operators (names in any case) and the values each takes."""
    assert _one(text) == Condition(term)


def test_filename_matches_split_words_and_the_whole_word() -> None:
    """filename: matches with weight B, as the filename was split and as one word."""
    term = _one("filename:QuarterlyReport").term
    assert term == TextTerm(
        (
            (Lexeme("quarterlyreport", 0),),
            (Lexeme("quarterly", 0), Lexeme("report", 1)),
        ),
        "B",
    )


def test_or_joins_two_terms_into_one_clause_and_negation_applies_to_one() -> None:
    """`a OR -b c`: (a or not b) and c; a lower-case `or` is a word."""
    query = search.parse("alpha OR -status:sent beta or", NOW)
    assert query.clauses == (
        (Condition(_word("alpha")), Condition(EqualTerm("status", "sent"), negated=True)),
        (Condition(_word("beta")),),
        (Condition(_word("or")),),
    )


def test_negated_phrases_and_words_that_fold_to_several_lexemes_are_phrases() -> None:
    """-"a b" is a negated phrase; e-mail is the phrase e mail; a CJK word is its bigrams."""
    assert _one('-"quick question"') == Condition(
        TextTerm(((Lexeme("quick", 0), Lexeme("question", 1)),)), negated=True
    )
    assert _one("e-mail").term == TextTerm(((Lexeme("e", 0), Lexeme("mail", 1)),))
    assert _one("東京都").term == TextTerm(((Lexeme("東京", 0), Lexeme("京都", 1)),))


def test_an_unknown_operator_is_free_text() -> None:
    """http://acme.com is the words http, acme, com (a phrase), not an error."""
    assert _one("http://acme.com").term == TextTerm(
        ((Lexeme("http", 0), Lexeme("acme", 1), Lexeme("com", 2)),)
    )


def _error(text: str) -> str:
    with pytest.raises(InvalidArgument) as info:
        search.parse(text, NOW)
    (violation,) = info.value.violations
    assert violation.field == "query"
    return violation.description


@pytest.mark.parametrize(
    ("text", "token", "position"),
    [
        ('invoice "quick question', '"quick question', 8),
        ("a status:bouncd", "status:bouncd", 2),
        ("type:reply", "type:reply", 0),
        ("direction:sideways", "direction:sideways", 0),
        ("step:two", "step:two", 0),
        ("step:1001", "step:1001", 0),
        ("has:pdf", "has:pdf", 0),
        ("x before:yesterday", "before:yesterday", 2),
        ("after:2026-02-30", "after:2026-02-30", 0),
        ("after:2026-11-03T09:30:00", "after:2026-11-03T09:30:00", 0),
        ("larger:2XB", "larger:2XB", 0),
        ("from:", "from:", 0),
        ("  -from:", "-from:", 2),
        ("OR invoice", "OR", 0),
        ("invoice OR", "OR", 8),
        ("a OR OR b", "OR", 5),
        ("ok !!!", "!!!", 3),
        ("ok -", "-", 3),
    ],
)
def test_a_malformed_query_names_its_token_and_position(
    text: str, token: str, position: int
) -> None:
    """Every parse error is a violation on `query` with the token and its 0-based position."""
    description = _error(text)
    assert repr(token) in description
    assert f"at position {position}" in description


def test_queries_are_bounded_in_length_and_terms() -> None:
    """Over 1000 characters, or a 33rd term (named with its position), is refused; an empty
    query too."""
    assert "at most 1000" in _error("a" * 1001)
    terms = " ".join(f"w{i}" for i in range(33))
    description = _error(terms)
    assert "'w32'" in description
    assert f"at position {terms.index('w32')}" in description
    assert search.parse(" ".join(f"w{i}" for i in range(32)))
    assert _error("   ") == "is required"


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [*"abc XYZ\"-:ORé東京_%\\'()*!&|<>\t", "from:", "status:", " OR ", "before:", "7d"]
        ),
        max_size=40,
    ).map("".join)
    | st.text(max_size=200)
)
def test_arbitrary_text_parses_or_is_invalid_argument(text: str) -> None:
    """Whatever the text, parsing answers a query or an InvalidArgument on `query`."""
    fields = []
    try:
        parsed = search.parse(text, NOW)
    except InvalidArgument as error:
        fields = [v.field for v in error.violations]
    else:
        assert parsed.clauses
    assert fields in ([], ["query"])
