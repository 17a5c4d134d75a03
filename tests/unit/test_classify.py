"""Recognising bounces and automatic replies among raw messages (pure)."""

from __future__ import annotations

import pytest

from service.codec.ingest import parse_raw
from tests.mime_corpus import OUT_OF_OFFICE, bounce_for, corpus


def _message(headers: str, body: str = "hello") -> bytes:
    return (headers.replace("\n", "\r\n") + "\r\n" + body + "\r\n").encode()


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (bounce_for("<x@acme.io>"), "bounce"),
        (OUT_OF_OFFICE, "auto_reply"),
        (corpus()["plain crlf"], "email"),
        (
            _message(
                "From: postmaster@mx.example.org\nSubject: Delivery Status Notification (Failure)\n"
            ),
            "bounce",
        ),
        (_message("From: a@b.co\nSubject: hi\nPrecedence: auto_reply\n"), "auto_reply"),
        (_message("From: a@b.co\nSubject: hi\nX-Autoreply: yes\n"), "auto_reply"),
        (_message("From: a@b.co\nSubject: Out of Office: back Monday\n"), "auto_reply"),
        (_message("From: a@b.co\nSubject: hi\nAuto-Submitted: no\n"), "email"),
        (_message("From: postmaster@x.org\nSubject: question about your offer\n"), "email"),
    ],
)
def test_kind(raw: bytes, kind: str) -> None:
    """DSNs and MAILER-DAEMON failures are bounces; RFC 3834 and vendor marks are auto-replies."""
    assert parse_raw(raw).kind == kind


def test_bounce_names_the_message_it_reports_on() -> None:
    """The Message-ID inside the DSN's returned headers is found, to thread the bounce."""
    assert parse_raw(bounce_for("<email_7@acme.io>")).original_message_id == "<email_7@acme.io>"


@pytest.mark.parametrize(
    ("date", "expected", "warned"),
    [
        ("Mon, 1 Jan 2024 09:30:00 +0530", "2024-01-01T04:00:00+00:00", False),
        ("Mon, 1 Jan 2024 00:00:00 -1200", "2024-01-01T12:00:00+00:00", False),
        ("Mon, 1 Jan 2024 00:00:00 +2100", None, True),
        ("Fri, 31 Dec 9999 23:59:59 -1000", None, True),
        ("Mon, 1 Jan 2024 00:00:00 -0000", None, True),  # RFC 5322: no zone information
        ("soon", None, True),
    ],
)
def test_date_is_utc_or_unset_with_a_warning(date: str, expected: str | None, warned: bool) -> None:
    """A Date is kept in UTC when it is a real time; otherwise sent_at stays unset, said why."""
    parsed = parse_raw(_message(f"From: a@b.co\nDate: {date}\n"))
    assert (parsed.date.isoformat() if parsed.date else None) == expected
    assert any("sent_at left unset" in w for w in parsed.warnings) == warned


@pytest.mark.parametrize(
    "header",
    [
        "Subject: a\x00b",  # a NUL in the raw bytes
        "Subject: =?utf-8?b?YQBi?=",  # an encoded word decoding to a NUL
        "Subject: =?utf-7?Q?+2DQ-?=",  # an encoded word decoding to a lone surrogate
    ],
)
def test_every_parsed_text_can_be_stored(header: str) -> None:
    """No text the parser hands on holds a NUL or a surrogate; the header is flagged."""
    parsed = parse_raw(_message(f"From: a@b.co\n{header}\n"))
    texts = [
        parsed.envelope.subject,
        *(h.name for h in parsed.headers),
        *(h.value for h in parsed.headers),
    ]
    for text in texts:
        assert "\x00" not in text
        assert not any("\ud800" <= ch <= "\udfff" for ch in text)
    subject = next(h for h in parsed.headers if h.name == "Subject")
    assert subject.kept_raw == ("=?" in header or "\x00" in header)
    assert parsed.status == "parsed"
