"""Recognising inbound mail: bounces, automatic replies and the rest (pure).

`recognise(mail)` says what an inbound message is, from what the ingest parser has already
found: the top-level header fields, the decoded text and HTML bodies, and every other MIME leaf
decoded. The rules below are tried in order and the first that matches decides:

Reports that are no failure (kind "auto_reply"):
  machine_report          a multipart/report that reports no failed or delayed delivery: a DSN
                          of successful deliveries ("Delivered:"), a read receipt, a feedback
                          report. Automatic, but not a bounce.
Bounces (kind "bounce", with a `BounceReport`):
  delivery_status_report  an RFC 3464 DSN: multipart/report; report-type=delivery-status, or a
                          message/delivery-status part.
  exim_failed_recipients  an X-Failed-Recipients field: Exim puts it on its bounces only.
  mailer_daemon_notice    from MAILER-DAEMON, postmaster, a "Mail Delivery System"..., with a
                          bounce subject, bounce wording in the text or the original returned.
  null_sender_notice      an empty return path (Return-Path: <>) and a bounce subject.
  bounce_subject_and_text a bounce subject and bounce wording in the text, whoever sent it.
Automatic replies (kind "auto_reply"):
  auto_submitted          RFC 3834: Auto-Submitted with any value but "no".
  autoresponder_field     X-Autoreply, X-Autorespond, ... (vendor marks), unless "no".
  precedence_auto_reply   Precedence: auto_reply.
  bulk_answer             Precedence bulk, junk or list on mail that answers one (it has
                          In-Reply-To or References, or quotes an original) and is no list post.
  auto_reply_subject      an out-of-office or automatic-reply subject in a common language.
Everything else is kind "email".

A bounce subject only counts when the subject is no reply or forward: "Re: Undeliverable: ..."
is a person writing about a bounce. Two vendor marks are deliberately *not* auto-reply marks on
their own: X-Auto-Response-Suppress asks others not to answer this message (bulk senders,
calendar mail and some mail clients set it on mail people write), and
X-MS-Exchange-Inbox-Rules-Loop says an inbox rule handled the message, which is also how a
rule-forwarded human reply arrives. Taking a person's reply for an automatic one would hide it;
the opposite mistake only shows an automatic reply to a person, so doubtful marks are left out.

What a bounce says (`BounceReport`) comes from the DSN's fields for the recipient that failed
(Original-Recipient, else Final-Recipient; Action; Status; Diagnostic-Code), else from the
notice: the text (or the HTML as text) up to where the returned original is quoted. Its class
is by the RFC 3463 code (5.x.x hard, 4.x.x soft, so 5.2.2 mailbox full is hard); without one by
the diagnostic's wording, the SMTP reply code it starts with, then the notice's wording; a
failure nothing explains is hard, a delay notice always soft (`bounce_class`). Its reason is by
the code (`REASON_BY_STATUS`, every X.7.x "policy"), else by wording (`bounce_reason`).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple, Protocol

# ---------------------------------------------------------------- tables of words


def _words(table: str) -> tuple[str, ...]:
    """The phrases of a table: separated by "|" or line ends."""
    return tuple(p.strip() for line in table.splitlines() for p in line.split("|") if p.strip())


# Who sends bounces: the sender's local part, or its display name. Microsoft 365 also sends
# them from MicrosoftExchange<32 hex digits>@<domain>.
BOUNCE_SENDER_LOCAL_PARTS = frozenset(
    _words("mailer-daemon | mailer_daemon | mailerdaemon | mail-daemon | maildaemon | postmaster")
)
BOUNCE_SENDER_NAMES = frozenset(
    _words("mail delivery system | mail delivery subsystem | mail delivery service | mailer-daemon")
)

# Subjects of failure and delay notices, searched anywhere in a subject that is no reply.
BOUNCE_SUBJECTS = _words("""
    undelivered mail returned to sender | undelivered mail | undeliverable
    delivery status notification (failure) | delivery status notification (delay)
    mail delivery failed | mail delivery failure | message delivery failure | delivery failure
    delivery failed | delivery has failed | failure notice | returned mail
    returning message to sender | non-delivery | nondelivery | non delivery
    delayed mail | delivery delayed | message delayed | could not send message
    address not found | message not delivered
    unzustellbar | non remis | no se puede entregar | non recapitabile | onbestelbaar
""")  # Postfix, Exchange, Gmail, Exim, qmail, Yahoo, Sendmail; Exchange's own translations
# Subjects that say the message is delayed, not given up on (and Exim's "Warning: message
# 1tq2Zx-0003Ab-7Q delayed 24 hours", a pattern below).
DELAY_SUBJECTS = _words("""
    delivery status notification (delay) | delayed mail | still being retried
    delivery delayed | message delayed | could not send message for past
""")

# What a failure or delay notice says in its text.
BOUNCE_WORDING = _words("""
    could not be delivered | couldn't be delivered | could not deliver | couldn't deliver
    wasn't delivered | was not delivered | has not been delivered | has not yet been delivered
    not delivered yet | delivery has failed | delivery failed | delivery to the following
    failed permanently | permanent error | permanent failure | permanent fatal error
    unable to deliver | wasn't able to deliver | was unable to deliver | undeliverable
    undelivered | returned to sender | qmail-send program | mail delivery software
    delivery status notification | delivery incomplete | temporary problem delivering
    message blocked | has been blocked | transcript of session | following address(es) failed
    will retry | still trying | will keep trying | delivery attempts will continue
    warning message only
""")
# What a delay notice says in its text; permanent wording overrides it.
DELAY_WORDING = _words("""
    will retry | still trying | still being retried | will keep trying | will continue to try
    delivery attempts will continue | has not yet been delivered | not delivered yet
    delivery incomplete | temporary problem delivering | warning message only | still undelivered
""")
PERMANENT_WORDING = _words("""
    permanent error | permanent failure | permanent fatal | failed permanently
    permanently rejected | given up | giving up | gave up | will not be retried
    no further attempts
""")
# Wording that makes a bounce without a code soft.
SOFT_WORDING = _words("""
    try again later | try later | try again | please retry | temporarily | temporary | deferred
    greylisted | greylisting | timed out | too many connections | rate limit | rate limited
""")

# The reason a bounce gives, by wording, tried in this order: a domain that "does not exist"
# is a DNS failure, not an unknown user. (Yahoo's "This user doesn't have a yahoo.com account"
# is a pattern below.)
REASON_WORDING: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "dns",
        _words("""
            host not found | domain not found | host or domain name not found
            name service error | nxdomain | no mx | null mx | mx record | unrouteable address
            unroutable address | unable to route | bad destination system
            domain does not exist | domain name not found | no such domain | unknown domain
            domain could not be found | couldn't find any host | could not find any host
            dns error | dns lookup
        """),
    ),
    (
        "unknown_recipient",
        _words("""
            user unknown | unknown user | no such user | no such recipient | no such mailbox
            no such address | no mailbox here | address rejected | does not exist
            doesn't exist | recipient not found | recipientnotfound | unknown recipient
            recipient unknown | invalid recipient | invalid mailbox | mailbox not found
            mailbox unavailable | user not found | address not found
            address couldn't be found | address could not be found | wasn't found
            was not found | not a valid recipient | account disabled
            account has been disabled | account is disabled | account is inactive
            no longer active | no longer available | no longer exists
            unknown or illegal alias
        """),
    ),
    (
        "mailbox_full",
        _words("""
            mailbox full | mailbox is full | mailbox has exceeded | full mailbox | inbox is full
            quota | over quota | quota exceeded | quotaexceededexception | exceeded storage
            insufficient storage | insufficient system storage | out of storage | storage full
            mailbox size limit | not enough space
        """),
    ),
    (
        "policy",
        _words("""
            spam | blocked | blacklist | blacklisted | black list | blocklist | blocklisted
            block list | policy | rejected due to | reputation | access denied | not allowed
            not permitted | banned | prohibited | prohibition | denied | unsolicited
            spamhaus | spamcop | barracuda | dmarc | content rejected | message rejected
        """),
    ),
)

# RFC 3463 codes: the class digit says hard (5) or soft (4); subject.detail says the reason.
# Every X.7.x (security or policy status) is "policy"; codes not here say nothing.
REASON_BY_STATUS = {
    "1.0": "unknown_recipient",  # other address status
    "1.1": "unknown_recipient",  # bad destination mailbox address
    "1.2": "dns",  # bad destination system address
    "1.3": "unknown_recipient",  # bad destination mailbox address syntax
    "1.6": "unknown_recipient",  # mailbox has moved, no forwarding address
    # RFC 7505 null MX, which Microsoft 365 uses for "recipient not found by address lookup".
    "1.10": "unknown_recipient",
    "2.2": "mailbox_full",  # mailbox full
    "3.1": "mailbox_full",  # mail system full (insufficient storage)
    "4.3": "dns",  # directory server failure: the DNS lookup failed
    "4.4": "dns",  # unable to route
}

# Vendor fields that mark an automatic reply; their value does not matter unless it says no.
AUTORESPONDER_FIELDS = _words(
    "X-Autoreply | X-Autorespond | X-Autoresponder | X-AutoReply-From | X-Mail-Autoreply"
)
_NO_VALUES = frozenset({"", "no", "false", "0", "off"})

# Subjects of out-of-office and automatic replies, at the start of the subject and followed by
# its end, punctuation or a word such as "reply" ("Out of office next week?" is a person).
AUTO_REPLY_SUBJECTS = _words("""
    automatic reply | auto reply | auto-reply | autoreply | auto response | auto-response
    autoresponse | automatic response | automated response | out of office | out of the office
    out-of-office | ooo | oof | on vacation | vacation reply | away from the office
    abwesenheitsnotiz | automatische antwort | autom. antwort | abwesend | nicht im büro
    réponse automatique | reponse automatique | absence du bureau | absent du bureau
    message d'absence
    respuesta automática | respuesta automatica | fuera de la oficina | fuera de oficina
    risposta automatica | fuori sede | fuori ufficio
    automatisch antwoord | afwezig | afwezigheidsbericht | niet aanwezig
    resposta automática | resposta automatica | ausente do escritório | fora do escritório
    automatiskt svar | automatisk svar | automatisk besked | frånvaro | frånvarande
    fraværende | fravær | ikke til stede | ikke på kontoret
    automatyczna odpowiedź | odpowiedź automatyczna | poza biurem | nieobecność
    automaattinen vastaus | automatická odpověď | otomatik yanıt | автоматический ответ
    自動応答 | 自動返信 | 自动回复 | 自動回覆
""")  # noqa: RUF001 - the Turkish word is spelt with a dotless i
# English, German, French, Spanish, Italian, Dutch, Portuguese, Swedish, Danish and Norwegian,
# Polish, Finnish, Czech, Turkish, Russian, Japanese, Chinese.

# Reply and forward prefixes: a subject that starts with one answers or passes on a message.
REPLY_PREFIXES = _words("re | aw | sv | vs | antw | antwort | odp | r | rif | res | ynt")
FORWARD_PREFIXES = _words("fw | fwd | wg | tr | rv | enc")
# How a person's reply introduces the quote of what it answers ("On ... Sam wrote:").
QUOTE_ATTRIBUTIONS = _words(
    "wrote | schrieb | a écrit | escribió | ha scritto | schreef | escreveu | skrev | napisał"
)

# The MIME types a bounce returns the original (or its header block) in.
RETURNED_ORIGINAL_TYPES = frozenset(
    _words("""
        message/rfc822 | message/global | text/rfc822-headers | message/global-headers
        message/rfc822-headers
    """)
)
DELIVERY_STATUS_TYPES = frozenset({"message/delivery-status", "message/global-delivery-status"})
REPORT_TYPES = DELIVERY_STATUS_TYPES | {
    "message/disposition-notification",
    "message/global-disposition-notification",
}
# DSN actions that are no failure (RFC 3464 section 2.3.3).
_SUCCESS_ACTIONS = frozenset({"delivered", "relayed", "expanded"})

# Only so much of a text is read: notices and quoted headers are near the top, and a hostile
# message cannot make the rules work without bound. The wording tables are read in the notice
# alone (at most NOTICE_CHARS); Message-IDs are looked for in up to SCAN_CHARS.
SCAN_CHARS = 100_000
NOTICE_CHARS = 20_000
DIAGNOSTIC_CHARS = 1000


def _phrases(phrases: Sequence[str]) -> re.Pattern[str]:
    """A case-insensitive search for any of the phrases as whole words; a space matches any
    run of white space (notices wrap lines) and an apostrophe either apostrophe."""
    alternatives = "|".join(
        re.escape(phrase).replace(r"\ ", r"\s+").replace("'", "['\u2019]")
        for phrase in sorted(phrases, key=len, reverse=True)
    )
    # Every phrase starts with a letter, so \b is "no letter before"; it is four times faster
    # than the equivalent look-behind, which stops the engine skipping ahead.
    assert all(phrase[:1].isalnum() for phrase in phrases)
    return re.compile(rf"\b(?:{alternatives})(?!\w)", re.IGNORECASE)


_BOUNCE_SUBJECT = re.compile(
    rf"{_phrases(BOUNCE_SUBJECTS).pattern}|^\s*warning:\s*message\s+\S+\s+delayed",
    re.IGNORECASE,  # the second: Exim, "Warning: message 1tq2Zx-0003Ab-7Q delayed 24 hours"
)
_DELAY_SUBJECT = re.compile(
    rf"{_phrases(DELAY_SUBJECTS).pattern}|^\s*warning:\s*message\s+\S+\s+delayed", re.IGNORECASE
)
_BOUNCE_WORDING = _phrases(BOUNCE_WORDING)
_DELAY_WORDING = _phrases(DELAY_WORDING)
_PERMANENT_WORDING = _phrases(PERMANENT_WORDING)
_SOFT_WORDING = _phrases(SOFT_WORDING)
# Yahoo: "This user doesn't have a yahoo.com account".
_NO_ACCOUNT = re.compile("doesn['\u2019]t" r"\s+have\s+an?\s+[\w.-]+\s+account", re.IGNORECASE)
_REASON_WORDING = tuple((reason, _phrases(words)) for reason, words in REASON_WORDING)
_TAG_PREFIXES = r"^\s*(?:\[[^\]\n]{0,40}\]\s*)*"  # "[EXTERNAL] ", "[Ticket #12] "
_AUTO_REPLY_SUBJECT = re.compile(
    _TAG_PREFIXES
    + r"(?:"
    + "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in AUTO_REPLY_SUBJECTS)
    + r")(?=\s*(?:$|[:\uff1a\-\u2013\u2014(\[/|,.!]"
    + r"|re\b|auto|reply|response|notice|message|notification))",
    re.IGNORECASE,
)
# "Auto: <subject>" (Lotus Notes and others) is too short a word to trust alone.
_WEAK_AUTO_REPLY_SUBJECT = re.compile(_TAG_PREFIXES + r"auto\s*:", re.IGNORECASE)
_REPLY_SUBJECT = re.compile(
    _TAG_PREFIXES
    + r"(?:"
    + "|".join(REPLY_PREFIXES + FORWARD_PREFIXES)
    + r")\s*(?:\[\d+\]|\(\d+\))?\s*[:\uff1a]",
    re.IGNORECASE,
)
_MICROSOFT_EXCHANGE_SENDER = re.compile(r"microsoftexchange[0-9a-f]{32}", re.IGNORECASE)

# RFC 3463 enhanced status code: class.subject.detail, not part of an IP address or a version.
_ENHANCED_CODE = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?!\d|\.\d)")
# An SMTP reply as a notice quotes it: "550 5.1.1 ...", "said: 550 ...", "(reason: 550 ...",
# "<<< 550 ...", "Remote Server returned '550 ...", "#550 5.7.1 ... ##", "554: delivery error".
_TEXT_REPLY = re.compile(
    r"(?im)(?:^[ \t]*\#?|said:[ \t]*|reason:[ \t]*|<<<[ \t]*|returned[ \t]+')"
    r"([45]\d\d(?:[ -]|:[ \t])[^\r\n]*)"
)
# The remote server's words when a notice gives them without a reply code.
_TEXT_SAID = re.compile(
    r"(?im)(?:said|technical details of (?:permanent|temporary) failure):\s*(\S[^\r\n]*)"
)
_REPLY_CODE = re.compile(r"^\s*\#?([45])\d\d(?![\d.])")
_REPLY_PREFIX = re.compile(r"^([245]\d\d)[ -](?:([245]\.\d{1,3}\.\d{1,3}) )?")
_DIAGNOSTIC_TYPE = re.compile(r"^\s*[A-Za-z][\w-]{0,20}\s*;")  # "smtp;", "X-Postfix;"
# Where a notice ends and the returned original, quoted inline, begins.
_ORIGINAL_FOLLOWS = re.compile(
    r"(?im)^[ \t]*(?:-{2,}[ \t]*(?:below this line is a copy of the message|this is a copy of"
    r" the message|original message|the original message|returned message|unsent message|"
    r"message headers? follows?)|original message headers:|return-path:|received:)"
)
_MESSAGE_ID_LINE = re.compile(
    r"(?im)^[ \t>]*message-id[ \t]*:[ \t]*(?:\r?\n[ \t>]*)?(<[^<>\s\x00-\x1f\x7f]{1,250}>)"
)
# Reports name the message they are about: read receipts (RFC 8098), Gmail's DSNs.
_ORIGINAL_MESSAGE_ID_FIELD = re.compile(
    r"(?im)^(?:x-)?original-message-id[ \t]*:[ \t]*(?:\r?\n[ \t]+)?(<[^<>\s\x00-\x1f\x7f]{1,250}>)"
)
_TO_LINE = re.compile(r"(?im)^to[ \t]*:(.*(?:\r?\n[ \t]+.*)*)")
_QUOTE_MARK = re.compile(
    r"(?im)^[ \t>]*(?:-{3,}[ \t]*original message[ \t]*-{3,}|.{0,300}(?<!\w)(?:"
    + "|".join(re.escape(a) for a in QUOTE_ATTRIBUTIONS)
    + r")(?:\(a\))?[ \t]*:[ \t]*\r?$)"
)
_ADDRESS = re.compile(r"(?<![\w.+'=-])([\w.+'=-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,10})")
# Where a notice names the address that failed.
_TEXT_RECIPIENTS = (
    # "<jane@example.com>: host ... said:" (Postfix, qmail, Yahoo, Sendmail)
    re.compile(r"(?im)^[ \t]*<" + _ADDRESS.pattern + r">"),
    re.compile(
        r"(?i)(?:following\s+(?:address(?:\(es\))?|addresses|recipients?)(?:\s+or\s+groups)?"
        r"|these\s+recipients(?:\s+or\s+groups)?|not\s+yet\s+been\s+delivered\s+is"
        r"|delivered\s+to|message\s+to|delivery\s+to|addressed\s+to)"
        r"[^@\n]{0,40}?[\s:]{0,20}<?" + _ADDRESS.pattern
    ),
)
_HTML_BREAK = re.compile(r"(?i)<(?:br|/p|/div|/tr|/li|/h\d|/table)\b[^<>]*>")
_HTML_TAG = re.compile(r"<[^<>]*>")


def html_as_text(markup: str) -> str:
    """HTML as plain text, roughly: line breaks where blocks end, tags dropped, entities
    decoded (what the rules read, and what search indexes of HTML-only mail)."""
    return html.unescape(_HTML_TAG.sub("", _HTML_BREAK.sub("\n", markup)))


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


# ---------------------------------------------------------------- what goes in and out


class HeaderFields(Protocol):
    """The top-level header fields, raw (folded, possibly RFC 2047-encoded)."""

    def first(self, name: str) -> str:
        """The first value of a field, "" when absent."""
        ...


@dataclass(frozen=True)
class InboundPart:
    """A MIME leaf other than the text and HTML bodies: its type and its decoded content."""

    content_type: str  # lowercase type/subtype
    content: bytes


@dataclass(frozen=True)
class InboundMail:
    """What the rules read of a message, as the ingest parser found it."""

    headers: HeaderFields
    content_type: str  # of the whole message, lowercase
    report_type: str  # multipart/report's report-type parameter, lowercase
    sender: str  # the From address
    sender_name: str  # its display name
    subject: str  # decoded
    text: str  # the first text/plain body, decoded
    html: str  # the first text/html body, decoded
    parts: tuple[InboundPart, ...] = ()


@dataclass(frozen=True)
class BounceReport:
    """What a bounce says about the delivery that failed."""

    bounce_class: str  # "hard" | "soft"
    status_code: str  # RFC 3463 enhanced status code, e.g. "5.1.1"; "" when none found
    reason: str  # "unknown_recipient" | "mailbox_full" | "policy" | "dns" | "other"
    diagnostic: str  # the remote server's words, one line, at most 1000 characters
    failed_recipient: str  # the address that failed ("" when none found)
    delayed: bool  # a delay notice ("will retry", Action: delayed), not a final failure


@dataclass(frozen=True)
class Recognition:
    """What an inbound message is."""

    kind: str  # "email" | "bounce" | "auto_reply"
    # "<...>": for a bounce, the Message-ID of the message that bounced (returned or quoted);
    # for other mail without In-Reply-To and References, the quoted original's; else "".
    original_message_id: str
    bounce: BounceReport | None  # set for kind == "bounce"


def recognise(mail: InboundMail) -> Recognition:
    """What an inbound message is: the first of the rules (module docstring) that matches."""
    message = _Mail(mail)
    for _rule, kind, matches in _RULES:
        if not matches(message):
            continue
        if kind == "bounce":
            return Recognition(kind, message.returned_message_id, _bounce_report(message))
        return Recognition(kind, message.answered_message_id(with_parts=True), None)
    return Recognition("email", message.answered_message_id(with_parts=False), None)


def bounce_class(
    status_code: str, diagnostic: str = "", notice: str = "", *, delayed: bool = False
) -> str:
    """Hard or soft ("hard" | "soft"). A delay is soft; else the RFC 3463 code decides (5.x.x
    hard, 4.x.x soft: so 5.2.2 mailbox full is hard), the one given or the one in the
    diagnostic. Without one, the diagnostic's wording ("mailbox full", "try again later" soft;
    "user unknown", "domain not found" hard), then the SMTP reply code it starts with (550,
    451), then the notice's wording; a failure nothing explains is hard."""
    return _bounce_class(status_code, diagnostic, _wording(diagnostic), _wording(notice), delayed)


def bounce_reason(status_code: str, diagnostic: str = "", notice: str = "") -> str:
    """The reason category: by the RFC 3463 code (`REASON_BY_STATUS`, X.7.x "policy"), the
    code in the diagnostic, then the wording of the diagnostic and of the notice; "other"
    when none says."""
    return _bounce_reason(status_code, diagnostic, _wording(diagnostic), _wording(notice))


# ---------------------------------------------------------------- the rules


class _Mail:
    """A message as the rules see it; what is costly is worked out once, when first asked."""

    def __init__(self, mail: InboundMail) -> None:
        self.mail = mail
        self.headers = mail.headers
        self.subject = mail.subject

    def field(self, name: str) -> str:
        """A field's first value, unfolded, without comment or parameters, lowercase."""
        value = self.headers.first(name)
        if not value:
            return ""
        return " ".join(value.split()).split(";", 1)[0].split("(", 1)[0].strip().lower()

    @cached_property
    def threaded(self) -> bool:
        """It names the message it answers (In-Reply-To or References)."""
        return any("<" in self.headers.first(f) for f in ("In-Reply-To", "References"))

    @cached_property
    def reply_subject(self) -> bool:
        return bool(_REPLY_SUBJECT.match(self.subject))

    @cached_property
    def bounce_subject(self) -> bool:
        return not self.reply_subject and bool(_BOUNCE_SUBJECT.search(self.subject))

    @cached_property
    def daemon_sender(self) -> bool:
        local_part = self.mail.sender.rpartition("@")[0].lower() or self.mail.sender.lower()
        return (
            local_part in BOUNCE_SENDER_LOCAL_PARTS
            or bool(_MICROSOFT_EXCHANGE_SENDER.fullmatch(local_part))
            or " ".join(self.mail.sender_name.lower().split()) in BOUNCE_SENDER_NAMES
        )

    @cached_property
    def body(self) -> str:
        """The text body, or the HTML one as text, as far as it is read."""
        if self.mail.text.strip():
            return self.mail.text[:SCAN_CHARS]
        if not self.mail.html:
            return ""
        return html_as_text(self.mail.html[: 2 * SCAN_CHARS])[:SCAN_CHARS]

    @cached_property
    def notice(self) -> str:
        """The start of the body, up to the returned original when that is quoted inline."""
        head = self.body[:NOTICE_CHARS]
        follows = _ORIGINAL_FOLLOWS.search(head)
        return head[: follows.start()] if follows else head

    @cached_property
    def quoted_message_id(self) -> str:
        """The first Message-ID field quoted in the body."""
        # Most mail quotes none: a plain search spares it turning HTML into text.
        source = self.mail.text if self.mail.text.strip() else self.mail.html
        if "message-id" not in source[: 2 * SCAN_CHARS].lower():
            return ""
        found = _MESSAGE_ID_LINE.search(self.body)
        return _storable(found.group(1)) if found else ""

    @cached_property
    def bounce_wording(self) -> bool:
        return bool(_BOUNCE_WORDING.search(self.notice))

    @cached_property
    def returned(self) -> tuple[str, ...]:
        """The header blocks of the originals returned as parts."""
        return tuple(
            _header_block(p.content)
            for p in self.mail.parts
            if p.content_type in RETURNED_ORIGINAL_TYPES
        )

    @cached_property
    def delivery_status(self) -> tuple[dict[str, str], ...] | None:
        """The per-recipient field groups of the DSN part; None without one."""
        parts = [p for p in self.mail.parts if p.content_type in DELIVERY_STATUS_TYPES]
        if not parts:
            return None
        text = parts[0].content[:SCAN_CHARS].decode("utf-8", "replace")
        return _recipient_groups(text)

    @cached_property
    def is_report(self) -> bool:
        return self.mail.content_type == "multipart/report"

    @cached_property
    def returned_message_id(self) -> str:
        """The Message-ID of the original a report returns, names or quotes."""
        for block in self.returned:
            found = _MESSAGE_ID_LINE.search(block)
            if found:
                return _storable(found.group(1))
        for part in self.mail.parts:
            if part.content_type in REPORT_TYPES:
                text = part.content[:SCAN_CHARS].decode("utf-8", "replace")
                found = _ORIGINAL_MESSAGE_ID_FIELD.search(text)
                if found:
                    return _storable(found.group(1))
        return self.quoted_message_id

    def answered_message_id(self, *, with_parts: bool) -> str:
        """For mail without threading fields, the Message-ID of the original it quotes (in
        its text; with_parts: or returns as a part, or names in a report)."""
        if self.threaded:
            return ""
        return self.returned_message_id if with_parts else self.quoted_message_id

    @cached_property
    def quotes_original(self) -> bool:
        """It quotes a message: a Message-ID field, or "On ... wrote:" and its kin."""
        return bool(self.quoted_message_id or _QUOTE_MARK.search(self.body[:NOTICE_CHARS]))


def _machine_report(m: _Mail) -> bool:
    """A report of no failure or delay: a DSN whose every recipient was delivered, relayed or
    expanded (a delivery receipt), or another kind of report (read receipts, feedback)."""
    if m.delivery_status:
        return all(_succeeded(group) for group in m.delivery_status)
    return m.is_report and m.mail.report_type not in ("delivery-status", "")


def _succeeded(recipient: dict[str, str]) -> bool:
    action = _action(recipient)
    return action in _SUCCESS_ACTIONS or (not action and recipient.get("status", "")[:1] == "2")


def _delivery_status_report(m: _Mail) -> bool:
    """An RFC 3464 delivery status notification."""
    return m.delivery_status is not None or (
        m.is_report and m.mail.report_type == "delivery-status"
    )


def _exim_failed_recipients(m: _Mail) -> bool:
    """Exim's X-Failed-Recipients field, which it sets on bounces only."""
    return "@" in m.headers.first("X-Failed-Recipients")


def _mailer_daemon_notice(m: _Mail) -> bool:
    """From a mail system, and saying or showing that a delivery failed."""
    return m.daemon_sender and (m.bounce_subject or bool(m.returned) or m.bounce_wording)


def _null_sender_notice(m: _Mail) -> bool:
    """Sent with an empty return path, as bounces are, under a bounce subject."""
    return m.headers.first("Return-Path").replace(" ", "") == "<>" and m.bounce_subject


def _bounce_subject_and_text(m: _Mail) -> bool:
    """A bounce subject and a text that says a delivery failed, from a sender not known as
    a mail system (appliances and gateways)."""
    return m.bounce_subject and m.bounce_wording


def _auto_submitted(m: _Mail) -> bool:
    """RFC 3834: anything but "no" in Auto-Submitted is automatic."""
    value = m.field("Auto-Submitted")
    return bool(value) and value != "no"


def _autoresponder_field(m: _Mail) -> bool:
    """A vendor's autoresponder field, unless it says no."""
    return any(m.field(name) not in _NO_VALUES for name in AUTORESPONDER_FIELDS)


def _precedence_auto_reply(m: _Mail) -> bool:
    """Precedence: auto_reply (or auto-reply), whatever else the message is."""
    return m.field("Precedence") in ("auto_reply", "auto-reply")


def _bulk_answer(m: _Mail) -> bool:
    """Precedence bulk, junk or list means automatic only on mail that answers a message and
    is no mailing-list post: newsletters carry it too."""
    return (
        m.field("Precedence") in ("bulk", "junk", "list")
        and not m.headers.first("List-Id")
        and (m.threaded or m.quotes_original)
    )


def _auto_reply_subject(m: _Mail) -> bool:
    """An out-of-office or automatic-reply subject; "Auto:" only on an answer."""
    return bool(_AUTO_REPLY_SUBJECT.match(m.subject)) or (
        m.threaded and bool(_WEAK_AUTO_REPLY_SUBJECT.match(m.subject))
    )


_RULES: tuple[tuple[str, str, Callable[[_Mail], bool]], ...] = (
    ("machine_report", "auto_reply", _machine_report),
    ("delivery_status_report", "bounce", _delivery_status_report),
    ("exim_failed_recipients", "bounce", _exim_failed_recipients),
    ("mailer_daemon_notice", "bounce", _mailer_daemon_notice),
    ("null_sender_notice", "bounce", _null_sender_notice),
    ("bounce_subject_and_text", "bounce", _bounce_subject_and_text),
    ("auto_submitted", "auto_reply", _auto_submitted),
    ("autoresponder_field", "auto_reply", _autoresponder_field),
    ("precedence_auto_reply", "auto_reply", _precedence_auto_reply),
    ("bulk_answer", "auto_reply", _bulk_answer),
    ("auto_reply_subject", "auto_reply", _auto_reply_subject),
)


# ---------------------------------------------------------------- what a bounce says


def _bounce_report(m: _Mail) -> BounceReport:
    recipient = _failed_recipient_group(m)
    diagnostic = _one_line(_strip_diagnostic_type(recipient.get("diagnostic-code", "")))
    diagnostic = diagnostic or _text_diagnostic(m.notice)
    status = (
        _enhanced_code(recipient.get("status", ""))
        or _enhanced_code(diagnostic)
        or _enhanced_code(m.notice)
    )
    action = _action(recipient)
    if action:
        delayed = action == "delayed"
    elif m.bounce_subject and _DELAY_SUBJECT.search(m.subject):
        delayed = True
    else:
        delayed = bool(_DELAY_WORDING.search(m.notice)) and not _PERMANENT_WORDING.search(m.notice)
    said, noticed = _wording(diagnostic), _wording(m.notice)
    return BounceReport(
        bounce_class=_bounce_class(status, diagnostic, said, noticed, delayed),
        status_code=status,
        reason=_bounce_reason(status, diagnostic, said, noticed),
        diagnostic=_storable(diagnostic),
        failed_recipient=_storable(_failed_address(m, recipient)),
        delayed=delayed,
    )


def _action(recipient: dict[str, str]) -> str:
    """A DSN recipient's Action, its first word lowercase ("failed", "delayed", ...)."""
    words = recipient.get("action", "").split()
    return words[0].lower() if words else ""


def _failed_recipient_group(m: _Mail) -> dict[str, str]:
    """The DSN fields of the recipient the bounce is about: the first that failed, else the
    first delayed, else the first; from the DSN part, else from DSN fields in the text."""
    groups = m.delivery_status
    if not groups:
        groups = tuple(
            g
            for g in _recipient_groups(m.notice)
            if "final-recipient" in g or "original-recipient" in g
        )
    for wanted in ("failed", "delayed"):
        for group in groups:
            if _action(group) == wanted:
                return group
    for group in groups:
        if group.get("status", "")[:1] in ("4", "5"):
            return group
    return groups[0] if groups else {}


def _recipient_groups(text: str) -> tuple[dict[str, str], ...]:
    """The field groups of DSN text (RFC 3464: blank lines between per-message and
    per-recipient fields) that speak of a recipient; names lowercase, values unfolded."""
    groups: list[dict[str, str]] = []
    fields: dict[str, str] = {}
    name = ""
    for line in text.splitlines():
        if not line.strip():
            if fields:
                groups.append(fields)
            fields, name = {}, ""
        elif line[0] in " \t":
            if name:
                fields[name] += " " + line.strip()
        else:
            key, colon, value = line.partition(":")
            name = key.strip().lower() if colon else ""
            if name in fields:
                name = ""  # a repeated field: the first one counts
            elif name:
                fields[name] = value.strip()
    if fields:
        groups.append(fields)
    recipient_fields = ("final-recipient", "original-recipient", "action", "status")
    return tuple(g for g in groups if any(f in g for f in recipient_fields))


def _failed_address(m: _Mail, recipient: dict[str, str]) -> str:
    """The address that failed: the DSN's Original-Recipient (the address as it was sent to),
    else its Final-Recipient, else Exim's X-Failed-Recipients, else where the notice names it,
    else the returned original's only To address."""
    for name in ("original-recipient", "final-recipient"):
        value = recipient.get(name, "")
        address = _ADDRESS.search(value.rpartition(";")[2] if ";" in value else value)
        if address:
            return address.group(1)
    address = _ADDRESS.search(m.headers.first("X-Failed-Recipients"))
    if address:
        return address.group(1)
    for pattern in _TEXT_RECIPIENTS:
        found = pattern.search(m.notice)
        if found:
            return found.group(1)
    for block in m.returned:
        to = _TO_LINE.search(block)
        addresses = _ADDRESS.findall(to.group(1)) if to else []
        if len(addresses) == 1:
            return str(addresses[0])
    return ""


def _text_diagnostic(notice: str) -> str:
    """The first SMTP reply a notice quotes, with the lines that continue it: more indented
    ones, or those of a multiline reply ("550-5.1.1 ...")."""
    found = _TEXT_REPLY.search(notice)
    if not found:
        said = _TEXT_SAID.search(notice)
        return _one_line(said.group(1)) if said else ""
    line_start = notice.rfind("\n", 0, found.start()) + 1
    before = notice[line_start : found.start()]
    indent = len(before) - len(before.lstrip())
    code = found.group(1)[:3]
    reply = [found.group(1)]
    line_end = notice.find("\n", found.end())
    following = notice[line_end + 1 : line_end + 4000].splitlines() if line_end != -1 else []
    for line in following[:20]:
        stripped = line.strip()
        depth = len(line) - len(line.lstrip())
        if not stripped or (depth <= indent and stripped[:4] not in (code + "-", code + " ")):
            break
        reply.append(stripped)
    text = _one_line(" ".join(reply)).strip("#'\" ")
    if text.endswith(")") and text.count(")") > text.count("("):
        text = text[:-1].rstrip()
    return text


def _strip_diagnostic_type(value: str) -> str:
    """A Diagnostic-Code without its type ("smtp; 550 ..." -> "550 ...")."""
    found = _DIAGNOSTIC_TYPE.match(value)
    return value[found.end() :] if found else value


def _enhanced_code(text: str) -> str:
    found = _ENHANCED_CODE.search(text)
    return found.group(0) if found else ""


def _reason_by_status(code: str) -> str:
    parts = code.split(".")
    if len(parts) != 3 or parts[0] not in ("4", "5"):
        return ""
    if parts[1] == "7":
        return "policy"
    return REASON_BY_STATUS.get(f"{int(parts[1])}.{int(parts[2])}", "")


class _Wording(NamedTuple):
    """What a text's words say about a failure."""

    reason: str  # by REASON_WORDING; "" when they name none
    soft: bool  # SOFT_WORDING
    permanent: bool  # PERMANENT_WORDING

    @property
    def bounce_class(self) -> str:
        """Soft or hard as the words say ("soft" | "hard"), "" when they do not."""
        if self.reason == "mailbox_full" or self.soft:
            return "soft"
        if self.reason in ("unknown_recipient", "dns") or self.permanent:
            return "hard"
        return ""


def _wording(text: str) -> _Wording:
    if not text:
        return _Wording("", soft=False, permanent=False)
    if _NO_ACCOUNT.search(text):
        reason = "unknown_recipient"
    else:
        reason = next((reason for reason, words in _REASON_WORDING if words.search(text)), "")
    return _Wording(reason, bool(_SOFT_WORDING.search(text)), bool(_PERMANENT_WORDING.search(text)))


def _bounce_class(
    status_code: str, diagnostic: str, said: _Wording, noticed: _Wording, delayed: bool
) -> str:
    if delayed:
        return "soft"
    code = status_code or _enhanced_code(diagnostic)
    if code[:1] in ("4", "5"):
        return "hard" if code[0] == "5" else "soft"
    if said.bounce_class:
        return said.bounce_class
    reply = _REPLY_CODE.match(diagnostic)
    if reply:
        return "hard" if reply.group(1) == "5" else "soft"
    return noticed.bounce_class or "hard"


def _bounce_reason(status_code: str, diagnostic: str, said: _Wording, noticed: _Wording) -> str:
    for code in (status_code, _enhanced_code(diagnostic)):
        reason = _reason_by_status(code)
        if reason:
            return reason
    return said.reason or noticed.reason or "other"


def _header_block(content: bytes) -> str:
    """The header block of a returned message, as text."""
    head = content[:SCAN_CHARS]
    ends = [i for i in (head.find(b"\r\n\r\n"), head.find(b"\n\n")) if i >= 0]
    return head[: min(ends)].decode("utf-8", "replace") if ends else head.decode("utf-8", "replace")


def _one_line(text: str) -> str:
    """An SMTP reply on one line: white space collapsed, the code that starts each line of a
    multiline reply ("550-5.1.1 ... 550-5.1.1 ...") kept only at its start."""
    line = " ".join(text[: 4 * DIAGNOSTIC_CHARS].split())
    found = _REPLY_PREFIX.match(line)
    if found:
        code, enhanced = found.group(1), found.group(2) or ""
        head, rest = line[: found.end()], line[found.end() :]
        for separator in ("-", " "):
            prefix = f" {code}{separator}{enhanced} " if enhanced else f" {code}{separator}"
            rest = rest.replace(prefix, " ")
        line = head + rest
    return line[:DIAGNOSTIC_CHARS]


def _storable(text: str) -> str:
    """Without NUL and surrogates, which PostgreSQL text cannot hold."""
    return _UNSTORABLE.sub("\ufffd", text)
