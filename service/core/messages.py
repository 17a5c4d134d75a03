"""Message use cases: store (one or many), read, list, delete, storage usage."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Any

from opentelemetry import trace

from service.codec.blobs import BlobSet, decode_blob
from service.config import Config
from service.core import keys, validation
from service.core.page_tokens import PagePosition, PageTokens
from service.core.validation import Violations
from service.errors import FieldViolation, InvalidArgument
from service.models import (
    Address,
    Direction,
    ListMessagesInput,
    Message,
    MessagePage,
    MessageStatus,
    MessageType,
    StorageUsage,
    StoreMessageInput,
    StoreResult,
    View,
)
from service.store.messages import MessageRepository, PageCursor
from service.store.records import NewAttachment, NewMessage, StoredBlob

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
# Below this many bytes, compressing on the event loop is cheaper than a hop to a thread.
_INLINE_ENCODE_BYTES = 256 * 1024


def _pairs(addresses: tuple[Address, ...]) -> list[list[str]]:
    return [[a.email, a.name] for a in addresses]


def sha256_json(value: Any) -> bytes:
    return hashlib.sha256(
        json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode()
    ).digest()


@dataclass(frozen=True)
class _Prepared:
    """A validated request, normalized, before its bytes are encoded."""

    request: StoreMessageInput
    direction: Direction
    message_type: MessageType
    status: MessageStatus
    from_address: Address
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    bcc: tuple[Address, ...]
    reply_to: tuple[Address, ...]
    attachments: list[tuple[NewAttachment, bytes | None]]


class MessageService:
    """The message use cases, over one repository."""

    def __init__(self, config: Config, repository: MessageRepository, tokens: PageTokens) -> None:
        self.config = config
        self.repository = repository
        self.tokens = tokens

    # ------------------------------------------------------------------ store

    async def store_message(self, request: StoreMessageInput) -> StoreResult:
        """Validates, encodes and stores one message in one transaction."""
        request = replace(request, tenant_id=validation.tenant_id(request.tenant_id))
        prepared = self._validate(request)
        span = trace.get_current_span()
        span.set_attribute("emailstore.tenant_id", request.tenant_id)
        total = len(request.text_body) + len(request.html_body)
        total += sum(len(a.content or b"") for a in request.attachments)
        if total > _INLINE_ENCODE_BYTES:
            new = await asyncio.to_thread(self._build, prepared)
        else:
            new = self._build(prepared)
        message, deduplicated = await self.repository.insert_message(new)
        span.set_attribute("emailstore.storage_key", message.storage_key)
        span.set_attribute("emailstore.raw_size_bytes", message.raw_size_bytes)
        span.set_attribute("emailstore.stored_size_bytes", message.stored_size_bytes)
        span.set_attribute("emailstore.deduplicated", deduplicated)
        return StoreResult(message=message, deduplicated=deduplicated)

    def _validate(self, r: StoreMessageInput) -> _Prepared:
        cfg = self.config
        v = Violations()
        if r.storage_key:
            validation.storage_key(r.storage_key)
        if r.request_id and not validation.REQUEST_ID_RE.match(r.request_id):
            v.add("request_id", "must be 1-200 printable ASCII characters without spaces")
        for field in ("email_account_id", "campaign_id", "lead_id"):
            validation.check_id(v, field, getattr(r, field))
        if r.direction is None:
            v.add("direction", "is required: INBOUND or OUTBOUND")
        if r.from_address is None:
            v.add("from_address", "is required")
            from_address = None
        else:
            from_address = validation.normalize_address(v, "from_address", r.from_address)
        to = validation.normalize_addresses(v, "to", r.to)
        cc = validation.normalize_addresses(v, "cc", r.cc)
        bcc = validation.normalize_addresses(v, "bcc", r.bcc)
        reply_to = validation.normalize_addresses(v, "reply_to", r.reply_to)
        if not (r.to or r.cc or r.bcc):
            v.add("to", "at least one recipient (to, cc or bcc) is required")
        validation.check_text_line(v, "subject", r.subject, cfg.max_subject_chars)
        header_bytes = 0
        for i, header in enumerate(r.headers):
            if not validation.HEADER_NAME_RE.match(header.name):
                v.add(f"headers[{i}].name", "must be 1-200 printable ASCII characters, no colon")
            if validation.LINE_BREAKS.search(header.value):
                v.add(f"headers[{i}].value", "must not contain CR, LF or NUL")
            header_bytes += len(header.name) + len(header.value.encode()) + 4
        validation.check_message_id(v, "message_id_header", r.message_id_header)
        validation.check_message_id(v, "in_reply_to", r.in_reply_to)
        if len(r.references) > validation.MAX_REFERENCES:
            v.add("references", f"at most {validation.MAX_REFERENCES} entries")
        for i, ref in enumerate(r.references):
            validation.check_message_id(v, f"references[{i}]", ref)
        validation.check_labels(v, r.labels)
        attachments: list[tuple[NewAttachment, bytes | None]] = []
        for i, a in enumerate(r.attachments):
            field = f"attachments[{i}]"
            validation.check_text_line(
                v, f"{field}.filename", a.filename, validation.MAX_FILENAME_CHARS
            )
            mime_type = (a.mime_type or "application/octet-stream").lower()
            if not validation.MIME_TYPE_RE.match(mime_type) or len(mime_type) > 255:
                v.add(f"{field}.mime_type", "must be type/subtype, e.g. application/pdf")
            disposition = (a.disposition or "attachment").lower()
            if disposition not in ("attachment", "inline"):
                v.add(f"{field}.disposition", "must be 'attachment' or 'inline'")
            content_id = a.content_id.strip().removeprefix("<").removesuffix(">")
            if content_id and not validation.MESSAGE_ID_RE.match(f"<{content_id}>"):
                v.add(f"{field}.content_id", "must not contain whitespace or angle brackets")
            sha = b""
            if a.content is not None:
                validation.check_limit(
                    f"{field} size in bytes",
                    len(a.content),
                    cfg.max_attachment_bytes,
                    "EMAILSTORE_MAX_ATTACHMENT_BYTES",
                )
            elif a.blob_sha256:
                digest = a.blob_sha256.lower()
                if validation.SHA256_RE.match(digest):
                    sha = bytes.fromhex(digest)
                else:
                    v.add(f"{field}.blob_sha256", "must be 64 hex characters (SHA-256)")
            else:
                v.add(f"{field}", "content or blob_sha256 is required")
            attachments.append(
                (
                    NewAttachment(
                        attachment_id=str(i + 1),
                        position=i,
                        filename=a.filename,
                        mime_type=mime_type,
                        disposition=disposition,
                        content_id=content_id,
                        sha256=sha,
                    ),
                    a.content,
                )
            )
        v.raise_if_any()
        # Limits of size and count: RESOURCE_EXHAUSTED, as configured.
        validation.check_limit(
            "recipients (to + cc + bcc)",
            len(to) + len(cc) + len(bcc),
            cfg.max_recipients,
            "EMAILSTORE_MAX_RECIPIENTS",
        )
        validation.check_limit(
            "attachments", len(attachments), cfg.max_attachments, "EMAILSTORE_MAX_ATTACHMENTS"
        )
        validation.check_limit(
            "header block in bytes",
            header_bytes,
            cfg.max_header_bytes,
            "EMAILSTORE_MAX_HEADER_BYTES",
        )
        body_bytes = len(r.text_body.encode()) + len(r.html_body.encode())
        body_bytes += sum(len(c) for _, c in attachments if c is not None)
        validation.check_limit(
            "message size in bytes",
            body_bytes,
            cfg.max_message_bytes,
            "EMAILSTORE_MAX_MESSAGE_BYTES",
        )
        if r.direction is None or from_address is None:  # reported above; keeps mypy informed
            raise InvalidArgument("direction and from_address are required")
        message_type = r.message_type or MessageType.EMAIL
        default_status = (
            MessageStatus.QUEUED if r.direction is Direction.OUTBOUND else MessageStatus.RECEIVED
        )
        return _Prepared(
            request=r,
            direction=r.direction,
            message_type=message_type,
            status=r.status or default_status,
            from_address=from_address,
            to=to,
            cc=cc,
            bcc=bcc,
            reply_to=reply_to,
            attachments=attachments,
        )

    def _build(self, p: _Prepared) -> NewMessage:
        """Encodes the bytes (hash, chunk, compress) and assembles the rows to insert."""
        r = p.request
        blob_set = BlobSet(self.config.zstd_level)
        add = blob_set.add
        blobs, refs = blob_set.blobs, blob_set.refs

        text_sha = add(r.text_body.encode()) if r.text_body else None
        html_sha = add(r.html_body.encode()) if r.html_body else None
        attachments: list[NewAttachment] = []
        by_digest: list[int] = []
        for attachment, content in p.attachments:
            if content is not None:
                sha = add(content)
                attachments.append(replace(attachment, sha256=sha, size_bytes=len(content)))
            else:
                by_digest.append(len(attachments))
                attachments.append(attachment)
        existing: dict[bytes, int] = defaultdict(int)
        for index in by_digest:
            sha = attachments[index].sha256
            if sha in blobs:  # the same bytes arrive inline in this very message
                refs[sha] += 1
                attachments[index] = replace(attachments[index], size_bytes=blobs[sha].size_bytes)
            else:
                existing[sha] += 1
        content_hash = sha256_json(
            {
                "from": [p.from_address.email, p.from_address.name],
                "to": _pairs(p.to),
                "cc": _pairs(p.cc),
                "bcc": _pairs(p.bcc),
                "reply_to": _pairs(p.reply_to),
                "subject": r.subject,
                "headers": [[h.name, h.value] for h in r.headers],
                "text": text_sha.hex() if text_sha else None,
                "html": html_sha.hex() if html_sha else None,
                "attachments": [
                    [a.filename, a.mime_type, a.disposition, a.content_id, a.sha256.hex()]
                    for a in attachments
                ],
            }
        )
        fingerprint = sha256_json(
            {
                "content": content_hash.hex(),
                "account": r.email_account_id,
                "campaign": r.campaign_id,
                "lead": r.lead_id,
                "direction": p.direction.value,
                "type": p.message_type.value,
                "status": p.status.value,
                "message_id": r.message_id_header,
                "in_reply_to": r.in_reply_to,
                "references": list(r.references),
                "labels": dict(r.labels),
                "sent_at": r.sent_at.isoformat() if r.sent_at else None,
            }
        )
        storage_key = r.storage_key or keys.new_storage_key(p.message_type)
        message_id = r.message_id_header
        if not message_id and p.direction is Direction.OUTBOUND:
            # Replies thread to outbound mail by Message-ID: every outbound message needs one.
            message_id = f"<{storage_key}@{self.config.message_id_domain}>"
        return NewMessage(
            tenant_id=r.tenant_id,
            storage_key=storage_key,
            caller_chose_key=bool(r.storage_key),
            request_id=r.request_id or None,
            request_fingerprint=fingerprint,
            email_account_id=r.email_account_id,
            campaign_id=r.campaign_id,
            lead_id=r.lead_id,
            direction=p.direction.value,
            message_type=p.message_type.value,
            status=p.status.value,
            from_email=p.from_address.email,
            from_name=p.from_address.name,
            recipients={
                "to": _pairs(p.to),
                "cc": _pairs(p.cc),
                "bcc": _pairs(p.bcc),
                "reply_to": _pairs(p.reply_to),
            },
            subject=r.subject,
            message_id_header=message_id,
            in_reply_to=r.in_reply_to,
            references=r.references,
            new_thread_id=keys.new_thread_id(),
            labels=dict(r.labels),
            content_hash=content_hash,
            sent_at=r.sent_at,
            headers=[[h.name, h.value] for h in r.headers],
            text_sha256=text_sha,
            html_sha256=html_sha,
            attachments=tuple(attachments),
            new_blobs=blob_set.ordered(),
            new_blob_refs=dict(refs),
            existing_blob_refs=dict(existing),
        )

    # ------------------------------------------------------------------- read

    async def get_message(self, tenant_id: str, storage_key: str, view: View) -> Message:
        """One message in the METADATA or FULL view."""
        tenant = validation.tenant_id(tenant_id)
        key = validation.storage_key(storage_key)
        fetched = await self.repository.get_message(tenant, key, full=view is View.FULL)
        message = fetched.message
        if view is View.FULL:
            message = replace(
                message,
                text_body=_decode_text(fetched.text_blob),
                html_body=_decode_text(fetched.html_blob),
            )
        return message

    async def list_messages(self, request: ListMessagesInput) -> MessagePage:
        """A page of messages, newest first."""
        tenant = validation.tenant_id(request.tenant_id)
        if request.page_size < 0:
            raise InvalidArgument(
                "page_size must not be negative",
                violations=[FieldViolation("page_size", "must not be negative")],
            )
        size = min(request.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        f = request.filter
        v = Violations()
        for field in ("campaign_id", "lead_id", "email_account_id", "thread_id"):
            validation.check_id(v, field, getattr(f, field))
        if f.created_after and f.created_before and f.created_after >= f.created_before:
            v.add("created_before", "must be later than created_after")
        v.raise_if_any()
        scope = hashlib.sha256(repr(f).encode()).hexdigest()[:32]
        after = None
        if request.page_token:
            position = self.tokens.decode(request.page_token, tenant, scope)
            after = PageCursor(position.created_at, position.storage_key)
        rows = await self.repository.list_messages(tenant, f, after, size + 1)
        messages = tuple(rows[:size])
        token = ""
        if len(rows) > size:
            last = messages[-1]
            token = self.tokens.encode(
                tenant, scope, PagePosition(last.created_at, last.storage_key)
            )
        return MessagePage(messages=messages, next_page_token=token)

    # ------------------------------------------------------------ delete, usage

    async def delete_message(self, tenant_id: str, storage_key: str) -> None:
        """Deletes a message; blobs nothing else references are freed."""
        tenant = validation.tenant_id(tenant_id)
        key = validation.storage_key(storage_key)
        unreferenced = await self.repository.delete_message(tenant, key)
        trace.get_current_span().set_attribute("emailstore.unreferenced_blobs", unreferenced)

    async def storage_usage(self, tenant_id: str) -> StorageUsage:
        """Counts and bytes stored for a tenant."""
        return await self.repository.storage_usage(validation.tenant_id(tenant_id))


def _decode_text(blob: StoredBlob | None) -> str:
    if blob is None:
        return ""
    return decode_blob(blob.codec, blob.chunks).decode("utf-8", errors="replace")
