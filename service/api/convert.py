"""Conversion between generated protobuf messages and the service's models: the one place that
knows both shapes (the proto's flat Message, the models' value objects)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from emailstore.v1 import emailstore_pb2 as pb
from google.protobuf.timestamp_pb2 import Timestamp

from service import models
from service.errors import InvalidArgument

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


def _enum(table: dict[int, Any], value: int, field: str) -> Any:
    """The model value of a proto enum, None for its UNSPECIFIED (0)."""
    if value == 0:
        return None
    found = table.get(value)
    if found is None:
        raise InvalidArgument.field(field, f"has an unknown value {value}")
    return found


def direction(value: int, field: str = "direction") -> models.Direction | None:
    """The model direction, None for DIRECTION_UNSPECIFIED."""
    found: models.Direction | None = _enum(_DIRECTION, value, field)
    return found


def message_type(value: int, field: str = "message_type") -> models.MessageType | None:
    """The model message type, None for MESSAGE_TYPE_UNSPECIFIED."""
    found: models.MessageType | None = _enum(_TYPE, value, field)
    return found


def status(value: int, field: str = "status") -> models.MessageStatus | None:
    """The model status, None for MESSAGE_STATUS_UNSPECIFIED."""
    found: models.MessageStatus | None = _enum(_STATUS, value, field)
    return found


def view(value: int) -> models.View:
    """METADATA or FULL (the default)."""
    if value == pb.METADATA:
        return models.View.METADATA
    if value in (pb.FULL, pb.VIEW_UNSPECIFIED):
        return models.View.FULL
    raise InvalidArgument.field("view", f"has an unknown value {value}")


def timestamp(value: Timestamp, present: bool) -> datetime | None:
    """A UTC datetime, or None when the field is unset. The range is checked for every
    request before it gets here (service.api.requests)."""
    if not present:
        return None
    return value.ToDatetime(tzinfo=UTC)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _set_timestamp(target: Timestamp, value: datetime | None) -> None:
    # Integer arithmetic, exact to the microsecond; a few times faster than FromDatetime.
    if value is not None:
        since = (value if value.tzinfo else value.replace(tzinfo=UTC)) - _EPOCH
        target.seconds = since.days * 86_400 + since.seconds
        target.nanos = since.microseconds * 1000


def _addresses(items: Iterable[pb.Address]) -> tuple[models.Address, ...]:
    return tuple(models.Address(a.email, a.name) for a in items)


def _owner(r: pb.StoreMessageRequest | pb.RawMessageMetadata) -> models.Owner:
    return models.Owner(r.email_account_id, r.campaign_id, r.lead_id, r.sequence_step)


def _attachment_input(a: pb.AttachmentInput) -> models.AttachmentInput:
    source = a.WhichOneof("source")
    return models.AttachmentInput(
        filename=a.filename,
        mime_type=a.mime_type,
        disposition=a.disposition,
        content_id=a.content_id,
        content=a.content if source == "content" else None,
        blob_sha256=a.blob_sha256 if source == "blob_sha256" else "",
    )


def store_request(r: pb.StoreMessageRequest) -> models.StoreMessageInput:
    """A StoreMessageRequest as a model (validation happens in the core)."""
    sender = r.from_address
    return models.StoreMessageInput(
        storage_key=r.storage_key,
        request_id=r.request_id,
        owner=_owner(r),
        direction=direction(r.direction),
        message_type=message_type(r.message_type),
        status=status(r.status),
        envelope=models.Envelope(
            from_address=models.Address(sender.email, sender.name)
            if r.HasField("from_address")
            else None,
            to=_addresses(r.to),
            cc=_addresses(r.cc),
            bcc=_addresses(r.bcc),
            reply_to=_addresses(r.reply_to),
            subject=r.subject,
            message_id_header=r.message_id_header,
            in_reply_to=r.in_reply_to,
            references=tuple(r.references),
        ),
        content=models.Content(
            headers=tuple(models.Header(h.name, h.value) for h in r.headers),
            text_body=r.text_body,
            html_body=r.html_body,
        ),
        attachments=tuple(_attachment_input(a) for a in r.attachments),
        labels=dict(r.labels),
        sent_at=timestamp(r.sent_at, r.HasField("sent_at")),
    )


def raw_metadata(r: pb.RawMessageMetadata) -> models.RawMessageInput:
    """The metadata of an IngestRawMessage stream as a model."""
    return models.RawMessageInput(
        owner=_owner(r),
        direction=direction(r.direction, "metadata.direction"),
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


def download_request(r: pb.DownloadAttachmentRequest) -> models.DownloadRequest:
    """A DownloadAttachmentRequest as a model."""
    return models.DownloadRequest(
        storage_key=r.storage_key,
        attachment_id=r.attachment_id,
        blob_sha256=r.blob_sha256,
        read_offset=r.read_offset,
        read_limit=r.read_limit,
    )


def list_request(r: pb.ListMessagesRequest) -> models.ListMessagesInput:
    """A ListMessagesRequest as a model."""
    statuses = [status(s, f"status[{i}]") for i, s in enumerate(r.status)]
    return models.ListMessagesInput(
        filter=models.MessageFilter(
            campaign_id=r.campaign_id,
            lead_id=r.lead_id,
            email_account_id=r.email_account_id,
            thread_id=r.thread_id,
            direction=direction(r.direction),
            message_type=message_type(r.message_type),
            statuses=tuple(sorted({s for s in statuses if s is not None})),
            created_after=timestamp(r.created_after, r.HasField("created_after")),
            created_before=timestamp(r.created_before, r.HasField("created_before")),
            include_archived=r.include_archived,
        ),
        page_size=r.page_size,
        page_token=r.page_token,
    )


def export_request(r: pb.ExportMessagesRequest) -> models.ExportInput:
    """An ExportMessagesRequest as a model (filters or a query)."""
    has_filter = r.HasField("filters")
    chosen = list_request(r.filters).filter if has_filter else models.MessageFilter()
    return models.ExportInput(filter=chosen, query=r.query, has_filter=has_filter)


def search_request(r: pb.SearchMessagesRequest) -> models.SearchMessagesInput:
    """A SearchMessagesRequest as a model (the query is parsed by core)."""
    return models.SearchMessagesInput(query=r.query, page_size=r.page_size, page_token=r.page_token)


def _address_pb(a: models.Address) -> pb.Address:
    return pb.Address(email=a.email, name=a.name)


def _attachment_pb(a: models.Attachment) -> pb.Attachment:
    return pb.Attachment(
        id=a.id,
        filename=a.filename,
        mime_type=a.mime_type,
        size_bytes=a.size_bytes,
        sha256=a.sha256,
        disposition=a.disposition,
        content_id=a.content_id,
    )


_TIMES = (
    "created_at",
    "updated_at",
    "sent_at",
    "expires_at",
    "archived_at",
    "delivered_at",
    "opened_at",
    "clicked_at",
    "replied_at",
    "bounced_at",
    "failed_at",
)


def bounce(b: models.BounceInfo) -> pb.BounceInfo:
    """BounceInfo as proto."""
    return pb.BounceInfo(
        bounce_class=b.bounce_class,
        status_code=b.status_code,
        reason=b.reason,
        diagnostic=b.diagnostic,
        failed_recipient=b.failed_recipient,
        original_storage_key=b.original_storage_key,
        delayed=b.delayed,
    )


def message(m: models.Message) -> pb.Message:
    """A model message as the proto Message (headers and bodies when the model has them)."""
    e, t = m.envelope, m.times
    out = pb.Message(
        tenant_id=m.tenant_id,
        storage_key=m.storage_key,
        email_account_id=m.owner.email_account_id,
        campaign_id=m.owner.campaign_id,
        lead_id=m.owner.lead_id,
        direction=_DIRECTION_PB[m.kind.direction],
        message_type=_TYPE_PB[m.kind.message_type],
        status=_STATUS_PB[m.kind.status],
        to=[_address_pb(a) for a in e.to],
        cc=[_address_pb(a) for a in e.cc],
        bcc=[_address_pb(a) for a in e.bcc],
        reply_to=[_address_pb(a) for a in e.reply_to],
        subject=e.subject,
        message_id_header=e.message_id_header,
        in_reply_to=e.in_reply_to,
        references=list(e.references),
        thread_id=m.thread.thread_id,
        parent_storage_key=m.thread.parent_storage_key,
        raw_size_bytes=m.size.raw_size_bytes,
        stored_size_bytes=m.size.stored_size_bytes,
        content_hash=m.size.content_hash,
        attachments=[_attachment_pb(a) for a in m.attachments],
        labels=dict(m.labels),
        parse_status=m.parse.status,
        parse_warnings=list(m.parse.warnings),
        sequence_step=m.owner.sequence_step,
    )
    if e.from_address is not None:
        out.from_address.CopyFrom(_address_pb(e.from_address))
    for name in _TIMES:
        _set_timestamp(getattr(out, name), getattr(t, name))
    if m.bounce is not None:
        out.bounce.CopyFrom(bounce(m.bounce))
    if m.content is not None:
        out.headers.extend(
            pb.Header(name=h.name, value=h.value, kept_raw=h.kept_raw) for h in m.content.headers
        )
        out.text_body = m.content.text_body
        out.html_body = m.content.html_body
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
        saved_by_dictionary_bytes=u.saved_by_dictionary_bytes,
        disk_bytes=u.disk_bytes,
    )


# ------------------------------------------------------------ lifecycle and analytics


def status_event(r: pb.UpdateMessageStatusRequest) -> models.StatusEventInput:
    """An UpdateMessageStatusRequest as a model (UNSPECIFIED status: validation refuses it)."""
    reported = status(r.status) or models.MessageStatus.QUEUED
    return models.StatusEventInput(
        status=reported,
        storage_key=r.storage_key,
        message_id_header=r.message_id_header,
        occurred_at=timestamp(r.occurred_at, r.HasField("occurred_at")),
        event_id=r.event_id,
        detail=dict(r.detail),
    )


def event_response(result: models.EventResult) -> pb.RecordMessageEventResponse:
    """One response of RecordMessageEvents."""
    return pb.RecordMessageEventResponse(
        message=message(result.message), deduplicated=result.deduplicated
    )


def message_event(e: models.MessageEvent) -> pb.MessageEvent:
    """A recorded event as proto."""
    out = pb.MessageEvent(
        event_id=e.event_id, status=_STATUS_PB[e.status], detail=dict(e.detail), source=e.source
    )
    _set_timestamp(out.occurred_at, e.occurred_at)
    _set_timestamp(out.recorded_at, e.recorded_at)
    return out


def campaign_stats_request(r: pb.GetCampaignStatsRequest) -> models.CampaignStatsInput:
    """A GetCampaignStatsRequest as a model."""
    return models.CampaignStatsInput(
        campaign_id=r.campaign_id,
        created_after=timestamp(r.created_after, r.HasField("created_after")),
        created_before=timestamp(r.created_before, r.HasField("created_before")),
    )


def _counts(campaign_id: str, c: models.StatusCounts) -> pb.CampaignStats:
    return pb.CampaignStats(
        campaign_id=campaign_id,
        total_messages=c.total_messages,
        sent=c.sent,
        delivered=c.delivered,
        opened=c.opened,
        clicked=c.clicked,
        replied=c.replied,
        bounced=c.bounced,
        failed=c.failed,
        inbound_replies=c.inbound_replies,
        auto_replies=c.auto_replies,
        hard_bounces=c.hard_bounces,
        soft_bounces=c.soft_bounces,
        delivery_rate=c.delivery_rate,
        open_rate=c.open_rate,
        reply_rate=c.reply_rate,
        bounce_rate=c.bounce_rate,
        unique_leads=c.unique_leads,
        unique_leads_replied=c.unique_leads_replied,
        click_rate=c.click_rate,
        bounces_by_reason=dict(c.bounces_by_reason),
        sequence_step=c.sequence_step,
    )


def campaign_stats(s: models.CampaignStats) -> pb.CampaignStats:
    """CampaignStats as proto: the campaign's figures, its steps' and its days'."""
    out = _counts(s.campaign_id, s.total)
    out.sequence_step = 0
    out.steps.extend(_counts(s.campaign_id, step) for step in s.steps)
    out.days.extend(
        pb.DailyStats(
            day=d.day,
            sent=d.sent,
            delivered=d.delivered,
            opened=d.opened,
            clicked=d.clicked,
            replied=d.replied,
            bounced=d.bounced,
        )
        for d in s.days
    )
    return out


_CHANGE_KIND_PB = {
    models.ChangeKind.CREATED: pb.CREATED,
    models.ChangeKind.UPDATED: pb.UPDATED,
    models.ChangeKind.DELETED: pb.DELETED,
}


def change(value: models.Change) -> pb.Change:
    """A change of the feed."""
    out = pb.Change(
        sequence=value.sequence,
        storage_key=value.storage_key,
        kind=_CHANGE_KIND_PB[value.kind],
        campaign_id=value.campaign_id,
        lead_id=value.lead_id,
    )
    if value.status is not None:
        out.status = _STATUS_PB[value.status]
    _set_timestamp(out.at, value.at)
    return out


# ------------------------------------------------------------------ governance

_HOLD_SCOPES = {
    "storage_key": models.HoldScope.MESSAGE,
    "lead_id": models.HoldScope.LEAD,
    "email": models.HoldScope.EMAIL,
    "whole_tenant": models.HoldScope.TENANT,
}


def legal_hold_request(r: pb.SetLegalHoldRequest) -> models.LegalHoldInput:
    """A SetLegalHoldRequest as a model (whole_tenant set to false names no scope)."""
    which = r.WhichOneof("scope")
    scope = _HOLD_SCOPES.get(which) if which else None
    if scope is models.HoldScope.TENANT and not r.whole_tenant:
        scope = None
    value = getattr(r, which) if which and scope is not models.HoldScope.TENANT else ""
    return models.LegalHoldInput(
        scope=scope,
        value=value if isinstance(value, str) else "",
        hold=r.hold,
        reason=r.reason,
        placed_by=r.placed_by,
    )


def legal_hold(h: models.LegalHold) -> pb.LegalHold:
    """A LegalHold model as protobuf."""
    out = pb.LegalHold(hold_id=h.hold_id, reason=h.reason, placed_by=h.placed_by)
    if h.scope is models.HoldScope.MESSAGE:
        out.storage_key = h.value
    elif h.scope is models.HoldScope.LEAD:
        out.lead_id = h.value
    elif h.scope is models.HoldScope.EMAIL:
        out.email = h.value
    else:
        out.whole_tenant = True
    _set_timestamp(out.placed_at, h.placed_at)
    _set_timestamp(out.lifted_at, h.lifted_at)
    return out


def retention_policy(tenant_id: str, p: models.RetentionPolicy) -> pb.RetentionPolicy:
    """A RetentionPolicy model as protobuf."""
    out = pb.RetentionPolicy(
        tenant_id=tenant_id,
        retention_days=p.retention_days,
        is_default=p.is_default,
        applied=p.applied,
    )
    _set_timestamp(out.updated_at, p.updated_at)
    return out


def purge_result(r: models.PurgeResult) -> pb.PurgeResult:
    """A PurgeResult model as protobuf."""
    return pb.PurgeResult(
        deleted_messages=r.deleted_messages, freed_bytes=r.freed_bytes, more=r.more
    )


def erase_result(r: models.EraseResult) -> pb.EraseResult:
    """An EraseResult model as protobuf."""
    return pb.EraseResult(
        erasure_id=r.erasure_id,
        erased_messages=r.erased_messages,
        erased_events=r.erased_events,
        erased_attachments=r.erased_attachments,
        erased_changes=r.erased_changes,
        freed_bytes=r.freed_bytes,
    )
