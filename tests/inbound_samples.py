"""Real-world-shaped inbound mail, generated in code so the project keeps it exactly.

Bounces as Postfix, Exim, Sendmail, qmail, Exchange and Office 365, Gmail, Yahoo, Amazon SES,
Mimecast and a mail gateway write them (hard, soft and delayed; the original attached, its
headers attached, quoted inline or not at all; with and without codes); out-of-office replies
in several languages and header styles; people's replies; and the near misses that must stay
ordinary email. Each sample carries what `service.codec.inbound` should recognise in it.
Everything is deterministic: the same bytes on every run.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

OUR_DOMAIN = "tryvectorpath.com"
SAM = f"Sam Carter <sam@{OUR_DOMAIN}>"


@dataclass(frozen=True)
class Sample:
    """A raw message and what recognising it should give."""

    name: str
    raw: bytes
    kind: str  # "email" | "bounce" | "auto_reply"
    original_message_id: str = ""
    # Bounces only:
    bounce_class: str = ""
    status_code: str = ""
    reason: str = ""
    failed_recipient: str = ""
    delayed: bool = False
    diagnostic: str = ""  # a piece of the expected diagnostic; "" when there is none


def outbound_message_id(seed: str) -> str:
    """A Message-ID shaped like the platform's outbound ones, the same for the same seed."""
    digest = hashlib.sha256(seed.encode()).digest()
    token = base64.b64encode(digest, altchars=b"Aa").decode()[:16]
    return f"<20250303080{digest[0] % 10}{digest[1] % 60:02d}.{token}@{OUR_DOMAIN}>"


def _crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("utf-8")


def _b64(data: bytes) -> str:
    encoded = base64.b64encode(data).decode()
    return "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76)) + "\n"


def _original_headers(message_id: str, to: str, subject: str) -> str:
    """The header block of one of our outbound messages, as a receiving MTA saw it."""
    return (
        f"Return-Path: <sam@{OUR_DOMAIN}>\n"
        f"Received: from mail.{OUR_DOMAIN} (mail.{OUR_DOMAIN} [198.51.100.20])\n"
        "\tby mx.example.net (Postfix) with ESMTPS id 4Z6Wq31xYzz3wQ\n"
        f"\tfor <{to.split('<')[-1].rstrip('>')}>; Mon,  3 Mar 2025 08:00:40 +0000 (UTC)\n"
        f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={OUR_DOMAIN}; s=s1;\n"
        "\th=from:to:subject:date:message-id; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;\n"
        "\tb=kB3xQ0n5mVt9cZqk1wq0Rr6Yd8sE2QJf7N0hC0hY3uA=\n"
        f"From: {SAM}\n"
        f"To: {to}\n"
        f"Subject: {subject}\n"
        "Date: Mon, 03 Mar 2025 08:00:38 +0000\n"
        f"Message-ID: {message_id}\n"
        "MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: 7bit\n"
        f"List-Unsubscribe: <mailto:unsubscribe@{OUR_DOMAIN}?subject=unsubscribe>\n"
    )


def _original(message_id: str, to: str, subject: str, first_name: str) -> str:
    """One of our outbound messages, whole."""
    return (
        _original_headers(message_id, to, subject)
        + f"\nHi {first_name},\n\nWorth a quick chat next week about cutting your onboarding"
        " time in half?\n\nBest,\nSam\n"
    )


def _address(to: str) -> str:
    return to.split("<")[-1].rstrip(">")


# ---------------------------------------------------------------- bounces


def _postfix_user_unknown() -> Sample:
    original = outbound_message_id("postfix user unknown")
    to = "Jane Doe <jane@example.com>"
    boundary = "4Z6Wq54C2Jz9sWd.1741000843/mail.tryvectorpath.com"
    raw = _crlf(
        "Return-Path: <>\n"
        f"Delivered-To: sam@{OUR_DOMAIN}\n"
        f"Received: by mail.{OUR_DOMAIN} (Postfix)\n"
        "\tid 4Z6Wq54C2Jz9sWd; Mon,  3 Mar 2025 08:00:43 +0000 (UTC)\n"
        "Date: Mon,  3 Mar 2025 08:00:43 +0000 (UTC)\n"
        f"From: MAILER-DAEMON@mail.{OUR_DOMAIN} (Mail Delivery System)\n"
        "Subject: Undelivered Mail Returned to Sender\n"
        f"To: sam@{OUR_DOMAIN}\n"
        "Auto-Submitted: auto-replied\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/report; report-type=delivery-status;\n"
        f'\tboundary="{boundary}"\n'
        "Content-Transfer-Encoding: 8bit\n"
        f"Message-Id: <20250303080043.4Z6Wq54C2Jz9sWd@mail.{OUR_DOMAIN}>\n"
        "\n"
        "This is a MIME-encapsulated message.\n"
        "\n"
        f"--{boundary}\n"
        "Content-Description: Notification\n"
        "Content-Type: text/plain; charset=us-ascii\n"
        "\n"
        f"This is the mail system at host mail.{OUR_DOMAIN}.\n"
        "\n"
        "I'm sorry to have to inform you that your message could not\n"
        "be delivered to one or more recipients. It's attached below.\n"
        "\n"
        "For further assistance, please send mail to postmaster.\n"
        "\n"
        "If you do so, please include this problem report. You can\n"
        "delete your own text from the attached returned message.\n"
        "\n"
        "                   The mail system\n"
        "\n"
        "<jane@example.com>: host mx.example.com[203.0.113.25] said: 550 5.1.1\n"
        "    <jane@example.com>: Recipient address rejected: User unknown in virtual\n"
        "    mailbox table (in reply to RCPT TO command)\n"
        "\n"
        f"--{boundary}\n"
        "Content-Description: Delivery report\n"
        "Content-Type: message/delivery-status\n"
        "\n"
        f"Reporting-MTA: dns; mail.{OUR_DOMAIN}\n"
        "X-Postfix-Queue-ID: 4Z6Wq54C2Jz9sWd\n"
        f"X-Postfix-Sender: rfc822; sam@{OUR_DOMAIN}\n"
        "Arrival-Date: Mon,  3 Mar 2025 08:00:41 +0000 (UTC)\n"
        "\n"
        "Final-Recipient: rfc822; jane@example.com\n"
        "Original-Recipient: rfc822;jane@example.com\n"
        "Action: failed\n"
        "Status: 5.1.1\n"
        "Remote-MTA: dns; mx.example.com\n"
        "Diagnostic-Code: smtp; 550 5.1.1 <jane@example.com>: Recipient address\n"
        "    rejected: User unknown in virtual mailbox table\n"
        "\n"
        f"--{boundary}\n"
        "Content-Description: Undelivered Message Headers\n"
        "Content-Type: text/rfc822-headers\n"
        "Content-Transfer-Encoding: 8bit\n"
        "\n" + _original_headers(original, to, "Quick question, Jane") + f"\n--{boundary}--\n"
    )
    return Sample(
        "postfix: user unknown, 5.1.1, headers returned",
        raw,
        "bounce",
        original,
        "hard",
        "5.1.1",
        "unknown_recipient",
        "jane@example.com",
        diagnostic="550 5.1.1 <jane@example.com>: Recipient address rejected: User unknown in"
        " virtual mailbox table",
    )


def _postfix_delayed() -> Sample:
    original = outbound_message_id("postfix delayed")
    to = "Li Wei <li.wei@acme-widgets.example>"
    boundary = "4Z6Xb12Kp7z3vLm.1741015260/mail.tryvectorpath.com"
    raw = _crlf(
        "Return-Path: <>\n"
        "Date: Mon,  3 Mar 2025 12:01:00 +0000 (UTC)\n"
        f"From: MAILER-DAEMON@mail.{OUR_DOMAIN} (Mail Delivery System)\n"
        "Subject: Delayed Mail (still being retried)\n"
        f"To: sam@{OUR_DOMAIN}\n"
        "Auto-Submitted: auto-replied\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/report; report-type=delivery-status;\n"
        f'\tboundary="{boundary}"\n'
        "Content-Transfer-Encoding: 8bit\n"
        f"Message-Id: <20250303120100.4Z6Xb12Kp7z3vLm@mail.{OUR_DOMAIN}>\n"
        "\n"
        "This is a MIME-encapsulated message.\n"
        "\n"
        f"--{boundary}\n"
        "Content-Description: Notification\n"
        "Content-Type: text/plain; charset=us-ascii\n"
        "\n"
        f"This is the mail system at host mail.{OUR_DOMAIN}.\n"
        "\n"
        "####################################################################\n"
        "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #\n"
        "####################################################################\n"
        "\n"
        "Your message could not be delivered for more than 4 hour(s).\n"
        "It will be retried until it is 5 day(s) old.\n"
        "\n"
        "                   The mail system\n"
        "\n"
        "<li.wei@acme-widgets.example>: connect to\n"
        "    mx1.acme-widgets.example[192.0.2.44]:25: Connection timed out\n"
        "\n"
        f"--{boundary}\n"
        "Content-Description: Delivery report\n"
        "Content-Type: message/delivery-status\n"
        "\n"
        f"Reporting-MTA: dns; mail.{OUR_DOMAIN}\n"
        "X-Postfix-Queue-ID: 4Z6Xb12Kp7z3vLm\n"
        f"X-Postfix-Sender: rfc822; sam@{OUR_DOMAIN}\n"
        "Arrival-Date: Mon,  3 Mar 2025 08:00:41 +0000 (UTC)\n"
        "\n"
        "Final-Recipient: rfc822; li.wei@acme-widgets.example\n"
        "Original-Recipient: rfc822;li.wei@acme-widgets.example\n"
        "Action: delayed\n"
        "Status: 4.4.1\n"
        "Diagnostic-Code: X-Postfix; connect to mx1.acme-widgets.example[192.0.2.44]:25:\n"
        "    Connection timed out\n"
        "Will-Retry-Until: Sat,  8 Mar 2025 08:00:41 +0000 (UTC)\n"
        "\n"
        f"--{boundary}\n"
        "Content-Description: Undelivered Message Headers\n"
        "Content-Type: text/rfc822-headers\n"
        "\n" + _original_headers(original, to, "Quick question, Li") + f"\n--{boundary}--\n"
    )
    return Sample(
        "postfix: delayed, 4.4.1, connection timed out",
        raw,
        "bounce",
        original,
        "soft",
        "4.4.1",
        "other",
        "li.wei@acme-widgets.example",
        delayed=True,
        diagnostic="connect to mx1.acme-widgets.example[192.0.2.44]:25: Connection timed out",
    )


def _postfix_domain_not_found() -> Sample:
    original = outbound_message_id("postfix domain not found")
    to = "Operations <ops@acme-widgets.invalid>"
    boundary = "4Z6Wr0Dd9Qz1pTx.1741000850/mail.tryvectorpath.com"
    raw = _crlf(
        "Return-Path: <>\n"
        "Date: Mon,  3 Mar 2025 08:00:50 +0000 (UTC)\n"
        f"From: MAILER-DAEMON@mail.{OUR_DOMAIN} (Mail Delivery System)\n"
        "Subject: Undelivered Mail Returned to Sender\n"
        f"To: sam@{OUR_DOMAIN}\n"
        "Auto-Submitted: auto-replied\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/report; report-type=delivery-status;\n"
        f'\tboundary="{boundary}"\n'
        f"Message-Id: <20250303080050.4Z6Wr0Dd9Qz1pTx@mail.{OUR_DOMAIN}>\n"
        "\n"
        f"--{boundary}\n"
        "Content-Description: Notification\n"
        "Content-Type: text/plain; charset=us-ascii\n"
        "\n"
        f"This is the mail system at host mail.{OUR_DOMAIN}.\n"
        "\n"
        "I'm sorry to have to inform you that your message could not\n"
        "be delivered to one or more recipients. It's attached below.\n"
        "\n"
        "                   The mail system\n"
        "\n"
        "<ops@acme-widgets.invalid>: Host or domain name not found. Name service error\n"
        "    for name=acme-widgets.invalid type=A: Host not found\n"
        "\n"
        f"--{boundary}\n"
        "Content-Description: Delivery report\n"
        "Content-Type: message/delivery-status\n"
        "\n"
        f"Reporting-MTA: dns; mail.{OUR_DOMAIN}\n"
        "X-Postfix-Queue-ID: 4Z6Wr0Dd9Qz1pTx\n"
        "Arrival-Date: Mon,  3 Mar 2025 08:00:49 +0000 (UTC)\n"
        "\n"
        "Final-Recipient: rfc822; ops@acme-widgets.invalid\n"
        "Original-Recipient: rfc822;ops@acme-widgets.invalid\n"
        "Action: failed\n"
        "Status: 5.4.4\n"
        "Diagnostic-Code: X-Postfix; Host or domain name not found. Name service error\n"
        "    for name=acme-widgets.invalid type=A: Host not found\n"
        "\n"
        f"--{boundary}\n"
        "Content-Description: Undelivered Message\n"
        "Content-Type: message/rfc822\n"
        "Content-Transfer-Encoding: 8bit\n"
        "\n" + _original(original, to, "Quick question", "there") + f"\n--{boundary}--\n"
    )
    return Sample(
        "postfix: domain not found, 5.4.4, original returned",
        raw,
        "bounce",
        original,
        "hard",
        "5.4.4",
        "dns",
        "ops@acme-widgets.invalid",
        diagnostic="Host or domain name not found. Name service error for"
        " name=acme-widgets.invalid type=A: Host not found",
    )


def _exim_user_unknown() -> Sample:
    original = outbound_message_id("exim user unknown")
    to = "Marc Dubois <marc.dubois@agence-lumiere.example>"
    raw = _crlf(
        "Return-path: <>\n"
        f"Envelope-to: sam@{OUR_DOMAIN}\n"
        "Delivery-date: Mon, 03 Mar 2025 09:14:07 +0000\n"
        "Received: from mailnull by mx.hostingco.example with local (Exim 4.97.1)\n"
        "\tid 1tp4Xz-00A1bC-2k\n"
        f"\tfor sam@{OUR_DOMAIN};\n"
        "\tMon, 03 Mar 2025 09:14:07 +0000\n"
        "X-Failed-Recipients: marc.dubois@agence-lumiere.example\n"
        "Auto-Submitted: auto-replied\n"
        "From: Mail Delivery System <Mailer-Daemon@mx.hostingco.example>\n"
        f"To: sam@{OUR_DOMAIN}\n"
        "Content-Type: text/plain; charset=us-ascii\n"
        "Subject: Mail delivery failed: returning message to sender\n"
        "Message-Id: <E1tp4Xz-00A1bC-2k@mx.hostingco.example>\n"
        "Date: Mon, 03 Mar 2025 09:14:07 +0000\n"
        "\n"
        "This message was created automatically by mail delivery software.\n"
        "\n"
        "A message that you sent could not be delivered to one or more of its\n"
        "recipients. This is a permanent error. The following address(es) failed:\n"
        "\n"
        "  marc.dubois@agence-lumiere.example\n"
        "    host mx.agence-lumiere.example [198.51.100.77]\n"
        "    SMTP error from remote mail server after RCPT TO:<marc.dubois@agence-lumiere.example>:\n"
        "    550 5.1.1 <marc.dubois@agence-lumiere.example>: Recipient address rejected: User unknown\n"
        "\n"
        "------ This is a copy of the message, including all the headers. ------\n"
        "\n" + _original(original, to, "Quick question, Marc", "Marc")
    )
    return Sample(
        "exim: user unknown, 5.1.1, quoted inline",
        raw,
        "bounce",
        original,
        "hard",
        "5.1.1",
        "unknown_recipient",
        "marc.dubois@agence-lumiere.example",
        diagnostic="550 5.1.1 <marc.dubois@agence-lumiere.example>: Recipient address rejected",
    )


def _exim_mailbox_full_no_enhanced_code() -> Sample:
    original = outbound_message_id("exim mailbox full")
    to = "Katarzyna Nowak <k.nowak@biuro-rachunkowe.example>"
    raw = _crlf(
        "Return-path: <>\n"
        "Received: from mailnull by mx.hostingco.example with local (Exim 4.97.1)\n"
        "\tid 1tp5Ab-00B7cD-9q\n"
        f"\tfor sam@{OUR_DOMAIN};\n"
        "\tMon, 03 Mar 2025 09:20:11 +0000\n"
        "X-Failed-Recipients: k.nowak@biuro-rachunkowe.example\n"
        "Auto-Submitted: auto-replied\n"
        "From: Mail Delivery System <Mailer-Daemon@mx.hostingco.example>\n"
        f"To: sam@{OUR_DOMAIN}\n"
        "Content-Type: text/plain; charset=us-ascii\n"
        "Subject: Mail delivery failed: returning message to sender\n"
        "Message-Id: <E1tp5Ab-00B7cD-9q@mx.hostingco.example>\n"
        "Date: Mon, 03 Mar 2025 09:20:11 +0000\n"
        "\n"
        "This message was created automatically by mail delivery software.\n"
        "\n"
        "A message that you sent could not be delivered to one or more of its\n"
        "recipients. This is a permanent error. The following address(es) failed:\n"
        "\n"
        "  k.nowak@biuro-rachunkowe.example\n"
        "    host mx.biuro-rachunkowe.example [203.0.113.201]\n"
        "    SMTP error from remote mail server after end of data:\n"
        "    552 sorry, mailbox full\n"
        "\n"
        "------ This is a copy of the message, including all the headers. ------\n"
        "\n" + _original(original, to, "Quick question, Katarzyna", "Katarzyna")
    )
    return Sample(
        "exim: 552 mailbox full without an enhanced code, quoted inline",
        raw,
        "bounce",
        original,
        "soft",
        "",
        "mailbox_full",
        "k.nowak@biuro-rachunkowe.example",
        diagnostic="552 sorry, mailbox full",
    )


def _exim_delay_warning() -> Sample:
    raw = _crlf(
        "Return-path: <>\n"
        "Received: from mailnull by mx.hostingco.example with local (Exim 4.97.1)\n"
        "\tid 1tq2Zy-0003Ab-8R\n"
        f"\tfor sam@{OUR_DOMAIN};\n"
        "\tTue, 04 Mar 2025 08:05:12 +0000\n"
        "Auto-Submitted: auto-replied\n"
        "From: Mail Delivery System <Mailer-Daemon@mx.hostingco.example>\n"
        f"To: sam@{OUR_DOMAIN}\n"
        "Subject: Warning: message 1tq2Zx-0003Ab-7Q delayed 24 hours\n"
        "Content-Type: text/plain; charset=us-ascii\n"
        "Message-Id: <E1tq2Zy-0003Ab-8R@mx.hostingco.example>\n"
        "Date: Tue, 04 Mar 2025 08:05:12 +0000\n"
        "\n"
        "This message was created automatically by mail delivery software.\n"
        "A message that you sent has not yet been delivered to one or more of its\n"
        "recipients after more than 24 hours on the queue on mx.hostingco.example.\n"
        "\n"
        "The message identifier is:     1tq2Zx-0003Ab-7Q\n"
        "The subject of the message is: Quick question, Lukas\n"
        "The date of the message is:    Mon, 03 Mar 2025 08:00:38 +0000\n"
        "\n"
        "The address to which the message has not yet been delivered is:\n"
        "\n"
        "  lukas.meier@meier-logistik.example\n"
        "    host mx01.meier-logistik.example [203.0.113.90]\n"
        "    Delay reason: SMTP error from remote mail server after RCPT TO:<lukas.meier@meier-logistik.example>:\n"
        "    452 4.2.2 <lukas.meier@meier-logistik.example>: Mailbox full\n"
        "\n"
        "No action is required on your part. Delivery attempts will continue for\n"
        "some time, and this warning may be repeated at intervals if the message\n"
        "remains undelivered. Eventually the mail delivery software will give up,\n"
        "and when that happens, the message will be returned to you.\n"
    )
    return Sample(
        "exim: delay warning, 4.2.2, no copy",
        raw,
        "bounce",
        "",
        "soft",
        "4.2.2",
        "mailbox_full",
        "lukas.meier@meier-logistik.example",
        delayed=True,
        diagnostic="452 4.2.2 <lukas.meier@meier-logistik.example>: Mailbox full",
    )


def _sendmail_user_unknown() -> Sample:
    original = outbound_message_id("sendmail user unknown")
    to = "Rachel Hughes <r.hughes@oldcorp.example>"
    boundary = "523A1Bx0012345.1741003331/mail.oldcorp.example"
    raw = _crlf(
        "Return-Path: <MAILER-DAEMON>\n"
        "Received: from localhost (localhost)\n"
        "\tby mail.oldcorp.example (8.15.2/8.15.2) id 523A1Bx0012345;\n"
        "\tMon, 3 Mar 2025 03:02:11 -0500\n"
        "Date: Mon, 3 Mar 2025 03:02:11 -0500\n"
        "From: Mail Delivery Subsystem <MAILER-DAEMON@mail.oldcorp.example>\n"
        "Message-Id: <202503030802.523A1Bx0012345@mail.oldcorp.example>\n"
        f"To: <sam@{OUR_DOMAIN}>\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/report; report-type=delivery-status;\n"
        f'\tboundary="{boundary}"\n'
        "Subject: Returned mail: see transcript for details\n"
        "Auto-Submitted: auto-generated (failure)\n"
        "\n"
        "This is a MIME-encapsulated message\n"
        "\n"
        f"--{boundary}\n"
        "\n"
        "The original message was received at Mon, 3 Mar 2025 03:02:09 -0500\n"
        f"from mail.{OUR_DOMAIN} [198.51.100.20]\n"
        "\n"
        "   ----- The following addresses had permanent fatal errors -----\n"
        "<r.hughes@oldcorp.example>\n"
        "    (reason: 550 5.1.1 <r.hughes@oldcorp.example>... User unknown)\n"
        "\n"
        "   ----- Transcript of session follows -----\n"
        "... while talking to mailhub.oldcorp.example.:\n"
        ">>> DATA\n"
        "<<< 550 5.1.1 <r.hughes@oldcorp.example>... User unknown\n"
        "550 5.1.1 <r.hughes@oldcorp.example>... User unknown\n"
        "<<< 503 5.0.0 Need RCPT (recipient)\n"
        "\n"
        f"--{boundary}\n"
        "Content-Type: message/delivery-status\n"
        "\n"
        "Reporting-MTA: dns; mail.oldcorp.example\n"
        f"Received-From-MTA: DNS; mail.{OUR_DOMAIN}\n"
        "Arrival-Date: Mon, 3 Mar 2025 03:02:09 -0500\n"
        "\n"
        "Final-Recipient: RFC822; r.hughes@oldcorp.example\n"
        "Action: failed\n"
        "Status: 5.1.1\n"
        "Remote-MTA: DNS; mailhub.oldcorp.example\n"
        "Diagnostic-Code: SMTP; 550 5.1.1 <r.hughes@oldcorp.example>... User unknown\n"
        "Last-Attempt-Date: Mon, 3 Mar 2025 03:02:11 -0500\n"
        "\n"
        f"--{boundary}\n"
        "Content-Type: message/rfc822\n"
        "\n" + _original(original, to, "Quick question, Rachel", "Rachel") + f"\n--{boundary}--\n"
    )
    return Sample(
        "sendmail: user unknown, 5.1.1, original returned",
        raw,
        "bounce",
        original,
        "hard",
        "5.1.1",
        "unknown_recipient",
        "r.hughes@oldcorp.example",
        diagnostic="550 5.1.1 <r.hughes@oldcorp.example>... User unknown",
    )


def _sendmail_content_rejected_inline() -> Sample:
    original = outbound_message_id("sendmail content rejected")
    to = "Hanna Jansen <h.jansen@partnerfirm.example>"
    raw = _crlf(
        "Return-Path: <MAILER-DAEMON>\n"
        "Date: Mon, 3 Mar 2025 10:20:04 +0100\n"
        "From: Mail Delivery Subsystem <MAILER-DAEMON@relay.partnerfirm.example>\n"
        "Message-Id: <202503030920.5239K4aT004411@relay.partnerfirm.example>\n"
        f"To: <sam@{OUR_DOMAIN}>\n"
        "Subject: Returned mail: Service unavailable\n"
        "Auto-Submitted: auto-generated (failure)\n"
        "Content-Type: text/plain; charset=us-ascii\n"
        "\n"
        "The original message was received at Mon, 3 Mar 2025 10:20:01 +0100\n"
        f"from mail.{OUR_DOMAIN} [198.51.100.20]\n"
        "\n"
        "   ----- The following addresses had permanent fatal errors -----\n"
        "<h.jansen@partnerfirm.example>\n"
        "    (reason: 550 5.7.1 Message rejected due to content restrictions (spam score too high))\n"
        "\n"
        "   ----- Transcript of session follows -----\n"
        "... while talking to mx.partnerfirm.example.:\n"
        ">>> DATA\n"
        "<<< 550 5.7.1 Message rejected due to content restrictions (spam score too high)\n"
        "554 5.0.0 Service unavailable\n"
        "\n"
        "   ----- Original message follows -----\n"
        "\n" + _original(original, to, "Quick question, Hanna", "Hanna")
    )
    return Sample(
        "sendmail: content rejected, 5.7.1, quoted inline",
        raw,
        "bounce",
        original,
        "hard",
        "5.7.1",
        "policy",
        "h.jansen@partnerfirm.example",
        diagnostic="550 5.7.1 Message rejected due to content restrictions (spam score too high)",
    )


def _qmail_user_unknown() -> Sample:
    original = outbound_message_id("qmail user unknown")
    to = "Tove Berg <t.berg@fjordtech.example>"
    raw = _crlf(
        "Return-Path: <>\n"
        "Received: (qmail 24117 invoked for bounce); 3 Mar 2025 08:00:52 -0000\n"
        "Date: 3 Mar 2025 08:00:52 -0000\n"
        "From: MAILER-DAEMON@mail.smallisp.example\n"
        f"To: sam@{OUR_DOMAIN}\n"
        "Subject: failure notice\n"
        "\n"
        "Hi. This is the qmail-send program at mail.smallisp.example.\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
        "This is a permanent error; I've given up. Sorry it didn't work out.\n"
        "\n"
        "<t.berg@fjordtech.example>:\n"
        "203.0.113.140 does not like recipient.\n"
        "Remote host said: 550 5.1.1 <t.berg@fjordtech.example>: Recipient address rejected: User unknown in local recipient table\n"
        "Giving up on 203.0.113.140.\n"
        "\n"
        "--- Below this line is a copy of the message.\n"
        "\n" + _original(original, to, "Quick question, Tove", "Tove")
    )
    return Sample(
        "qmail: user unknown, 5.1.1, quoted inline",
        raw,
        "bounce",
        original,
        "hard",
        "5.1.1",
        "unknown_recipient",
        "t.berg@fjordtech.example",
        diagnostic="550 5.1.1 <t.berg@fjordtech.example>: Recipient address rejected",
    )


def _qmail_no_such_host() -> Sample:
    original = outbound_message_id("qmail no such host")
    to = "Sales <sales@nordic-widgets.invalid>"
    raw = _crlf(
        "Return-Path: <>\n"
        "Received: (qmail 31408 invoked for bounce); 3 Mar 2025 08:01:03 -0000\n"
        "Date: 3 Mar 2025 08:01:03 -0000\n"
        "From: MAILER-DAEMON@mail.smallisp.example\n"
        f"To: sam@{OUR_DOMAIN}\n"
        "Subject: failure notice\n"
        "\n"
        "Hi. This is the qmail-send program at mail.smallisp.example.\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
        "This is a permanent error; I've given up. Sorry it didn't work out.\n"
        "\n"
        "<sales@nordic-widgets.invalid>:\n"
        "Sorry, I couldn't find any host named nordic-widgets.invalid. (#5.1.2)\n"
        "\n"
        "--- Below this line is a copy of the message.\n"
        "\n" + _original(original, to, "Quick question", "there")
    )
    return Sample(
        "qmail: no such host, #5.1.2 in the text, quoted inline",
        raw,
        "bounce",
        original,
        "hard",
        "5.1.2",
        "dns",
        "sales@nordic-widgets.invalid",
    )


def _office365_recipient_not_found() -> Sample:
    original = outbound_message_id("office 365 recipient not found")
    to = "Priya Raman <priya.raman@contoso.example>"
    outer, alternative = "_004_AM8PR01MB7654A1B2C3D4E5F6_", "_000_AM8PR01MB7654A1B2C3D4E5F6_"
    notice = (
        "Your message to priya.raman@contoso.example couldn't be delivered.\n"
        "\n"
        "priya.raman wasn't found at contoso.example.\n"
        "\n"
        "sam                 Office 365          priya.raman\n"
        "Action Required                         Recipient\n"
        "\n"
        "Unknown To address\n"
        "\n"
        "How to Fix It\n"
        "The address may be misspelled or may not exist. Try one or more of the following:\n"
        "\n"
        "  *   Send the message again following these steps: In Outlook, open this non-delivery\n"
        "      report (NDR) and choose Send Again from the Report ribbon.\n"
        "  *   Contact the recipient by some other means (by phone, for example) to confirm\n"
        "      you're using the right address.\n"
        "\n"
        "Was this helpful? Send feedback to Microsoft.\n"
        "\n"
        "Diagnostic information for administrators:\n"
        "\n"
        "Generating server: AM8PR01MB7654.eurprd01.prod.exchangelabs.com\n"
        "\n"
        "priya.raman@contoso.example\n"
        "Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup'\n"
        "\n"
        "Original message headers:\n"
        "\n" + _original_headers(original, to, "Quick question, Priya")
    )
    raw = _crlf(
        "Received: from AM8PR01MB7654.eurprd01.prod.exchangelabs.com (2603:10a6:20b:3c8::9)\n"
        " by AM8PR01MB7654.eurprd01.prod.exchangelabs.com with Microsoft SMTP Server\n"
        " id 15.20.8489.25 via Mailbox Transport; Mon, 3 Mar 2025 08:00:44 +0000\n"
        f"From: Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@{OUR_DOMAIN}>\n"
        f"To: <sam@{OUR_DOMAIN}>\n"
        "Date: Mon, 3 Mar 2025 08:00:44 +0000\n"
        "Content-Type: multipart/report; report-type=delivery-status;\n"
        f'\tboundary="{outer}"\n'
        "Content-Language: en-US\n"
        "X-MS-Exchange-Message-Is-Ndr:\n"
        f"In-Reply-To: {original}\n"
        f"References: {original}\n"
        "Thread-Topic: Quick question, Priya\n"
        "Thread-Index: AQHbjBZx2Qf0YV1d3kO7m5rjS1u0dA==\n"
        "Subject: Undeliverable: Quick question, Priya\n"
        "Message-ID: <2b6c7d1e-5f0a-4b3c-9d8e-7f6a5b4c3d2e@AM8PR01MB7654.eurprd01.prod.exchangelabs.com>\n"
        "MIME-Version: 1.0\n"
        "X-MS-PublicTrafficType: Email\n"
        "\n"
        f"--{outer}\n"
        "Content-Type: multipart/alternative;\n"
        f'\tboundary="{alternative}"\n'
        "\n"
        f"--{alternative}\n"
        'Content-Type: text/plain; charset="us-ascii"\n'
        "\n" + notice + f"\n--{alternative}\n"
        'Content-Type: text/html; charset="us-ascii"\n'
        "\n"
        '<html><head></head><body><p><b><font color="#000000" size="3">Your message to'
        " priya.raman@contoso.example couldn't be delivered.</font></b></p>"
        "<p>priya.raman wasn't found at contoso.example.</p></body></html>\n"
        f"--{alternative}--\n"
        "\n"
        f"--{outer}\n"
        "Content-Type: message/delivery-status\n"
        "\n"
        "Reporting-MTA: dns;AM8PR01MB7654.eurprd01.prod.exchangelabs.com\n"
        f"Received-From-MTA: dns;mail.{OUR_DOMAIN}\n"
        "Arrival-Date: Mon, 3 Mar 2025 08:00:40 +0000\n"
        "\n"
        "Final-Recipient: rfc822;priya.raman@contoso.example\n"
        "Action: failed\n"
        "Status: 5.1.10\n"
        "Diagnostic-Code: smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup\n"
        "\n"
        f"--{outer}\n"
        "Content-Type: message/rfc822\n"
        "\n" + _original(original, to, "Quick question, Priya", "Priya") + f"\n--{outer}--\n"
    )
    return Sample(
        "office 365: recipient not found, 5.1.10, original returned",
        raw,
        "bounce",
        original,
        "hard",
        "5.1.10",
        "unknown_recipient",
        "priya.raman@contoso.example",
        diagnostic="550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP"
        " address lookup",
    )


def _office365_mailbox_full() -> Sample:
    original = outbound_message_id("office 365 mailbox full")
    to = "Daniel Okafor <d.okafor@fabrikam-energy.example>"
    boundary = "_002_DB9PR02MB8123F00DCAFEBABE_"
    raw = _crlf(
        f"From: postmaster@{OUR_DOMAIN}\n"
        f"To: sam@{OUR_DOMAIN}\n"
        "Date: Mon, 3 Mar 2025 08:02:13 +0000\n"
        "Content-Type: multipart/report; report-type=delivery-status;\n"
        f'\tboundary="{boundary}"\n'
        "X-MS-Exchange-Message-Is-Ndr:\n"
        "Content-Language: en-US\n"
        "Message-ID: <f1e2d3c4-b5a6-4798-8a9b-0c1d2e3f4a5b@DB9PR02MB8123.eurprd02.prod.outlook.com>\n"
        "Subject: Undeliverable: Quick question, Daniel\n"
        "MIME-Version: 1.0\n"
        "\n"
        f"--{boundary}\n"
        'Content-Type: text/plain; charset="us-ascii"\n'
        "\n"
        "Delivery has failed to these recipients or groups:\n"
        "\n"
        "d.okafor@fabrikam-energy.example\n"
        "The recipient's mailbox is full and can't accept messages now. Please try resending"
        " this message later, or contact the recipient directly.\n"
        "\n"
        "Diagnostic information for administrators:\n"
        "\n"
        "Generating server: DB9PR02MB8123.eurprd02.prod.outlook.com\n"
        "\n"
        "d.okafor@fabrikam-energy.example\n"
        "Remote Server returned '554 5.2.2 mailbox full;"
        " STOREDRV.Deliver.Exception:QuotaExceededException.MapiExceptionShutoffQuotaExceeded'\n"
        "\n"
        f"--{boundary}\n"
        "Content-Type: message/delivery-status\n"
        "\n"
        "Reporting-MTA: dns;DB9PR02MB8123.eurprd02.prod.outlook.com\n"
        "\n"
        "Final-Recipient: rfc822;d.okafor@fabrikam-energy.example\n"
        "Action: failed\n"
        "Status: 5.2.2\n"
        "Diagnostic-Code: smtp;554 5.2.2 mailbox full;\n"
        " STOREDRV.Deliver.Exception:QuotaExceededException.MapiExceptionShutoffQuotaExceeded;\n"
        " Failed to process message due to a permanent exception with message [BeginDiagnosticData]\n"
        "\n"
        f"--{boundary}\n"
        "Content-Type: text/rfc822-headers\n"
        "\n" + _original_headers(original, to, "Quick question, Daniel") + f"\n--{boundary}--\n"
    )
    return Sample(
        "office 365: mailbox full, 5.2.2 (hard by the code), headers returned",
        raw,
        "bounce",
        original,
        "hard",
        "5.2.2",
        "mailbox_full",
        "d.okafor@fabrikam-energy.example",
        diagnostic="554 5.2.2 mailbox full; STOREDRV.Deliver.Exception:QuotaExceededException",
    )


def _exchange_not_authorized_inline() -> Sample:
    original = outbound_message_id("exchange not authorized")
    to = "Tom Baker <tom.baker@fabrikam.example>"
    raw = _crlf(
        "From: postmaster@fabrikam.example\n"
        f"To: sam@{OUR_DOMAIN}\n"
        "Date: Mon, 3 Mar 2025 09:00:42 +0100\n"
        'Content-Type: text/plain; charset="us-ascii"\n'
        "Content-Transfer-Encoding: 7bit\n"
        "Message-ID: <a1b2c3d4e5f6471829304a5b6c7d8e9f@EX01.fabrikam.local>\n"
        "Subject: Undeliverable: Quick question, Tom\n"
        "MIME-Version: 1.0\n"
        "\n"
        "Delivery has failed to these recipients or groups:\n"
        "\n"
        "tom.baker@fabrikam.example\n"
        "Your message wasn't delivered due to a permission or security issue. It may have been"
        " rejected by a moderator, the address may only accept e-mail from certain senders, or"
        " another restriction may be preventing delivery.\n"
        "\n"
        "Diagnostic information for administrators:\n"
        "\n"
        "Generating server: EX01.fabrikam.local\n"
        "\n"
        "tom.baker@fabrikam.example\n"
        "#550 5.7.1 RESOLVER.RST.NotAuthorized; not authorized ##\n"
        "\n"
        "Original message headers:\n"
        "\n"
        f"Received: from mail.{OUR_DOMAIN} (198.51.100.20) by EX01.fabrikam.local\n"
        " (10.0.0.5) with Microsoft SMTP Server id 14.3.498.0; Mon, 3 Mar 2025 09:00:40 +0100\n"
        f"From: {SAM}\n"
        f"To: {to}\n"
        "Subject: Quick question, Tom\n"
        "Date: Mon, 3 Mar 2025 08:00:38 +0000\n"
        f"Message-ID: {original}\n"
        "MIME-Version: 1.0\n"
        "Content-Type: text/plain\n"
    )
    return Sample(
        "exchange 2010: not authorized, 5.7.1, only quoted inline",
        raw,
        "bounce",
        original,
        "hard",
        "5.7.1",
        "policy",
        "tom.baker@fabrikam.example",
        diagnostic="550 5.7.1 RESOLVER.RST.NotAuthorized; not authorized",
    )


def _exchange_delayed() -> Sample:
    original = outbound_message_id("exchange delayed")
    to = "Ana Souza <ana.souza@empresa-exemplo.example>"
    boundary = "_003_DB9PR02MB8123D15EA5EDBEEF_"
    raw = _crlf(
        f"From: postmaster@{OUR_DOMAIN}\n"
        f"To: sam@{OUR_DOMAIN}\n"
        "Date: Tue, 4 Mar 2025 08:00:52 +0000\n"
        "Content-Type: multipart/report; report-type=delivery-status;\n"
        f'\tboundary="{boundary}"\n'
        "X-MS-Exchange-Message-Is-Ndr:\n"
        "Message-ID: <0c9b8a7f-6e5d-4c3b-2a19-08f7e6d5c4b3@DB9PR02MB8123.eurprd02.prod.outlook.com>\n"
        "Subject: Delivery delayed:Quick question, Ana\n"
        "MIME-Version: 1.0\n"
        "\n"
        f"--{boundary}\n"
        'Content-Type: text/plain; charset="us-ascii"\n'
        "\n"
        "Delivery is delayed to these recipients or groups:\n"
        "\n"
        "ana.souza@empresa-exemplo.example\n"
        "\n"
        "Subject: Quick question, Ana\n"
        "\n"
        "This message hasn't been delivered yet. Delivery will continue to be attempted.\n"
        "\n"
        "The server will keep trying to deliver this message for the next 1 days, 19 hours and"
        " 53 minutes. You'll be notified if the message can't be delivered by that time.\n"
        "\n"
        f"--{boundary}\n"
        "Content-Type: message/delivery-status\n"
        "\n"
        "Reporting-MTA: dns;DB9PR02MB8123.eurprd02.prod.outlook.com\n"
        "Received-From-MTA: dns;DB9PR02MB8123.eurprd02.prod.outlook.com\n"
        "Arrival-Date: Mon, 3 Mar 2025 08:00:40 +0000\n"
        "\n"
        "Final-Recipient: rfc822;ana.souza@empresa-exemplo.example\n"
        "Action: delayed\n"
        "Status: 4.4.7\n"
        "Diagnostic-Code: smtp;400 4.4.7 Message delayed\n"
        "Will-Retry-Until: Thu, 5 Mar 2025 04:53:40 +0000\n"
        "\n"
        f"--{boundary}\n"
        "Content-Type: text/rfc822-headers\n"
        "\n" + _original_headers(original, to, "Quick question, Ana") + f"\n--{boundary}--\n"
    )
    return Sample(
        "office 365: delivery delayed, 4.4.7, headers returned",
        raw,
        "bounce",
        original,
        "soft",
        "4.4.7",
        "other",
        "ana.souza@empresa-exemplo.example",
        delayed=True,
        diagnostic="400 4.4.7 Message delayed",
    )


def _gmail_report(
    *,
    seed: str,
    to: str,
    first_name: str,
    subject: str,
    notice: str,
    dsn: str,
    returned: str,
) -> tuple[str, bytes]:
    """A Gmail DSN: the notice as text and HTML, the DSN part, the original or its headers."""
    original = outbound_message_id(seed)
    outer, related, alternative = (
        "000000000000a1b2c3061f4e9d5a",
        "000000000000a1b2c3061f4e9d5b",
        "000000000000a1b2c3061f4e9d5c",
    )
    if returned == "message":
        returned_part = "Content-Type: message/rfc822\n\n" + _original(
            original, to, f"Quick question, {first_name}", first_name
        )
    else:
        returned_part = "Content-Type: text/rfc822-headers\n\n" + _original_headers(
            original, to, f"Quick question, {first_name}"
        )
    raw = _crlf(
        "Delivered-To: sam@tryvectorpath.com\n"
        "Received: by 2002:a05:6a10:9f0a:b0:5c1:3d2e:4f5a with SMTP id k10csp812345pxb;\n"
        "        Mon, 3 Mar 2025 00:00:41 -0800 (PST)\n"
        "Return-Path: <>\n"
        "From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\n"
        "To: sam@tryvectorpath.com\n"
        "Auto-Submitted: auto-replied\n"
        f"Subject: {subject}\n"
        f"References: {original}\n"
        f"In-Reply-To: {original}\n"
        f"X-Failed-Recipients: {_address(to)}\n"
        "Message-ID: <67c55f19.050a0220.1a2b3c.4d5eSMTPIN_ADDED_MISSING@mx.google.com>\n"
        "Date: Mon, 03 Mar 2025 00:00:41 -0800 (PST)\n"
        "MIME-Version: 1.0\n"
        f'Content-Type: multipart/report; boundary="{outer}"; report-type=delivery-status\n'
        "\n"
        f"--{outer}\n"
        f'Content-Type: multipart/related; boundary="{related}"\n'
        "\n"
        f"--{related}\n"
        f'Content-Type: multipart/alternative; boundary="{alternative}"\n'
        "\n"
        f"--{alternative}\n"
        'Content-Type: text/plain; charset="UTF-8"\n'
        "\n" + notice + "\n"
        f"--{alternative}\n"
        'Content-Type: text/html; charset="UTF-8"\n'
        "\n"
        "<html><head></head><body><div>" + notice.replace("\n", "<br>\n") + "</div></body></html>\n"
        f"--{alternative}--\n"
        f"--{related}\n"
        'Content-Type: image/png; name="icon.png"\n'
        'Content-Disposition: attachment; filename="icon.png"\n'
        "Content-Transfer-Encoding: base64\n"
        "Content-ID: <icon.png>\n"
        "\n" + _b64(b"\x89PNG\r\n\x1a\n" + bytes(range(64))) + f"--{related}--\n"
        f"--{outer}\n"
        "Content-Type: message/delivery-status\n"
        "\n"
        "Reporting-MTA: dns; googlemail.com\n"
        "Received-From-MTA: dns; sam@tryvectorpath.com\n"
        "Arrival-Date: Mon, 03 Mar 2025 00:00:39 -0800 (PST)\n"
        f"X-Original-Message-ID: {original}\n"
        "\n" + dsn + "\n"
        f"--{outer}\n" + returned_part + f"\n--{outer}--\n"
    )
    return original, raw


def _gmail_address_not_found() -> Sample:
    to = "Wouter de Vries <wouter@bakkerij-devries.example>"
    original, raw = _gmail_report(
        seed="gmail address not found",
        to=to,
        first_name="Wouter",
        subject="Delivery Status Notification (Failure)",
        notice=(
            "\n** Address not found **\n\n"
            "Your message wasn't delivered to wouter@bakkerij-devries.example because the address"
            " couldn't be found, or is unable to receive mail.\n\n"
            "Learn more here: https://support.google.com/mail/?p=NoSuchUser\n\n"
            "The response from the remote server was:\n"
            "550 5.1.1 The email account that you tried to reach does not exist. Please try"
            " double-checking the recipient's email address for typos or unnecessary spaces."
            " For more information, go to https://support.google.com/mail/?p=NoSuchUser"
            " 41be03b00d2f7-af2b3c4d5e6si123456a12.432 - gsmtp\n"
        ),
        dsn=(
            "Final-Recipient: rfc822; wouter@bakkerij-devries.example\n"
            "Action: failed\n"
            "Status: 5.1.1\n"
            "Remote-MTA: dns; gmail-smtp-in.l.google.com. (142.250.102.27, the server for the"
            " domain bakkerij-devries.example.)\n"
            "Diagnostic-Code: smtp; 550-5.1.1 The email account that you tried to reach does not"
            " exist. Please try\n"
            " 550-5.1.1 double-checking the recipient's email address for typos or\n"
            " 550-5.1.1 unnecessary spaces. For more information, go to\n"
            " 550 5.1.1  https://support.google.com/mail/?p=NoSuchUser"
            " 41be03b00d2f7-af2b3c4d5e6si123456a12.432 - gsmtp\n"
            "Last-Attempt-Date: Mon, 03 Mar 2025 00:00:41 -0800 (PST)\n"
        ),
        returned="message",
    )
    return Sample(
        "gmail: address not found, 5.1.1, original returned",
        raw,
        "bounce",
        original,
        "hard",
        "5.1.1",
        "unknown_recipient",
        "wouter@bakkerij-devries.example",
        diagnostic="550-5.1.1 The email account that you tried to reach does not exist. Please"
        " try double-checking the recipient's email address for typos or unnecessary spaces.",
    )


def _gmail_delayed() -> Sample:
    to = "Nadia Benali <nadia@atelier-rive.example>"
    original, raw = _gmail_report(
        seed="gmail delayed",
        to=to,
        first_name="Nadia",
        subject="Delivery Status Notification (Delay)",
        notice=(
            "\n** Message not delivered yet **\n\n"
            "There was a temporary problem delivering your message to nadia@atelier-rive.example."
            " Gmail will retry for 47 more hours. You'll be notified if the delivery fails"
            " permanently.\n\n"
            "The response was:\n"
            "The recipient server did not accept our requests to connect. Learn more at"
            " https://support.google.com/mail/answer/7720 [mx.atelier-rive.example."
            " 203.0.113.12: timed out]\n"
        ),
        dsn=(
            "Final-Recipient: rfc822; nadia@atelier-rive.example\n"
            "Action: delayed\n"
            "Status: 4.4.1\n"
            "Diagnostic-Code: smtp; The recipient server did not accept our requests to connect."
            " Learn more at https://support.google.com/mail/answer/7720\n"
            " [mx.atelier-rive.example. 203.0.113.12: timed out]\n"
            "Last-Attempt-Date: Mon, 03 Mar 2025 01:12:40 -0800 (PST)\n"
            "Will-Retry-Until: Wed, 05 Mar 2025 00:00:39 -0800 (PST)\n"
        ),
        returned="headers",
    )
    return Sample(
        "gmail: delayed, 4.4.1, headers returned",
        raw,
        "bounce",
        original,
        "soft",
        "4.4.1",
        "other",
        "nadia@atelier-rive.example",
        delayed=True,
        diagnostic="The recipient server did not accept our requests to connect.",
    )


def _gmail_blocked() -> Sample:
    to = "Felix Roth <felix@kanzlei-roth.example>"
    original, raw = _gmail_report(
        seed="gmail blocked",
        to=to,
        first_name="Felix",
        subject="Delivery Status Notification (Failure)",
        notice=(
            "\n** Message blocked **\n\n"
            "Your message to felix@kanzlei-roth.example has been blocked. See technical details"
            " below for more information.\n\n"
            "The response was:\n"
            "550 5.7.1 Service unavailable, Client host [209.85.220.41] blocked using"
            " zen.spamhaus.org; https://www.spamhaus.org/query/ip/209.85.220.41\n"
        ),
        dsn=(
            "Final-Recipient: rfc822; felix@kanzlei-roth.example\n"
            "Action: failed\n"
            "Status: 5.7.1\n"
            "Remote-MTA: dns; mx.kanzlei-roth.example. (203.0.113.33, the server for the domain"
            " kanzlei-roth.example.)\n"
            "Diagnostic-Code: smtp; 550 5.7.1 Service unavailable, Client host [209.85.220.41]"
            " blocked using zen.spamhaus.org;\n"
            " https://www.spamhaus.org/query/ip/209.85.220.41\n"
        ),
        returned="message",
    )
    return Sample(
        "gmail: blocked by a blocklist, 5.7.1, original returned",
        raw,
        "bounce",
        original,
        "hard",
        "5.7.1",
        "policy",
        "felix@kanzlei-roth.example",
        diagnostic="550 5.7.1 Service unavailable, Client host [209.85.220.41] blocked using"
        " zen.spamhaus.org",
    )


def _yahoo_no_account() -> Sample:
    original = outbound_message_id("yahoo no account")
    to = "Chloe Martin <chloe.martin@yahoo.example>"
    raw = _crlf(
        "Return-Path: <>\n"
        "Received: from mta4012.mail.bf1.yahoo.com by sonic.mail.bf1.yahoo.com; 3 Mar 2025"
        " 08:00:47 +0000\n"
        "From: MAILER-DAEMON@yahoo.com\n"
        f"To: sam@{OUR_DOMAIN}\n"
        "Subject: Failure Notice\n"
        "Date: Mon, 3 Mar 2025 08:00:47 +0000\n"
        "Message-ID: <1741000847.4829.yahoo-bounce@mta4012.mail.bf1.yahoo.com>\n"
        "\n"
        "Sorry, we were unable to deliver your message to the following address.\n"
        "\n"
        "<chloe.martin@yahoo.example>:\n"
        "554: delivery error: dd This user doesn't have a yahoo.example account"
        " (chloe.martin@yahoo.example) [0] - mta4012.mail.bf1.yahoo.com\n"
        "\n"
        "--- Below this line is a copy of the message.\n"
        "\n" + _original(original, to, "Quick question, Chloe", "Chloe")
    )
    return Sample(
        "yahoo: no such account, 554 without an enhanced code, quoted inline",
        raw,
        "bounce",
        original,
        "hard",
        "",
        "unknown_recipient",
        "chloe.martin@yahoo.example",
        diagnostic="554: delivery error: dd This user doesn't have a yahoo.example account",
    )


def _yahoo_mailbox_full_wording_only() -> Sample:
    original = outbound_message_id("yahoo mailbox full")
    to = "Marta Lopez <marta.lopez@correo-ejemplo.example>"
    raw = _crlf(
        "Return-Path: <>\n"
        "From: MAILER-DAEMON@yahoo.com\n"
        f"To: sam@{OUR_DOMAIN}\n"
        "Subject: Failure Notice\n"
        "Date: Mon, 3 Mar 2025 08:00:55 +0000\n"
        "Message-ID: <1741000855.7315.yahoo-bounce@mta4020.mail.bf1.yahoo.com>\n"
        "\n"
        "Sorry, we were unable to deliver your message to the following address.\n"
        "\n"
        "<marta.lopez@correo-ejemplo.example>:\n"
        "Remote host said: mailbox is full, please try again later\n"
        "\n"
        "--- Below this line is a copy of the message.\n"
        "\n" + _original(original, to, "Quick question, Marta", "Marta")
    )
    return Sample(
        "yahoo: mailbox full in words only, no code at all",
        raw,
        "bounce",
        original,
        "soft",
        "",
        "mailbox_full",
        "marta.lopez@correo-ejemplo.example",
        diagnostic="mailbox is full, please try again later",
    )


def _ses_report(
    *, seed: str, to: str, first_name: str, dsn: str, returned: str, notice: str
) -> tuple[str, bytes]:
    original = outbound_message_id(seed)
    boundary = "----=_Part_2214785_1130276393.1741000861042"
    if returned == "message":
        returned_part = "Content-Type: message/rfc822\n\n" + _original(
            original, to, f"Quick question, {first_name}", first_name
        )
    else:
        returned_part = "Content-Type: text/rfc822-headers\n\n" + _original_headers(
            original, to, f"Quick question, {first_name}"
        )
    raw = _crlf(
        "Return-Path: <>\n"
        "From: MAILER-DAEMON@amazonses.com\n"
        f"To: sam@{OUR_DOMAIN}\n"
        "Subject: Delivery Status Notification (Failure)\n"
        "Message-ID: <010201955ce1a1b2-3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f-000000@eu-west-1.amazonses.com>\n"
        "Date: Mon, 3 Mar 2025 08:01:01 +0000\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/report;\n"
        f'\tboundary="{boundary}";\n'
        "\treport-type=delivery-status\n"
        "X-SES-Outgoing: 2025.03.03-54.240.4.1\n"
        "\n"
        f"--{boundary}\n"
        "Content-Type: text/plain; charset=UTF-8\n"
        "Content-Transfer-Encoding: 7bit\n"
        "\n" + notice + "\n"
        f"--{boundary}\n"
        "Content-Type: message/delivery-status\n"
        "\n"
        "Reporting-MTA: dns; a4-12.smtp-out.eu-west-1.amazonses.com\n"
        "\n" + dsn + "\n"
        f"--{boundary}\n" + returned_part + f"\n--{boundary}--\n"
    )
    return original, raw


def _ses_user_unknown() -> Sample:
    to = "Diego Fernandez <diego.fernandez@logistica-sur.example>"
    original, raw = _ses_report(
        seed="ses user unknown",
        to=to,
        first_name="Diego",
        notice="An error occurred while trying to deliver the mail to the following recipients:\n"
        "diego.fernandez@logistica-sur.example",
        dsn=(
            "Action: failed\n"
            "Final-Recipient: rfc822; diego.fernandez@logistica-sur.example\n"
            "Diagnostic-Code: smtp; 550 5.1.1 user unknown\n"
            "Status: 5.1.1\n"
        ),
        returned="message",
    )
    return Sample(
        "amazon ses: user unknown, 5.1.1, original returned",
        raw,
        "bounce",
        original,
        "hard",
        "5.1.1",
        "unknown_recipient",
        "diego.fernandez@logistica-sur.example",
        diagnostic="550 5.1.1 user unknown",
    )


def _ses_expired() -> Sample:
    to = "Jonas Weber <jonas.weber@handelshaus.example>"
    original, raw = _ses_report(
        seed="ses expired",
        to=to,
        first_name="Jonas",
        notice="An error occurred while trying to deliver the mail to the following recipients:\n"
        "jonas.weber@handelshaus.example",
        dsn=(
            "Action: failed\n"
            "Final-Recipient: rfc822; jonas.weber@handelshaus.example\n"
            "Diagnostic-Code: smtp; 421 4.4.7 Message expired: unable to deliver in 840 minutes."
            "<421 4.4.0 Unable to lookup DNS for handelshaus.example>\n"
            "Status: 4.4.7\n"
        ),
        returned="headers",
    )
    return Sample(
        "amazon ses: given up with 4.4.7 (a soft failure, not a delay), headers returned",
        raw,
        "bounce",
        original,
        "soft",
        "4.4.7",
        "other",
        "jonas.weber@handelshaus.example",
        diagnostic="421 4.4.7 Message expired: unable to deliver in 840 minutes.",
    )


def _mimecast_html_only() -> Sample:
    original = outbound_message_id("mimecast envelope blocked")
    raw = _crlf(
        "Return-Path: <>\n"
        "From: Mimecast Postmaster <postmaster@eu-smtp-inbound-1.mimecast.example>\n"
        f"To: sam@{OUR_DOMAIN}\n"
        "Subject: Undeliverable Mail\n"
        "Date: Mon, 3 Mar 2025 08:01:12 +0000\n"
        "Message-ID: <mimecast-ndr-7f3a9c21e4b5@eu-smtp-inbound-1.mimecast.example>\n"
        "MIME-Version: 1.0\n"
        'Content-Type: text/html; charset="utf-8"\n'
        "Content-Transfer-Encoding: 7bit\n"
        "\n"
        '<html><body style="font-family: Arial, sans-serif">\n'
        "<p>Your message couldn't be delivered to the following recipient:</p>\n"
        "<p><b>oliver.schmidt@stadtwerke-beispiel.example</b></p>\n"
        "<p>Reason: 550 Administrative prohibition - envelope blocked -"
        " https://community.mimecast.com/docs/DOC-1369#550 [aBcDeFgHiJkLmNoPqRsTuV.uk42]</p>\n"
        "<hr>\n"
        "<p>Original message headers:</p>\n"
        f"<pre>From: Sam Carter &lt;sam@{OUR_DOMAIN}&gt;\n"
        "To: Oliver Schmidt &lt;oliver.schmidt@stadtwerke-beispiel.example&gt;\n"
        "Subject: Quick question, Oliver\n"
        "Date: Mon, 03 Mar 2025 08:00:38 +0000\n"
        f"Message-ID: {original.replace('<', '&lt;').replace('>', '&gt;')}\n"
        "</pre>\n"
        "</body></html>\n"
    )
    return Sample(
        "mimecast: envelope blocked, HTML only, 550 without an enhanced code",
        raw,
        "bounce",
        original,
        "hard",
        "",
        "policy",
        "oliver.schmidt@stadtwerke-beispiel.example",
        diagnostic="550 Administrative prohibition - envelope blocked",
    )


def _gateway_temporary_failure() -> Sample:
    raw = _crlf(
        "From: Secure Mail Gateway <notifications@gw.handelshaus.example>\n"
        f"To: sam@{OUR_DOMAIN}\n"
        "Subject: Message delivery failure: Quick question, Jonas\n"
        "Date: Mon, 3 Mar 2025 08:03:30 +0000\n"
        "Message-ID: <ndr-20250303080330-5521@gw.handelshaus.example>\n"
        "MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "\n"
        "Your message could not be delivered to jonas.weber@handelshaus.example.\n"
        "\n"
        "The remote server said: 451 4.3.0 Internal resources are temporarily unavailable,"
        " please try again later\n"
        "\n"
        "The message will not be retried.\n"
    )
    return Sample(
        "mail gateway: 4.3.0 failure, not a delay, no copy",
        raw,
        "bounce",
        "",
        "soft",
        "4.3.0",
        "other",
        "jonas.weber@handelshaus.example",
        diagnostic="451 4.3.0 Internal resources are temporarily unavailable",
    )


def _null_sender_domain_not_found() -> Sample:
    original = outbound_message_id("null sender domain")
    raw = _crlf(
        "Return-Path: <>\n"
        "From: CloudMail Notifications <no-reply@notify.cloudmail.example>\n"
        f"To: sam@{OUR_DOMAIN}\n"
        "Subject: Delivery Status Notification (Failure)\n"
        "Date: Mon, 3 Mar 2025 08:04:00 +0000\n"
        "Message-ID: <dsn.8c1f2e@notify.cloudmail.example>\n"
        "Content-Type: text/plain; charset=ISO-8859-1\n"
        "\n"
        "Delivery to the following recipient failed permanently:\n"
        "\n"
        "     sven.larsson@byggfirma-norr.invalid\n"
        "\n"
        "Technical details of permanent failure:\n"
        "DNS Error: Domain name not found\n"
        "\n"
        "----- Original message -----\n"
        "\n"
        f"From: {SAM}\n"
        "To: Sven Larsson <sven.larsson@byggfirma-norr.invalid>\n"
        "Subject: Quick question, Sven\n"
        f"Message-ID: {original}\n"
        "\n"
        "Hi Sven,\n"
    )
    return Sample(
        "null sender: domain not found in words only",
        raw,
        "bounce",
        original,
        "hard",
        "",
        "dns",
        "sven.larsson@byggfirma-norr.invalid",
        diagnostic="DNS Error: Domain name not found",
    )


# ---------------------------------------------------------------- automatic replies


def _exchange_automatic_reply() -> Sample:
    answered = outbound_message_id("exchange automatic reply")
    boundary = "_000_AM0PR01MB5432E1D2C3B4A596_"
    raw = _crlf(
        "From: Priya Raman <priya.raman@contoso.example>\n"
        f"To: {SAM}\n"
        "Subject: Automatic reply: Quick question, Priya\n"
        "Thread-Topic: Quick question, Priya\n"
        "Thread-Index: AQHbjBZx2Qf0YV1d3kO7m5rjS1u0dLNqT8kA\n"
        "Date: Mon, 3 Mar 2025 08:00:45 +0000\n"
        "Message-ID: <AM0PR01MB5432E1D2C3B4A596@AM0PR01MB5432.eurprd01.prod.exchangelabs.com>\n"
        f"References: {answered}\n"
        f"In-Reply-To: {answered}\n"
        "Auto-Submitted: auto-generated\n"
        "X-MS-Has-Attach:\n"
        "X-Auto-Response-Suppress: All\n"
        "X-MS-Exchange-Inbox-Rules-Loop: priya.raman@contoso.example\n"
        "X-MS-TNEF-Correlator:\n"
        "Content-Type: multipart/alternative;\n"
        f'\tboundary="{boundary}"\n'
        "MIME-Version: 1.0\n"
        "\n"
        f"--{boundary}\n"
        'Content-Type: text/plain; charset="us-ascii"\n'
        "\n"
        "Thank you for your message. I am out of the office until 10 March with limited access"
        " to email. For urgent matters please contact office@contoso.example.\n"
        "\n"
        f"--{boundary}\n"
        'Content-Type: text/html; charset="us-ascii"\n'
        "\n"
        "<html><body><p>Thank you for your message. I am out of the office until 10 March.</p>"
        "</body></html>\n"
        f"--{boundary}--\n"
    )
    return Sample("exchange: automatic reply (Auto-Submitted)", raw, "auto_reply")


def _exchange_german_qp() -> Sample:
    answered = outbound_message_id("exchange german")
    raw = _crlf(
        "From: Lukas Meier <lukas.meier@meier-logistik.example>\n"
        f"To: {SAM}\n"
        "Subject: Automatische Antwort: Quick question, Lukas\n"
        "Date: Mon, 3 Mar 2025 09:00:47 +0100\n"
        "Message-ID: <FR3P281MB1234ABCD@FR3P281MB1234.DEUP281.PROD.OUTLOOK.COM>\n"
        f"In-Reply-To: {answered}\n"
        f"References: {answered}\n"
        "Auto-Submitted: auto-generated\n"
        "X-Auto-Response-Suppress: All\n"
        "Content-Language: de-DE\n"
        "Content-Type: text/plain; charset=iso-8859-1\n"
        "Content-Transfer-Encoding: quoted-printable\n"
        "MIME-Version: 1.0\n"
        "\n"
        "Vielen Dank f=FCr Ihre Nachricht. Ich bin bis einschlie=DFlich 14. M=E4rz nicht im\n"
        "B=FCro und habe nur eingeschr=E4nkten Zugriff auf meine E-Mails.\n"
    )
    return Sample("exchange: German automatic reply, quoted-printable", raw, "auto_reply")


def _gmail_vacation_responder() -> Sample:
    answered = outbound_message_id("gmail vacation")
    raw = _crlf(
        "MIME-Version: 1.0\n"
        "From: Nadia Benali <nadia@atelier-rive.example>\n"
        "Date: Mon, 3 Mar 2025 09:00:46 +0100\n"
        "Message-ID: <CAF=vacation+7Hq2k3Zt9bX@mail.gmail.com>\n"
        f"In-Reply-To: {answered}\n"
        f"References: {answered}\n"
        "Subject: Absent du bureau jusqu'au 10 mars\n"
        f"To: {SAM}\n"
        "Auto-Submitted: auto-replied\n"
        'Content-Type: multipart/alternative; boundary="000000000000f00dfeed0a1b2c3d"\n'
        "\n"
        "--000000000000f00dfeed0a1b2c3d\n"
        'Content-Type: text/plain; charset="UTF-8"\n'
        "Content-Transfer-Encoding: quoted-printable\n"
        "\n"
        "Bonjour, je suis absente jusqu'au 10 mars. Je r=C3=A9pondrai =C3=A0 votre message =\n"
        "d=C3=A8s mon retour.\n"
        "\n"
        "--000000000000f00dfeed0a1b2c3d\n"
        'Content-Type: text/html; charset="UTF-8"\n'
        "\n"
        '<div dir="ltr">Bonjour, je suis absente jusqu\'au 10 mars.</div>\n'
        "\n"
        "--000000000000f00dfeed0a1b2c3d--\n"
    )
    return Sample("gmail: vacation responder (auto-replied), own subject", raw, "auto_reply")


def _french_x_autoreply() -> Sample:
    answered = outbound_message_id("french x-autoreply")
    raw = _crlf(
        "From: Marc Dubois <marc@agence-lumiere.example>\n"
        f"To: {SAM}\n"
        "Subject: =?UTF-8?Q?R=C3=A9ponse_automatique_:_Quick_question,_Marc?=\n"
        "Date: Mon, 3 Mar 2025 09:01:02 +0100\n"
        "Message-ID: <autoreply.5f2a91@mail.agence-lumiere.example>\n"
        f"In-Reply-To: {answered}\n"
        "X-Autoreply: yes\n"
        "Content-Type: text/plain; charset=UTF-8\n"
        "Content-Transfer-Encoding: 8bit\n"
        "\n"
        "Bonjour,\n\nJe suis en congés jusqu'au lundi 10 mars.\n\nCordialement,\nMarc\n"
    )
    return Sample("french: X-Autoreply, encoded subject", raw, "auto_reply")


def _spanish_precedence_auto_reply() -> Sample:
    raw = (
        b"From: Diego Fernandez <diego.fernandez@logistica-sur.example>\r\n"
        b"To: Sam Carter <sam@tryvectorpath.com>\r\n"
        b"Subject: =?iso-8859-1?Q?Respuesta_autom=E1tica=3A_Quick_question=2C_Diego?=\r\n"
        b"Date: Mon, 3 Mar 2025 09:01:10 +0100\r\n"
        b"Message-ID: <vacation-1741000870@logistica-sur.example>\r\n"
        b"Precedence: auto_reply\r\n"
        b"Content-Type: text/plain; charset=iso-8859-1\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n"
        b"\r\n"
        b"Estar\xe9 fuera de la oficina hasta el 10 de marzo.\r\n"
    )
    return Sample("spanish: Precedence auto_reply, latin-1", raw, "auto_reply")


def _italian_subject_only() -> Sample:
    answered = outbound_message_id("italian subject only")
    body = "Sono fuori sede fino al 12 marzo, con accesso limitato alla posta.\n"
    raw = _crlf(
        "From: Giulia Romano <giulia.romano@studio-romano.example>\n"
        f"To: {SAM}\n"
        "Subject: Risposta automatica: Quick question, Giulia\n"
        "Date: Mon, 3 Mar 2025 09:02:00 +0100\n"
        "Message-ID: <oof-20250303-0902@studio-romano.example>\n"
        f"In-Reply-To: {answered}\n"
        "MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: base64\n"
        "\n" + _b64(body.encode())
    )
    return Sample("italian: subject only, base64 body", raw, "auto_reply")


def _dutch_subject_only_quoting_original() -> Sample:
    quoted = outbound_message_id("dutch quoted original")
    raw = _crlf(
        "From: Wouter de Vries <wouter@bakkerij-devries.example>\n"
        f"To: {SAM}\n"
        "Subject: Afwezig: Quick question, Wouter\n"
        "Date: Mon, 3 Mar 2025 09:02:30 +0100\n"
        "Message-ID: <afwezig.20250303@bakkerij-devries.example>\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "\n"
        "Ik ben afwezig tot en met 14 maart. Voor dringende zaken kunt u bellen.\n"
        "\n"
        "----- Oorspronkelijk bericht -----\n"
        f"From: {SAM}\n"
        "To: Wouter de Vries <wouter@bakkerij-devries.example>\n"
        "Subject: Quick question, Wouter\n"
        f"Message-ID: {quoted}\n"
        "\n"
        "Hi Wouter,\n"
    )
    return Sample(
        "dutch: subject only, no threading fields, quotes the original's Message-ID",
        raw,
        "auto_reply",
        quoted,
    )


def _portuguese_x_autorespond() -> Sample:
    answered = outbound_message_id("portuguese x-autorespond")
    raw = _crlf(
        "From: Ana Souza <ana.souza@empresa-exemplo.example>\n"
        f"To: {SAM}\n"
        "Subject: =?UTF-8?B?UmVzcG9zdGEgYXV0b23DoXRpY2E6IFF1aWNrIHF1ZXN0aW9uLCBBbmE=?=\n"
        "Date: Mon, 3 Mar 2025 05:03:00 -0300\n"
        "Message-ID: <autorespond.91f0@empresa-exemplo.example>\n"
        f"In-Reply-To: {answered}\n"
        f"References: {answered}\n"
        "X-Autorespond: Resposta automatica\n"
        "Content-Type: text/plain; charset=UTF-8\n"
        "\n"
        "Estou de férias até 14 de março.\n"
    )
    return Sample("portuguese: X-Autorespond, base64-encoded subject", raw, "auto_reply")


def _swedish_subject_only() -> Sample:
    raw = _crlf(
        "From: Sven Larsson <sven.larsson@byggfirma.example>\n"
        f"To: {SAM}\n"
        "Subject: =?UTF-8?Q?Fr=C3=A5nvaro:_Quick_question,_Sven?=\n"
        "Date: Mon, 3 Mar 2025 09:03:30 +0100\n"
        "Message-ID: <franvaro.20250303@byggfirma.example>\n"
        "Content-Type: text/plain; charset=UTF-8\n"
        "\n"
        "Jag är på semester till och med 14 mars.\n"
    )
    return Sample("swedish: subject only, no threading fields", raw, "auto_reply")


def _norwegian_subject_only() -> Sample:
    answered = outbound_message_id("norwegian subject only")
    raw = _crlf(
        "From: Mette Hansen <mette@fjordtech.example>\n"
        f"To: {SAM}\n"
        "Subject: =?UTF-8?Q?Frav=C3=A6rende:_Quick_question,_Mette?=\n"
        "Date: Mon, 3 Mar 2025 09:04:00 +0100\n"
        "Message-ID: <fravaer.20250303@fjordtech.example>\n"
        f"In-Reply-To: {answered}\n"
        "Content-Type: text/plain; charset=UTF-8\n"
        "\n"
        "Jeg er på ferie til 14. mars.\n"
    )
    return Sample("norwegian: subject only", raw, "auto_reply")


def _polish_subject_only() -> Sample:
    answered = outbound_message_id("polish subject only")
    subject = "Automatyczna odpowiedź: Quick question, Katarzyna".encode("iso-8859-2")
    raw = _crlf(
        "From: Katarzyna Nowak <k.nowak@biuro-rachunkowe.example>\n"
        f"To: {SAM}\n"
        f"Subject: =?ISO-8859-2?B?{base64.b64encode(subject).decode()}?=\n"
        "Date: Mon, 3 Mar 2025 09:04:30 +0100\n"
        "Message-ID: <odp.20250303@biuro-rachunkowe.example>\n"
        f"References: {answered}\n"
        "Content-Type: text/plain; charset=UTF-8\n"
        "\n"
        "Jestem na urlopie do 14 marca.\n"
    )
    return Sample("polish: subject only, ISO-8859-2 encoded word", raw, "auto_reply")


def _english_out_of_office_subject_only() -> Sample:
    answered = outbound_message_id("english out of office")
    raw = _crlf(
        "From: Tom Baker <tom.baker@fabrikam.example>\n"
        f"To: {SAM}\n"
        "Subject: Out of Office: Quick question, Tom\n"
        "Date: Mon, 3 Mar 2025 08:05:00 +0000\n"
        "Message-ID: <OOF.4411@EX01.fabrikam.local>\n"
        f"In-Reply-To: {answered}\n"
        "Content-Type: text/plain; charset=us-ascii\n"
        "\n"
        "I am currently out of the office and will return on Monday.\n"
    )
    return Sample("exchange 2007: Out of Office subject only", raw, "auto_reply")


def _japanese_subject_only() -> Sample:
    subject = "自動返信: Quick question".encode()
    raw = _crlf(
        "From: Yuki Tanaka <y.tanaka@shoji.example>\n"
        f"To: {SAM}\n"
        f"Subject: =?UTF-8?B?{base64.b64encode(subject).decode()}?=\n"
        "Date: Mon, 3 Mar 2025 17:05:00 +0900\n"
        "Message-ID: <auto.20250303.1705@shoji.example>\n"
        "Content-Type: text/plain; charset=UTF-8\n"
        "\n"
        "3月10日まで不在にしております。\n"
    )
    return Sample("japanese: subject only", raw, "auto_reply")


def _helpdesk_precedence_bulk_answer() -> Sample:
    answered = outbound_message_id("helpdesk bulk")
    raw = _crlf(
        "From: Handelshaus Support <support@handelshaus.example>\n"
        f"To: {SAM}\n"
        "Subject: [Ticket #48213] Re: Quick question, Jonas\n"
        "Date: Mon, 3 Mar 2025 08:06:00 +0000\n"
        "Message-ID: <ticket-48213-ack@support.handelshaus.example>\n"
        f"In-Reply-To: {answered}\n"
        f"References: {answered}\n"
        "Precedence: bulk\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "\n"
        "Thank you for contacting us. Your request has been received and a ticket (#48213)\n"
        "has been opened. We will get back to you within two business days.\n"
    )
    return Sample("helpdesk: Precedence bulk on an answer", raw, "auto_reply")


def _precedence_junk_quoting_original() -> Sample:
    quoted = outbound_message_id("precedence junk quoted")
    raw = _crlf(
        "From: Lukas Meier <lukas@meier-logistik.example>\n"
        f"To: {SAM}\n"
        "Subject: Re: Quick question, Lukas\n"
        "Date: Mon, 3 Mar 2025 09:06:30 +0100\n"
        "Message-ID: <cpanel-autoresponder.1741000890@meier-logistik.example>\n"
        "Precedence: junk\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "\n"
        "Thank you for your email. I am travelling until 14 March.\n"
        "\n"
        f"> From: {SAM}\n"
        "> Subject: Quick question, Lukas\n"
        f"> Message-ID: {quoted}\n"
        ">\n"
        "> Hi Lukas,\n"
    )
    return Sample(
        "autoresponder: Precedence junk, no threading fields, quotes the original",
        raw,
        "auto_reply",
        quoted,
    )


def _exchange_delivery_receipt() -> Sample:
    original = outbound_message_id("exchange delivery receipt")
    to = "Priya Raman <priya.raman@contoso.example>"
    boundary = "_005_AM8PR01MB7654DE11FEEDED_"
    raw = _crlf(
        f"From: postmaster@contoso.example\n"
        f"To: sam@{OUR_DOMAIN}\n"
        "Date: Mon, 3 Mar 2025 08:00:44 +0000\n"
        "Content-Type: multipart/report; report-type=delivery-status;\n"
        f'\tboundary="{boundary}"\n'
        "Message-ID: <d3l1v3r3d-0001@AM8PR01MB7654.eurprd01.prod.exchangelabs.com>\n"
        "Subject: Delivered: Quick question, Priya\n"
        "MIME-Version: 1.0\n"
        "\n"
        f"--{boundary}\n"
        'Content-Type: text/plain; charset="us-ascii"\n'
        "\n"
        "Your message has been delivered to the following recipients:\n"
        "\n"
        "priya.raman@contoso.example\n"
        "\n"
        f"--{boundary}\n"
        "Content-Type: message/delivery-status\n"
        "\n"
        "Reporting-MTA: dns;AM8PR01MB7654.eurprd01.prod.exchangelabs.com\n"
        "\n"
        "Final-Recipient: rfc822;priya.raman@contoso.example\n"
        "Action: delivered\n"
        "Status: 2.0.0\n"
        "\n"
        f"--{boundary}\n"
        "Content-Type: text/rfc822-headers\n"
        "\n" + _original_headers(original, to, "Quick question, Priya") + f"\n--{boundary}--\n"
    )
    return Sample(
        "exchange: delivery receipt (a DSN of a delivery), not a bounce",
        raw,
        "auto_reply",
        original,
    )


def _read_receipt() -> Sample:
    original = outbound_message_id("read receipt")
    boundary = "----=_NextPart_MDN_0001"
    raw = _crlf(
        "From: Jane Doe <jane@example.com>\n"
        f"To: {SAM}\n"
        "Subject: Read: Quick question, Jane\n"
        "Date: Mon, 3 Mar 2025 10:15:00 +0000\n"
        "Message-ID: <mdn.20250303101500@example.com>\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/report; report-type=disposition-notification;\n"
        f'\tboundary="{boundary}"\n'
        "\n"
        f"--{boundary}\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "\n"
        "Your message to jane@example.com was read on Monday, 3 March 2025 10:15.\n"
        "\n"
        f"--{boundary}\n"
        "Content-Type: message/disposition-notification\n"
        "\n"
        "Reporting-UA: example.com; Microsoft Outlook 16.0\n"
        "Final-Recipient: rfc822;jane@example.com\n"
        f"Original-Message-ID: {original}\n"
        "Disposition: manual-action/MDN-sent-manually; displayed\n"
        "\n"
        f"--{boundary}--\n"
    )
    return Sample("read receipt (disposition notification)", raw, "auto_reply", original)


# ---------------------------------------------------------------- people, and near misses


def _human_reply_threaded() -> Sample:
    answered = outbound_message_id("human reply threaded")
    boundary = "000000000000c0ffee0123456789"
    raw = _crlf(
        "MIME-Version: 1.0\n"
        "From: Jane Doe <jane@example.com>\n"
        "Date: Mon, 3 Mar 2025 10:21:07 +0000\n"
        "Message-ID: <CAJ7xQk2v=Yd0pL3mN8rT5sW9uZ1aB4cD6eF@mail.gmail.com>\n"
        f"In-Reply-To: {answered}\n"
        f"References: {answered}\n"
        "Subject: Re: Quick question, Jane\n"
        f"To: {SAM}\n"
        f'Content-Type: multipart/alternative; boundary="{boundary}"\n'
        "\n"
        f"--{boundary}\n"
        'Content-Type: text/plain; charset="UTF-8"\n'
        "\n"
        "Hi Sam,\n\nSure, Tuesday at 10am works for me.\n\nJane\n\n"
        f"On Mon, 3 Mar 2025 at 08:00, Sam Carter <sam@{OUR_DOMAIN}> wrote:\n"
        "> Hi Jane,\n>\n> Worth a quick chat next week?\n"
        f"\n--{boundary}\n"
        'Content-Type: text/html; charset="UTF-8"\n'
        "\n"
        '<div dir="ltr">Hi Sam,<div><br></div><div>Sure, Tuesday at 10am works for me.</div>'
        "</div>\n"
        f"\n--{boundary}--\n"
    )
    return Sample("person: threaded reply", raw, "email")


def _human_reply_outlook_stripped() -> Sample:
    raw = _crlf(
        "From: Tom Baker <tom.baker@fabrikam.example>\n"
        f"To: {SAM}\n"
        "Subject: RE: Quick question, Tom\n"
        "Date: Mon, 3 Mar 2025 11:02:00 +0100\n"
        "Message-ID: <DB7PR03MB4976C1A2B3@DB7PR03MB4976.eurprd03.prod.outlook.com>\n"
        "Content-Type: text/plain; charset=us-ascii\n"
        "\n"
        "Hi Sam,\n\nNot right now, maybe in Q3.\n\nTom\n\n"
        "-----Original Message-----\n"
        f"From: {SAM}\n"
        "Sent: Monday, March 3, 2025 9:00 AM\n"
        "To: Tom Baker <tom.baker@fabrikam.example>\n"
        "Subject: Quick question, Tom\n"
        "\n"
        "Hi Tom,\n"
    )
    return Sample(
        "person: reply without threading fields, quote without a Message-ID", raw, "email"
    )


def _human_reply_quoting_message_id() -> Sample:
    quoted = outbound_message_id("human reply quoting message id")
    raw = _crlf(
        "From: Marc Dubois <marc@agence-lumiere.example>\n"
        f"To: {SAM}\n"
        "Subject: Re: Quick question, Marc\n"
        "Date: Mon, 3 Mar 2025 11:30:00 +0100\n"
        "Message-ID: <8d2c6f1e-3b4a-4c5d-9e8f-7a6b5c4d3e2f@agence-lumiere.example>\n"
        "User-Agent: Mozilla Thunderbird\n"
        "Content-Type: text/plain; charset=UTF-8; format=flowed\n"
        "\n"
        "Hello Sam,\n\nI'm looping in my colleague who handles onboarding.\n\nMarc\n\n"
        "-------- Original Message --------\n"
        "Subject: Quick question, Marc\n"
        "Date: Mon, 03 Mar 2025 08:00:38 +0000\n"
        f"From: {SAM}\n"
        "To: Marc Dubois <marc@agence-lumiere.example>\n"
        f"Message-ID: {quoted}\n"
        "\n"
        "Hi Marc,\n"
    )
    return Sample(
        "person: reply without threading fields, quoting the original's Message-ID",
        raw,
        "email",
        quoted,
    )


def _human_reply_html_only() -> Sample:
    answered = outbound_message_id("human reply html")
    raw = _crlf(
        "From: Ana Souza <ana.souza@empresa-exemplo.example>\n"
        f"To: {SAM}\n"
        "Subject: RES: Quick question, Ana\n"
        "Date: Mon, 3 Mar 2025 09:10:00 -0300\n"
        "Message-ID: <html-reply-33@empresa-exemplo.example>\n"
        f"In-Reply-To: {answered}\n"
        "Content-Type: text/html; charset=utf-8\n"
        "\n"
        "<html><body><p>Olá Sam, podemos falar na quinta-feira?</p>"
        "<blockquote>Hi Ana, worth a quick chat next week?</blockquote></body></html>\n"
    )
    return Sample("person: HTML-only reply", raw, "email")


def _back_from_vacation() -> Sample:
    answered = outbound_message_id("back from vacation")
    raw = _crlf(
        "From: Lukas Meier <lukas.meier@meier-logistik.example>\n"
        f"To: {SAM}\n"
        "Subject: Re: Quick question, Lukas\n"
        "Date: Mon, 17 Mar 2025 08:30:00 +0100\n"
        "Message-ID: <back.20250317@meier-logistik.example>\n"
        f"In-Reply-To: {answered}\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "\n"
        "Hi Sam,\n\nSorry for the slow reply, I'm back from vacation now and was out of the\n"
        "office for two weeks. Happy to talk on Thursday.\n\nLukas\n"
    )
    return Sample("near miss: a person back from vacation", raw, "email")


def _reply_quoting_a_bounce() -> Sample:
    answered = outbound_message_id("reply quoting a bounce")
    raw = _crlf(
        "From: Jonas Weber <jonas.weber@handelshaus.example>\n"
        f"To: {SAM}\n"
        "Subject: Re: Undeliverable: Quick question, Jonas\n"
        "Date: Mon, 3 Mar 2025 12:00:00 +0100\n"
        "Message-ID: <reply-about-bounce@handelshaus.example>\n"
        f"In-Reply-To: {answered}\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "\n"
        "Hi Sam, my old address was retired, please use this one from now on.\n\n"
        "On Mon, 3 Mar 2025, Sam Carter wrote:\n"
        "> FYI, my email to you bounced:\n"
        ">\n"
        "> Delivery has failed to these recipients or groups:\n"
        "> jonas@handelshaus.example\n"
        "> Remote Server returned '550 5.1.1 RESOLVER.ADR.RecipientNotFound; Recipient not"
        " found by SMTP address lookup'\n"
    )
    return Sample("near miss: a person's reply quoting a bounce", raw, "email")


def _forwarded_bounce() -> Sample:
    inner = _exim_user_unknown().raw.decode()
    boundary = "fwd-boundary-7781"
    raw = (
        _crlf(
            "From: Tom Baker <tom.baker@fabrikam.example>\n"
            f"To: {SAM}\n"
            "Subject: Fwd: Mail delivery failed: returning message to sender\n"
            "Date: Mon, 3 Mar 2025 13:00:00 +0100\n"
            "Message-ID: <fwd-bounce@fabrikam.example>\n"
            "MIME-Version: 1.0\n"
            f'Content-Type: multipart/mixed; boundary="{boundary}"\n'
            "\n"
            f"--{boundary}\n"
            "Content-Type: text/plain; charset=utf-8\n"
            "\n"
            "FYI, Marc's address changed, see the attached message. He is now marc@lumiere.example.\n"
            f"\n--{boundary}\n"
            "Content-Type: message/rfc822\n"
            'Content-Disposition: attachment; filename="bounce.eml"\n'
            "\n"
        )
        + inner.encode()
        + _crlf(f"\n--{boundary}--\n")
    )
    return Sample("near miss: a person forwarding a bounce as an attachment", raw, "email")


def _newsletter() -> Sample:
    raw = _crlf(
        "From: Acme Weekly <news@acme-weekly.example>\n"
        f"To: sam@{OUR_DOMAIN}\n"
        "Subject: Your weekly digest: five onboarding ideas\n"
        "Date: Mon, 3 Mar 2025 07:00:00 +0000\n"
        "Message-ID: <weekly-2025-10.abc123@mail.acme-weekly.example>\n"
        "Precedence: bulk\n"
        "List-ID: Acme Weekly <weekly.list-id.acme-weekly.example>\n"
        "List-Unsubscribe: <https://acme-weekly.example/unsubscribe?u=8812>\n"
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "\n"
        "This week: five onboarding ideas, and how to write an out-of-office message.\n"
    )
    return Sample("near miss: a newsletter (Precedence bulk, answers nothing)", raw, "email")


def _vacation_deals_newsletter() -> Sample:
    raw = _crlf(
        "From: Travel Deals <deals@travel-deals.example>\n"
        f"To: sam@{OUR_DOMAIN}\n"
        "Subject: Out of office furniture and vacation deals: 20% off until Friday\n"
        "Date: Mon, 3 Mar 2025 07:30:00 +0000\n"
        "Message-ID: <deals-0303@travel-deals.example>\n"
        "Precedence: bulk\n"
        "List-Unsubscribe: <mailto:unsubscribe@travel-deals.example>\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "\n"
        "Spring deals are here.\n"
    )
    return Sample("near miss: a promotion whose subject starts like an out-of-office", raw, "email")


def _postmaster_question() -> Sample:
    raw = _crlf(
        "From: postmaster@brauerei-beispiel.example\n"
        f"To: {SAM}\n"
        "Subject: Question about your offer\n"
        "Date: Mon, 3 Mar 2025 14:00:00 +0100\n"
        "Message-ID: <question-1@brauerei-beispiel.example>\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "\n"
        "Hello, I run the mail systems here and would like a demo next week.\n"
    )
    return Sample("near miss: a postmaster writing as a person", raw, "email")


def samples() -> list[Sample]:
    """Every sample, in a fixed order."""
    return [
        _postfix_user_unknown(),
        _postfix_delayed(),
        _postfix_domain_not_found(),
        _exim_user_unknown(),
        _exim_mailbox_full_no_enhanced_code(),
        _exim_delay_warning(),
        _sendmail_user_unknown(),
        _sendmail_content_rejected_inline(),
        _qmail_user_unknown(),
        _qmail_no_such_host(),
        _office365_recipient_not_found(),
        _office365_mailbox_full(),
        _exchange_not_authorized_inline(),
        _exchange_delayed(),
        _gmail_address_not_found(),
        _gmail_delayed(),
        _gmail_blocked(),
        _yahoo_no_account(),
        _yahoo_mailbox_full_wording_only(),
        _ses_user_unknown(),
        _ses_expired(),
        _mimecast_html_only(),
        _gateway_temporary_failure(),
        _null_sender_domain_not_found(),
        _exchange_automatic_reply(),
        _exchange_german_qp(),
        _gmail_vacation_responder(),
        _french_x_autoreply(),
        _spanish_precedence_auto_reply(),
        _italian_subject_only(),
        _dutch_subject_only_quoting_original(),
        _portuguese_x_autorespond(),
        _swedish_subject_only(),
        _norwegian_subject_only(),
        _polish_subject_only(),
        _english_out_of_office_subject_only(),
        _japanese_subject_only(),
        _helpdesk_precedence_bulk_answer(),
        _precedence_junk_quoting_original(),
        _exchange_delivery_receipt(),
        _read_receipt(),
        _human_reply_threaded(),
        _human_reply_outlook_stripped(),
        _human_reply_quoting_message_id(),
        _human_reply_html_only(),
        _back_from_vacation(),
        _reply_quoting_a_bounce(),
        _forwarded_bounce(),
        _newsletter(),
        _vacation_deals_newsletter(),
        _postmaster_question(),
    ]


SAMPLES: list[Sample] = samples()
