"""Recognising inbound mail: bounces, automatic replies and people's mail (pure)."""

from __future__ import annotations

import re
import time
import traceback

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.codec import inbound, ingest
from service.codec.inbound import InboundMail, bounce_class, bounce_reason, recognise
from service.codec.ingest import parse_raw
from service.codec.mime import MimeLimits
from tests.inbound_samples import SAMPLES, Sample, outbound_message_id, samples

KINDS = {"email", "bounce", "auto_reply"}
REASONS = {"unknown_recipient", "mailbox_full", "policy", "dns", "other"}
ORIGINAL = outbound_message_id("unit test original")


def _message(headers: str, body: str = "hello\n") -> bytes:
    return (headers + "\n" + body).replace("\n", "\r\n").encode()


def _dsn(recipients: str, notice: str = "Delivery failed.\n", *, report: str = "") -> bytes:
    """A delivery status notification with these per-recipient fields."""
    return _message(
        "From: MAILER-DAEMON@mx.example.net\nTo: sam@tryvectorpath.com\n"
        "Subject: Undelivered Mail Returned to Sender\nMIME-Version: 1.0\n"
        f'Content-Type: multipart/report; report-type={report or "delivery-status"}; boundary="b"\n',
        f"--b\nContent-Type: text/plain\n\n{notice}\n--b\n"
        "Content-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n"
        f"{recipients}\n--b\nContent-Type: text/rfc822-headers\n\n"
        f"From: sam@tryvectorpath.com\nTo: jane@example.com\nMessage-ID: {ORIGINAL}\n\n--b--\n",
    )


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.name for s in SAMPLES])
def test_sample_is_recognised(sample: Sample) -> None:
    """Each real-world-shaped sample, through the real ingest parser, is recognised as what it
    is: its kind, the original's Message-ID and, for a bounce, what the bounce says."""
    parsed = parse_raw(sample.raw)
    assert parsed.status == "parsed"
    assert (parsed.kind, parsed.original_message_id) == (sample.kind, sample.original_message_id)
    if sample.kind != "bounce":
        assert parsed.bounce is None
        return
    assert parsed.bounce is not None
    got = parsed.bounce
    assert (got.bounce_class, got.status_code, got.reason, got.failed_recipient, got.delayed) == (
        sample.bounce_class,
        sample.status_code,
        sample.reason,
        sample.failed_recipient,
        sample.delayed,
    )
    if sample.diagnostic:
        assert sample.diagnostic in got.diagnostic
    else:
        assert got.diagnostic == ""


def test_the_samples_cover_what_the_rules_tell_apart() -> None:
    """The fixture set is the same on every run and holds every kind, class and reason, final
    failures and delays, and both the original's Message-ID found and not."""
    assert [s.raw for s in samples()] == [s.raw for s in SAMPLES]
    bounces = [s for s in SAMPLES if s.kind == "bounce"]
    assert {s.kind for s in SAMPLES} == KINDS
    assert {s.bounce_class for s in bounces} == {"hard", "soft"}
    assert {s.reason for s in bounces} == REASONS
    assert {s.delayed for s in bounces} == {True, False}
    assert {bool(s.status_code) for s in bounces} == {True, False}
    assert {bool(s.original_message_id) for s in SAMPLES} == {True, False}


@pytest.mark.parametrize(
    ("code", "diagnostic", "notice", "expected"),
    [
        ("5.1.1", "", "", ("hard", "unknown_recipient")),
        ("5.1.0", "", "", ("hard", "unknown_recipient")),
        ("5.1.10", "", "", ("hard", "unknown_recipient")),
        ("4.1.1", "", "", ("soft", "unknown_recipient")),
        ("5.2.2", "", "", ("hard", "mailbox_full")),  # mailbox full, but the code says hard
        ("4.2.2", "", "", ("soft", "mailbox_full")),
        ("5.7.1", "", "", ("hard", "policy")),
        ("5.7.606", "", "", ("hard", "policy")),
        ("4.7.0", "", "", ("soft", "policy")),
        ("5.4.4", "", "", ("hard", "dns")),
        ("5.1.2", "", "", ("hard", "dns")),
        ("4.4.3", "", "", ("soft", "dns")),
        ("4.4.7", "", "", ("soft", "other")),
        ("5.5.0", "", "", ("hard", "other")),
        # A generic code gives way to the code and the words of the diagnostic.
        (
            "5.0.0",
            "550 5.1.1 <jane@example.com>... User unknown",
            "",
            ("hard", "unknown_recipient"),
        ),
        (
            "5.0.0",
            "550 Requested action not taken: mailbox unavailable",
            "",
            ("hard", "unknown_recipient"),
        ),
        # No enhanced code: the diagnostic's words, then its reply code, then the notice.
        ("", "552 sorry, mailbox full", "", ("soft", "mailbox_full")),
        ("", "mailbox is full", "", ("soft", "mailbox_full")),
        ("", "421 Try again later", "", ("soft", "other")),
        ("", "Service temporarily unavailable", "", ("soft", "other")),
        (
            "",
            "554 delivery error: This user doesn't have a yahoo.com account",
            "",
            ("hard", "unknown_recipient"),
        ),
        ("", "No such user here", "", ("hard", "unknown_recipient")),
        ("", "The account does not exist", "", ("hard", "unknown_recipient")),
        ("", "Host or domain name not found", "", ("hard", "dns")),
        ("", "NXDOMAIN", "", ("hard", "dns")),
        ("", "550 Administrative prohibition - envelope blocked", "", ("hard", "policy")),
        ("", "451 Greylisted, please come back later", "", ("soft", "other")),
        ("", "Message rejected: listed at zen.spamhaus.org", "", ("hard", "policy")),
        ("", "", "The recipient's mailbox is over quota.", ("soft", "mailbox_full")),
        ("", "", "This is a permanent error; I've given up.", ("hard", "other")),
        ("", "", "", ("hard", "other")),  # a failure nothing explains
    ],
)
def test_class_and_reason(
    code: str, diagnostic: str, notice: str, expected: tuple[str, str]
) -> None:
    """A bounce is hard for 5.x.x and soft for 4.x.x; without a code its words and then its
    SMTP reply code decide; the reason is by the code's subject and detail, else by words."""
    assert (bounce_class(code, diagnostic, notice), bounce_reason(code, diagnostic, notice)) == (
        expected
    )


@pytest.mark.parametrize("code", ["5.1.1", "5.2.2", "4.4.7", ""])
def test_a_delay_notice_is_soft_whatever_its_code(code: str) -> None:
    """A delay notice reports a message still being retried: never a hard bounce."""
    assert bounce_class(code, "550 User unknown", delayed=True) == "soft"


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        pytest.param(
            _message(
                "From: Jonas <jonas@example.de>\nSubject: Re: Undeliverable: Quick question\n"
                f"In-Reply-To: {ORIGINAL}\n",
                "Yes, my old address is gone.\n> Delivery has failed to these recipients\n"
                "> Remote Server returned '550 5.1.1 User unknown'\n",
            ),
            "email",
            id="a person's reply quoting a bounce",
        ),
        pytest.param(
            _message(
                "From: Jonas <jonas@example.de>\n"
                "Subject: Fwd: Undelivered Mail Returned to Sender\n",
                "See below.\n\nI'm sorry to have to inform you that your message could not be"
                " delivered.\n<jane@example.com>: 550 5.1.1 User unknown\n",
            ),
            "email",
            id="a person forwarding a bounce inline",
        ),
        pytest.param(
            _message("From: Jane <jane@example.com>\nSubject: Undeliverable: the parcel\n"),
            "email",
            id="a bounce subject from a person, with nothing of a bounce in the text",
        ),
        pytest.param(
            _message("From: MAILER-DAEMON@mx.example.net\nSubject: Your invoice\n"),
            "email",
            id="from a mail system, saying nothing of a failed delivery",
        ),
        pytest.param(
            _message(
                "From: MAILER-DAEMON@mx.example.net\nMIME-Version: 1.0\n"
                'Content-Type: multipart/mixed; boundary="b"\n',
                "--b\nContent-Type: text/plain\n\nSee the attachment.\n--b\n"
                f"Content-Type: message/rfc822\n\nMessage-ID: {ORIGINAL}\n\nHi\n--b--\n",
            ),
            "bounce",
            id="from a mail system, returning the original",
        ),
        pytest.param(
            _message(
                "From: Jane <jane@example.com>\nReturn-Path: <>\n"
                "Subject: Automatic reply: Quick question\n"
            ),
            "auto_reply",
            id="an empty return path on an auto-reply (RFC 3834 asks for one)",
        ),
        pytest.param(
            _message(
                "From: Jane <jane@example.com>\nSubject: Re: Quick question\n"
                f"In-Reply-To: {ORIGINAL}\nX-Auto-Response-Suppress: All\n"
            ),
            "email",
            id="X-Auto-Response-Suppress alone",
        ),
        pytest.param(
            _message(
                "From: Jane <jane@example.com>\nSubject: Re: Quick question\n"
                f"In-Reply-To: {ORIGINAL}\nX-MS-Exchange-Inbox-Rules-Loop: jane@example.com\n"
            ),
            "email",
            id="X-MS-Exchange-Inbox-Rules-Loop alone (a rule-forwarded reply)",
        ),
        pytest.param(
            _message(
                "From: Jane <jane@example.com>\nSubject: Re: hi\nAuto-Submitted: auto-replied"
                " (vacation)\n"
            ),
            "auto_reply",
            id="Auto-Submitted with a comment",
        ),
        pytest.param(
            _message("From: Jane <jane@example.com>\nSubject: hi\nX-Autoreply: no\n"),
            "email",
            id="X-Autoreply: no",
        ),
        pytest.param(
            _message(
                "From: support@example.com\nSubject: We got your message\nPrecedence: bulk\n"
                f"References: {ORIGINAL}\n"
            ),
            "auto_reply",
            id="Precedence bulk on an answer",
        ),
        pytest.param(
            _message(
                "From: Jane <jane@example.com>\nSubject: Re: [sales-list] pricing\n"
                f"Precedence: list\nList-Id: <sales.lists.example.com>\nIn-Reply-To: {ORIGINAL}\n"
            ),
            "email",
            id="Precedence list on a mailing-list post that answers one",
        ),
        pytest.param(
            _message("From: news@example.com\nSubject: March news\nPrecedence: bulk\n"),
            "email",
            id="Precedence bulk on a newsletter",
        ),
        pytest.param(
            _message(
                "From: news@example.com\nSubject: March news\nPrecedence: bulk\n",
                "Thanks for writing.\n\nOn Mon, 3 Mar 2025, Sam <sam@tryvectorpath.com> wrote:\n"
                "> Hi\n",
            ),
            "auto_reply",
            id="Precedence bulk on mail quoting what it answers",
        ),
        pytest.param(
            _message(
                f"From: Jane <jane@example.com>\nSubject: Auto: hi\nIn-Reply-To: {ORIGINAL}\n"
            ),
            "auto_reply",
            id="Auto: on an answer",
        ),
        pytest.param(
            _message("From: Jane <jane@example.com>\nSubject: Auto: our new car\n"),
            "email",
            id="Auto: on mail that answers nothing",
        ),
        pytest.param(
            _message("From: Jane <jane@example.com>\nSubject: [EXTERNAL] Automatic reply: hi\n"),
            "auto_reply",
            id="a gateway's tag before the subject",
        ),
        pytest.param(
            _message("From: Jane <jane@example.com>\nSubject: RE: Automatic reply: hi\n"),
            "email",
            id="a person answering an automatic reply",
        ),
        pytest.param(
            _message("From: Jane <jane@example.com>\nSubject: Out of office next week, call?\n"),
            "email",
            id="a subject that starts like an out-of-office",
        ),
        pytest.param(
            _message(
                f"From: Jane <jane@example.com>\nSubject: Re: Quick question\nIn-Reply-To: {ORIGINAL}\n",
                "I'm back from vacation, and I was out of the office all week. Let's talk.\n",
            ),
            "email",
            id="back from vacation",
        ),
    ],
)
def test_rules_and_near_misses(raw: bytes, kind: str) -> None:
    """Bounces need more than one sign of a failed delivery from a mail system; automatic
    replies need a sound mark; what only looks like either is a person's email."""
    parsed = parse_raw(raw)
    assert parsed.kind == kind
    assert (parsed.bounce is not None) == (kind == "bounce")


def test_a_report_of_deliveries_is_no_bounce() -> None:
    """A DSN whose every recipient was delivered or relayed is a delivery receipt: automatic,
    and no bounce, so it cannot mark the message bounced."""
    parsed = parse_raw(
        _dsn(
            "Final-Recipient: rfc822; jane@example.com\nAction: delivered\nStatus: 2.0.0\n\n"
            "Final-Recipient: rfc822; jim@example.com\nAction: relayed\nStatus: 2.0.0\n"
        )
    )
    assert (parsed.kind, parsed.bounce, parsed.original_message_id) == (
        "auto_reply",
        None,
        ORIGINAL,
    )


def test_the_failed_recipient_of_several_is_reported() -> None:
    """Of a DSN's recipients, the one that failed is reported, with its own code and words,
    under the address it was sent to (Original-Recipient) rather than the one it went on to."""
    parsed = parse_raw(
        _dsn(
            "Final-Recipient: rfc822; sales@example.com\nAction: delivered\nStatus: 2.0.0\n\n"
            "Final-Recipient: rfc822; jane.doe@mailhost.example.com\n"
            "Original-Recipient: rfc822;jane@example.com\nAction: failed\nStatus: 5.2.2\n"
            "Diagnostic-Code: smtp; 552 5.2.2 Mailbox full\n"
        )
    )
    assert parsed.bounce is not None
    assert (parsed.kind, parsed.original_message_id) == ("bounce", ORIGINAL)
    assert parsed.bounce.failed_recipient == "jane@example.com"
    assert (parsed.bounce.status_code, parsed.bounce.reason, parsed.bounce.diagnostic) == (
        "5.2.2",
        "mailbox_full",
        "552 5.2.2 Mailbox full",
    )


def test_without_a_diagnostic_code_the_notice_gives_the_reply() -> None:
    """A DSN without Diagnostic-Code: the SMTP reply its notice quotes is the diagnostic."""
    parsed = parse_raw(
        _dsn(
            "Final-Recipient: rfc822; jane@example.com\nAction: failed\nStatus: 5.1.1\n",
            "<jane@example.com>: host mx.example.com said: 550 5.1.1 No such user\n"
            "    (in reply to RCPT TO command)\n",
        )
    )
    assert parsed.bounce is not None
    assert parsed.bounce.diagnostic == "550 5.1.1 No such user (in reply to RCPT TO command)"


def test_the_diagnostic_is_one_storable_line_of_at_most_1000_characters() -> None:
    """However long, folded or odd the remote server's words, the diagnostic is one line
    that PostgreSQL can hold."""
    words = "\n ".join(["550 5.7.1 blocked\x00 by policy"] * 200)
    parsed = parse_raw(
        _dsn(
            f"Final-Recipient: rfc822; jane@example.com\nAction: failed\nDiagnostic-Code: smtp; {words}\n"
        )
    )
    assert parsed.bounce is not None
    diagnostic = parsed.bounce.diagnostic
    assert len(diagnostic) <= 1000
    assert diagnostic.startswith("550 5.7.1 blocked\ufffd by policy")
    assert not set(diagnostic) & {"\n", "\r", "\x00"}
    assert parsed.bounce.status_code == "5.7.1"


def test_a_message_global_dsn_is_a_bounce() -> None:
    """RFC 6533 internationalised DSNs (message/global-delivery-status) are bounces too."""
    raw = _dsn("Final-Recipient: utf-8; jörg@beispiel.example\nAction: failed\nStatus: 5.1.1\n")
    raw = raw.replace(b"message/delivery-status", b"message/global-delivery-status")
    parsed = parse_raw(raw)
    assert parsed.bounce is not None
    assert (parsed.kind, parsed.bounce.failed_recipient) == ("bounce", "jörg@beispiel.example")


def test_threaded_mail_names_no_quoted_original() -> None:
    """With In-Reply-To or References the threading fields say what mail answers; a Message-ID
    in its quote is not reported besides them."""
    raw = _message(
        f"From: Jane <jane@example.com>\nSubject: Re: hi\nIn-Reply-To: {ORIGINAL}\n",
        f"Sure.\n\n> Message-ID: {outbound_message_id('another')}\n",
    )
    assert parse_raw(raw).original_message_id == ""


@pytest.mark.parametrize(
    "body",
    [
        "a" * 200_000,
        "a." * 100_000,
        "<\r\n" * 60_000,
        "delivered to " * 15_000,
        "550 x\r\n" + "    y\r\n" * 30_000,
        "Final-Recipient: x\r\n" * 10_000,
        ("x" * 299 + " wrote\r\n") * 500,
    ],
    ids=["letters", "dots", "brackets", "phrases", "continuations", "fields", "attributions"],
)
def test_hostile_text_cannot_stall_the_rules(body: str) -> None:
    """A daemon's notice built to make the rules backtrack is recognised in well under a second
    (the reading is bounded and every pattern linear)."""
    raw = _message("From: MAILER-DAEMON@mx.example.net\nSubject: Undeliverable: x\n", body)
    started = time.perf_counter()
    parsed = parse_raw(raw)
    assert time.perf_counter() - started < 1.0
    assert parsed.kind == "bounce"


_FRAGMENTS = [
    b"\r\n",
    b"\r\n\r\n",
    b"--",
    b"\x00",
    b"\xff\xfe",
    b"Action: delayed\r\n",
    b"Status: 4.2.2\r\n",
    b"Final-Recipient: rfc822; x@y.example\r\n",
    b"Message-ID: <a@b>\r\n",
    b"Subject: Re: Automatic reply:",
    b"Content-Type: message/delivery-status\r\n",
    b"=?utf-8?b?w6k=?=",
]


def _check(kind: str, original: str, bounce: object) -> None:
    assert kind in KINDS
    assert (bounce is not None) == (kind == "bounce")
    assert original == "" or re.fullmatch(r"<[^<>\s]+>", original)


@settings(max_examples=80, deadline=None)
@given(
    st.sampled_from(SAMPLES),
    st.lists(
        st.tuples(
            st.floats(min_value=0, max_value=1),
            st.integers(min_value=0, max_value=80),
            st.one_of(st.binary(max_size=24), st.sampled_from(_FRAGMENTS)),
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_mutated_samples_are_always_recognised(
    sample: Sample, edits: list[tuple[float, int, bytes]]
) -> None:
    """Whatever a sample is cut, spliced or garbled into, recognising it never fails: the
    message is parsed as one of the three kinds, with a well-formed bounce report or none."""
    edited = bytearray(sample.raw)
    for where, cut, insert in edits:
        at = int(where * len(edited))
        edited[at : at + cut] = insert
    raw = bytes(edited)
    try:
        ingest._parse(raw, MimeLimits())
    except Exception as exc:  # parse_raw keeps such a message raw: the rules must not be why
        failed_in = {frame.filename for frame in traceback.extract_tb(exc.__traceback__)}
        assert inbound.__file__ not in failed_in
    parsed = parse_raw(raw)
    _check(parsed.kind, parsed.original_message_id, parsed.bounce)
    if parsed.bounce is not None:
        bounce = parsed.bounce
        assert bounce.bounce_class in ("hard", "soft")
        assert bounce.reason in REASONS
        assert bounce.status_code == "" or re.fullmatch(
            r"[245]\.\d{1,3}\.\d{1,3}", bounce.status_code
        )
        assert len(bounce.diagnostic) <= 1000
        assert "\n" not in bounce.diagnostic
        assert "\x00" not in bounce.diagnostic + bounce.failed_recipient


class _Fields:
    def __init__(self, fields: dict[str, str]) -> None:
        self.fields = {name.lower(): value for name, value in fields.items()}

    def first(self, name: str) -> str:
        return self.fields.get(name.lower(), "")


_FIELD_NAMES = st.sampled_from(
    [
        "Auto-Submitted",
        "Precedence",
        "X-Autoreply",
        "In-Reply-To",
        "Return-Path",
        "X-Failed-Recipients",
        "List-Id",
    ]
)


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(_FIELD_NAMES, st.text(max_size=30), max_size=4),
    st.sampled_from(["MAILER-DAEMON@x.example", "jane@example.com", ""]),
    st.text(max_size=60),
    st.text(max_size=400),
    st.text(max_size=200),
)
def test_recognise_takes_any_text(
    fields: dict[str, str], sender: str, subject: str, text: str, html: str
) -> None:
    """The rules read any header values, subject and bodies without failing."""
    found = recognise(
        InboundMail(
            headers=_Fields(fields),
            content_type="text/plain",
            report_type="",
            sender=sender,
            sender_name="",
            subject=subject,
            text=text,
            html=html,
        )
    )
    _check(found.kind, found.original_message_id, found.bounce)
