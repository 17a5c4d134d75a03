"""An RFC 5322 rendering of a structured (StoreMessage) message (pure).

The email package writes the headers, the text and HTML alternatives and the MIME structure.
Attachment bytes can be large, so they are not handed to it: each attachment gets a random
placeholder, and the rendering is returned as a plan, literal bytes and references to the
attachments' bodies with how the email package encodes them (base64, 76-character CRLF lines),
for the caller to stream each body from storage into its place.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
from collections.abc import Sequence
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8, Policy
from email.utils import format_datetime, formataddr

from service.codec.mime import BodyRef
from service.models import Address, Attachment, Content, Message

log = logging.getLogger(__name__)

# How the email package writes a bytes attachment: base64 in lines of max_line_length // 4 * 4
# characters (76 under SMTP), each ending in the policy's line separator.
_ATTACHMENT_FORM = ("base64", (SMTP.max_line_length or 78) // 4 * 4, SMTP.linesep, True)

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


def _address(a: Address) -> str:
    if a.email.isascii():
        return formataddr((a.name, a.email))
    # RFC 6532: the address itself in UTF-8 (formataddr takes ASCII addresses only).
    local, _, domain = a.email.rpartition("@")
    return str(HeaderAddress(display_name=a.name, username=local, domain=domain))


def _addresses(addresses: Sequence[Address]) -> str:
    return ", ".join(_address(a) for a in addresses)


def _policy(message: Message) -> Policy:
    """SMTP, or SMTPUTF8 (RFC 6532 headers in UTF-8) when an address is internationalised."""
    e = message.envelope
    everyone = [e.from_address, *e.to, *e.cc, *e.reply_to]
    if any(a is not None and not a.email.isascii() for a in everyone):
        return SMTPUTF8
    return SMTP


def render_plan(
    message: Message, content: Content, attachments: Sequence[Attachment]
) -> list[bytes | BodyRef]:
    """A well-formed MIME message (headers, text and HTML as alternatives, then attachments) as
    literal bytes and, where attachment i's body goes, a BodyRef with index i.

    Bcc is left out, as a mail client leaves it out of what recipients see.
    """
    # Random placeholders, one base64 line each: nothing else in the message can contain them.
    nonce = os.urandom(24)
    placeholders = [nonce + i.to_bytes(3, "big") for i in range(len(attachments))]
    rendered = _email(
        message, content, list(zip(attachments, placeholders, strict=True))
    ).as_bytes()
    form, line_length, eol, final_eol = _ATTACHMENT_FORM
    plan: list[bytes | BodyRef] = []
    position = 0
    for i, placeholder in enumerate(placeholders):
        line = base64.b64encode(placeholder) + eol.encode()
        found = rendered.index(line, position)
        plan.append(rendered[position:found])
        plan.append(BodyRef(i, form, line_length, eol, final_eol))
        position = found + len(line)
    plan.append(rendered[position:])
    return plan


def _email(
    message: Message, content: Content, attachments: Sequence[tuple[Attachment, bytes]]
) -> EmailMessage:
    msg = EmailMessage(policy=_policy(message))
    e = message.envelope
    if e.from_address is not None:
        msg["From"] = _address(e.from_address)
    for name, addresses in (("To", e.to), ("Cc", e.cc), ("Reply-To", e.reply_to)):
        if addresses:
            msg[name] = _addresses(addresses)
    msg["Subject"] = e.subject
    msg["Date"] = format_datetime(message.times.sent_at or message.times.created_at)
    if e.message_id_header:
        msg["Message-ID"] = e.message_id_header
    if e.in_reply_to:
        msg["In-Reply-To"] = e.in_reply_to
    if e.references:
        msg["References"] = " ".join(e.references)
    for header in content.headers:
        if header.name.lower() in _OWN:
            continue
        try:
            msg[header.name] = header.value
        except (ValueError, TypeError):  # a value the header registry cannot represent
            log.debug("header %s left out of the rendering", header.name)
    text, html = content.text_body, content.html_body
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
    # Boundaries from the message's key and content digest instead of the email package's
    # random ones: every rendering of a message is the same bytes (an export made twice, or
    # re-imported and exported again, compares equal). Nothing in the content can hold them:
    # they are a digest of that content.
    seed = hashlib.sha256(f"{message.storage_key}\n{message.size.content_hash}".encode())
    for n, part in enumerate(p for p in msg.walk() if p.is_multipart()):
        part.set_boundary(f"=_{seed.hexdigest()[:40]}_{n}")
    return msg
