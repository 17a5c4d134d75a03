"""Search lexemes (service/codec/searchtext.py): folding, words, CJK bigrams, filenames, and
the tsvector literal and address column the service stores."""

# The test data is Greek, Cyrillic and full-width text on purpose.
# ruff: noqa: RUF001

from __future__ import annotations

import re

import pytest

from service.codec import searchtext
from service.codec.searchtext import Lexeme


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Résumé", ["resume"]),
        ("NAÏVE Café", ["naive", "cafe"]),
        ("Straße", ["strasse"]),
        ("Ελληνικά άγιος", ["ελληνικα", "αγιοσ"]),
        ("Привет, мир!", ["привет", "мир"]),
        ("Größenänderung über", ["grossenanderung", "uber"]),
        ("ｆｕｌｌ　ｗｉｄｔｈ", ["full", "width"]),
        ("İstanbul", ["istanbul"]),
        ("e-mail, 2,500 x_y", ["e", "mail", "2", "500", "x", "y"]),
    ],
)
def test_words_are_folded_for_case_accents_and_width(text: str, expected: list[str]) -> None:
    """Case, accents (combining marks after NFKD), Greek tonos, ß and full width fold away;
    German, Greek and Cyrillic words stay words; anything else separates them."""
    assert searchtext.text_lexemes(text) == expected


def test_accented_and_plain_spellings_fold_to_the_same_lexeme() -> None:
    """A query without accents folds to what a document with them does, and back."""
    assert searchtext.text_lexemes("resume") == searchtext.text_lexemes("RÉSUMÉ")
    assert searchtext.text_lexemes("άγιος") == searchtext.text_lexemes("ΑΓΙΟΣ")


def test_cjk_runs_are_overlapping_bigrams_with_the_last_character_alone() -> None:
    """An unspaced Japanese sentence becomes its bigrams, so a word inside it is found; the
    run's last character is indexed alone too, and a lone character is itself."""
    assert searchtext.text_lexemes("東京都庁") == ["東京", "京都", "都庁", "庁"]
    assert searchtext.text_lexemes("猫") == ["猫"]
    assert searchtext.text_lexemes("한국어") == ["한국", "국어", "어"]


def test_kana_voicing_marks_are_kept() -> None:
    """が is not か: the voicing marks are not stripped with the accents."""
    assert searchtext.text_lexemes("がっこう") != searchtext.text_lexemes("かっこう")


def test_a_cjk_query_is_adjacent_bigrams_and_a_lone_character_a_prefix() -> None:
    """The query side makes the same bigrams, at consecutive offsets (a phrase); one
    character matches as a prefix of the bigrams it starts."""
    assert searchtext.query_lexemes("東京都") == [Lexeme("東京", 0), Lexeme("京都", 1)]
    assert searchtext.query_lexemes("京") == [Lexeme("京", 0, prefix=True)]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Angebot_Q4.pdf", ["angebot", "q4", "pdf"]),
        ("QuarterlyReport.xlsx", ["quarterly", "report", "xlsx"]),
        ("PDFReport-final.docx", ["pdf", "report", "final", "docx"]),
        ("résumé (1).PDF", ["resume", "1", "pdf"]),
    ],
)
def test_filenames_split_into_words_and_camel_case(name: str, expected: list[str]) -> None:
    """Separators, case changes and accents split and fold a filename into words."""
    assert searchtext.filename_lexemes(name) == expected


def test_the_document_weights_subject_filenames_and_body() -> None:
    """Subject lexemes carry weight A, filenames B, the body D, with the positions the
    phrases are matched by; a camelCase filename word is also there whole."""
    vector = searchtext.document("Quick question", "see the deck", ["SalesDeck.pdf"])
    assert "'quick':1A" in vector
    assert "'question':2A" in vector
    assert re.search(r"'salesdeck':(\d+)B", vector)
    assert re.search(r"'sales':(\d+)B", vector)
    assert re.search(r"'deck':\d+B,\d+D", vector)  # in the filename and the body


def test_overlong_lexemes_are_dropped_and_input_is_bounded() -> None:
    """A 101-character token is not a word; text past MAX_INPUT_CHARS is not indexed, and
    positions stay within PostgreSQL's limit."""
    assert searchtext.text_lexemes("a" * 101 + " ok") == ["ok"]
    vector = searchtext.document("", "filler " * (searchtext.MAX_INPUT_CHARS // 7) + "tailword")
    assert "tailword" not in vector
    positions = [int(p) for p in re.findall(r"(\d+)[ABD]", vector)]
    assert max(positions) <= searchtext.MAX_POSITION
    assert vector.count(",") < searchtext.MAX_POSITIONS_PER_LEXEME


def test_html_only_mail_is_searched_by_its_text() -> None:
    """Tags, styles and scripts are not words; entities are decoded."""
    body = searchtext.body_text(
        "", "<style>.x{color:red}</style><p>Tom&nbsp;&amp;&nbsp;Jerry</p><script>go()</script>"
    )
    assert searchtext.text_lexemes(body) == ["tom", "jerry"]
    assert searchtext.body_text("plain", "<p>html</p>") == "plain"


def test_addresses_are_lines_of_kind_and_lower_cased_value() -> None:
    """From, to and cc addresses and names, one per line, lower-cased."""
    column = searchtext.addresses(
        [["Sam@Acme.io", "Sam  Seller"]], [["jane@x.org", ""]], [["bob@y.com", "Bob"]]
    )
    assert column == "\nf:sam@acme.io\nf:sam seller\nt:jane@x.org\nc:bob@y.com\nc:bob\n"


def test_address_patterns_escape_every_ascii_punctuation_character() -> None:
    """Regex metacharacters, % and _ are matched literally (checked with Python's re, whose
    escapes of punctuation mean the same)."""
    pattern = searchtext.address_pattern("t", "a.b+c%_(x)")
    assert pattern == "\\nt:[^\\n]*a\\.b\\+c\\%\\_\\(x\\)"
    column = searchtext.addresses([], [["a.b+c%_(x)@z.org", ""], ["axb+c%_(x)", ""]], [])
    assert len(re.findall(pattern.replace("\\n", "\n", 1), column)) == 1
