"""Conversion between generated protobuf messages and the service's models."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from emailstore.v1 import emailstore_pb2 as pb
from google.protobuf.timestamp_pb2 import Timestamp

from service import models
from service.errors import FieldViolation, InvalidArgument

_DIRECTION: dict[int, models.Direction] = {
    pb.INBOUND: models.Direction.INBOUND,
    pb.OUTBOUND: models.Direction.OUTBOUND,
}
_DIRECTION_PB: dict[models.Direction, Any] = {v: k for k, v in _DIRECTION.items()}
_TYPE: dict[int, models.MessageType] = {
    pb.EMAIL: models.MessageType.EMAIL,
    pb.BOUNCE: models.MessageType.BOUNCE,
    pb.AUTO_REPLY: models.MessageType.AUTO_REPLY,
}
_TYPE_PB: dict[models.MessageType, Any] = {v: k for k, v in _TYPE.items()}
_STATUS: dict[int, models.MessageStatus] = {
    pb.QUEUED: models.MessageStatus.QUEUED,
    pb.SENT: models.MessageStatus.SENT,
    pb.DELIVERED: models.MessageStatus.DELIVERED,
    pb.OPENED: models.MessageStatus.OPENED,
    pb.CLICKED: models.MessageStatus.CLICKED,
    pb.REPLIED: models.MessageStatus.REPLIED,
    pb.BOUNCED: models.MessageStatus.BOUNCED,
    pb.FAILED: models.MessageStatus.FAILED,
    pb.RECEIVED: models.MessageStatus.RECEIVED,
}
_STATUS_PB: dict[models.MessageStatus, Any] = {v: k for k, v in _STATUS.items()}


def direction(value: int, field: str = "direction") -> models.Direction | None:
    """The model direction, None for DIRECTION_UNSPECIFIED."""
    if value == 0:
        return None
    result = _DIRECTION.get(value)
    if result is None:
        raise _unknown(field, value)
    return result


def message_type(value: int, field: str = "message_type") -> models.MessageType | None:
    """The model message type, None for MESSAGE_TYPE_UNSPECIFIED."""
    if value == 0:
        return None
    result = _TYPE.get(value)
    if result is None:
        raise _unknown(field, value)
    return result


def status(value: int, field: str = "status") -> models.MessageStatus | None:
    """The model status, None for MESSAGE_STATUS_UNSPECIFIED."""
    if value == 0:
        return None
    result = _STATUS.get(value)
    if result is None:
        raise _unknown(field, value)
    return result


def view(value: int) -> models.View:
    """METADATA or FULL (the default)."""
    if value == pb.METADATA:
        return models.View.METADATA
    if value in (pb.FULL, pb.VIEW_UNSPECIFIED):
        return models.View.FULL
    raise _unknown("view", value)


def _unknown(field: str, value: int) -> InvalidArgument:
    return InvalidArgument(
        f"{field} has an unknown value {value}",
        violations=[FieldViolation(field, f"unknown enum value {value}")],
    )


def timestamp(value: Timestamp, present: bool) -> datetime | None:
    """A UTC datetime, or None when the field is unset."""
    if not present:
        return None
    return value.ToDatetime(tzinfo=UTC)


def _set_timestamp(target: Timestamp, value: datetime | None) -> None:
    if value is not None:
        target.FromDatetime(value)


def _address(a: pb.Address) -> models.Address:
    return models.Address(email=a.email, name=a.name)


def _addresses(items: Iterable[pb.Address]) -> tuple[models.Address, ...]:
    return tuple(_address(a) for a in items)


def store_request(r: pb.StoreMessageRequest) -> models.StoreMessageInput:
    """A StoreMessageRequest as a model (validation happens in the core)."""
    attachments = []
    for a in r.attachments:
        source = a.WhichOneof("source")
        attachments.append(
            models.AttachmentInput(
                filename=a.filename,
                mime_type=a.mime_type,
                disposition=a.disposition,
                content_id=a.content_id,
                content=a.content if source == "content" else None,
                blob_sha256=a.blob_sha256 if source == "blob_sha256" else "",
            )
        )
    return models.StoreMessageInput(
        tenant_id=r.tenant_id,
        storage_key=r.storage_key,
        request_id=r.request_id,
        email_account_id=r.email_account_id,
        campaign_id=r.campaign_id,
        lead_id=r.lead_id,
        direction=direction(r.direction),
        message_type=message_type(r.message_type),
        status=status(r.status),
        from_address=_address(r.from_address) if r.HasField("from_address") else None,
        to=_addresses(r.to),
        cc=_addresses(r.cc),
        bcc=_addresses(r.bcc),
        reply_to=_addresses(r.reply_to),
        subject=r.subject,
        text_body=r.text_body,
        html_body=r.html_body,
        headers=tuple(models.Header(h.name, h.value) for h in r.headers),
        message_id_header=r.message_id_header,
        in_reply_to=r.in_reply_to,
        references=tuple(r.references),
        attachments=tuple(attachments),
        labels=dict(r.labels),
        sent_at=timestamp(r.sent_at, r.HasField("sent_at")),
    )


def raw_metadata(r: pb.RawMessageMetadata) -> models.RawMessageInput:
    """The metadata of an IngestRawMessage stream as a model."""
    return models.RawMessageInput(
        tenant_id=r.tenant_id,
        email_account_id=r.email_account_id,
        direction=direction(r.direction, "metadata.direction"),
        campaign_id=r.campaign_id,
        lead_id=r.lead_id,
        storage_key=r.storage_key,
        request_id=r.request_id,
        labels=dict(r.labels),
    )


def upload_part(r: pb.UploadBlobRequest) -> models.UploadPart:
    """One UploadBlobRequest as a model."""
    return models.UploadPart(
        tenant_id=r.tenant_id,
        upload_id=r.upload_id,
        sha256=r.sha256,
        size_bytes=r.size_bytes,
        mime_type=r.mime_type,
        write_offset=r.write_offset,
        data=r.data,
        finish_write=r.finish_write,
    )


def list_request(r: pb.ListMessagesRequest) -> models.ListMessagesInput:
    """A ListMessagesRequest as a model."""
    statuses = []
    for i, s in enumerate(r.status):
        converted = status(s, f"status[{i}]")
        if converted is not None:
            statuses.append(converted)
    return models.ListMessagesInput(
        tenant_id=r.tenant_id,
        filter=models.MessageFilter(
            campaign_id=r.campaign_id,
            lead_id=r.lead_id,
            email_account_id=r.email_account_id,
            thread_id=r.thread_id,
            direction=direction(r.direction),
            message_type=message_type(r.message_type),
            statuses=tuple(sorted(set(statuses))),
            created_after=timestamp(r.created_after, r.HasField("created_after")),
            created_before=timestamp(r.created_before, r.HasField("created_before")),
            include_archived=r.include_archived,
        ),
        page_size=r.page_size,
        page_token=r.page_token,
    )


def _address_pb(a: models.Address) -> pb.Address:
    return pb.Address(email=a.email, name=a.name)


def message(m: models.Message) -> pb.Message:
    """A model message as the proto Message (FULL fields only when the model has them)."""
    out = pb.Message(
        tenant_id=m.tenant_id,
        storage_key=m.storage_key,
        email_account_id=m.email_account_id,
        campaign_id=m.campaign_id,
        lead_id=m.lead_id,
        direction=_DIRECTION_PB[m.direction],
        message_type=_TYPE_PB[m.message_type],
        status=_STATUS_PB[m.status],
        to=[_address_pb(a) for a in m.to],
        cc=[_address_pb(a) for a in m.cc],
        bcc=[_address_pb(a) for a in m.bcc],
        reply_to=[_address_pb(a) for a in m.reply_to],
        subject=m.subject,
        message_id_header=m.message_id_header,
        in_reply_to=m.in_reply_to,
        references=list(m.references),
        thread_id=m.thread_id,
        parent_storage_key=m.parent_storage_key,
        raw_size_bytes=m.raw_size_bytes,
        stored_size_bytes=m.stored_size_bytes,
        content_hash=m.content_hash,
        attachments=[
            pb.Attachment(
                id=a.id,
                filename=a.filename,
                mime_type=a.mime_type,
                size_bytes=a.size_bytes,
                sha256=a.sha256,
                disposition=a.disposition,
                content_id=a.content_id,
            )
            for a in m.attachments
        ],
        labels=dict(m.labels),
        parse_status=m.parse_status,
        parse_warnings=list(m.parse_warnings),
    )
    if m.from_address is not None:
        out.from_address.CopyFrom(_address_pb(m.from_address))
    _set_timestamp(out.created_at, m.created_at)
    _set_timestamp(out.updated_at, m.updated_at)
    if m.sent_at is not None:
        _set_timestamp(out.sent_at, m.sent_at)
    if m.expires_at is not None:
        _set_timestamp(out.expires_at, m.expires_at)
    if m.archived_at is not None:
        _set_timestamp(out.archived_at, m.archived_at)
    if m.headers is not None:
        out.headers.extend(
            pb.Header(name=h.name, value=h.value, kept_raw=h.kept_raw) for h in m.headers
        )
    if m.text_body is not None:
        out.text_body = m.text_body
    if m.html_body is not None:
        out.html_body = m.html_body
    return out


def store_response(result: models.StoreResult) -> pb.StoreMessageResponse:
    """The response of a successful store."""
    return pb.StoreMessageResponse(
        storage_key=result.message.storage_key,
        message=message(result.message),
        deduplicated=result.deduplicated,
    )


def storage_usage(u: models.StorageUsage) -> pb.StorageUsage:
    """StorageUsage as proto."""
    return pb.StorageUsage(
        message_count=u.message_count,
        attachment_count=u.attachment_count,
        blob_count=u.blob_count,
        raw_bytes=u.raw_bytes,
        unique_bytes=u.unique_bytes,
        stored_bytes=u.stored_bytes,
        saved_by_dedup_bytes=u.saved_by_dedup_bytes,
        saved_by_compression_bytes=u.saved_by_compression_bytes,
        pending_gc_bytes=u.pending_gc_bytes,
    )
