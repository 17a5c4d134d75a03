"""An RFC 5322 rendering of a structured (StoreMessage) message (pure)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr

from service.models import Address, Attachment, Message

log = logging.getLogger(__name__)

# Headers the rendering writes itself from the message's fields and parts.
_OWN = {
    "from",
    "to",
    "cc",
    "bcc",
    "reply-to",
    "subject",
    "date",
    "message-id",
    "in-reply-to",
    "references",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
}


def _addresses(addresses: Sequence[Address]) -> str:
    return ", ".join(formataddr((a.name, a.email)) for a in addresses)


def render_message(message: Message, attachments: Sequence[tuple[Attachment, bytes]]) -> bytes:
    """A well-formed MIME message: headers, text and HTML as alternatives, then attachments.

    Bcc is left out, as a mail client leaves it out of what recipients see.
    """
    msg = EmailMessage(policy=SMTP)
    if message.from_address is not None:
        msg["From"] = formataddr((message.from_address.name, message.from_address.email))
    for name, addresses in (("To", message.to), ("Cc", message.cc), ("Reply-To", message.reply_to)):
        if addresses:
            msg[name] = _addresses(addresses)
    msg["Subject"] = message.subject
    msg["Date"] = format_datetime(message.sent_at or message.created_at)
    if message.message_id_header:
        msg["Message-ID"] = message.message_id_header
    if message.in_reply_to:
        msg["In-Reply-To"] = message.in_reply_to
    if message.references:
        msg["References"] = " ".join(message.references)
    for header in message.headers or ():
        if header.name.lower() in _OWN:
            continue
        try:
            msg[header.name] = header.value
        except (ValueError, TypeError):  # a value the header registry cannot represent
            log.debug("header %s left out of the rendering", header.name)
    text, html = message.text_body or "", message.html_body or ""
    if html and text:
        msg.set_content(text)
        msg.add_alternative(html, subtype="html")
    elif html:
        msg.set_content(html, subtype="html")
    else:
        msg.set_content(text)
    for attachment, data in attachments:
        maintype, _, subtype = attachment.mime_type.partition("/")
        msg.add_attachment(
            data,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=attachment.filename or None,
            disposition=attachment.disposition or "attachment",
            cid=f"<{attachment.content_id}>" if attachment.content_id else None,
        )
    return msg.as_bytes()
