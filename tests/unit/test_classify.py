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
