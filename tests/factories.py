"""Builders of realistic requests for the tests."""

from __future__ import annotations

from typing import Any

from emailstore.v1 import emailstore_pb2 as pb

from service import models

HTML = (
    "<html><body><p>Hi {name},</p><p>I noticed {company} is hiring SDRs. We help teams like "
    "yours book 30% more meetings.</p><p>Worth a quick chat next week?</p>"
    "<p>Best,<br>Sam</p></body></html>"
)


# Where each flat field name of a StoreMessageRequest lives in the model's value objects.
_PLACES = {
    "email_account_id": "owner",
    "campaign_id": "owner",
    "lead_id": "owner",
    "sequence_step": "owner",
    "from_address": "envelope",
    "to": "envelope",
    "cc": "envelope",
    "bcc": "envelope",
    "reply_to": "envelope",
    "subject": "envelope",
    "message_id_header": "envelope",
    "in_reply_to": "envelope",
    "references": "envelope",
    "headers": "content",
    "text_body": "content",
    "html_body": "content",
}


def store_input(**overrides: Any) -> models.StoreMessageInput:
    """A valid outbound cold email as a model; overrides name fields as the proto does."""
    values: dict[str, Any] = {
        "email_account_id": "acct-1",
        "campaign_id": "camp-1",
        "lead_id": "lead-1",
        "direction": models.Direction.OUTBOUND,
        "from_address": models.Address("sam@acme.io", "Sam Seller"),
        "to": (models.Address("jane@example.com", "Jane Doe"),),
        "subject": "Quick question, Jane",
        "text_body": "Hi Jane, worth a quick chat next week?",
        "html_body": HTML.format(name="Jane", company="Example"),
        "headers": (models.Header("X-Campaign", "camp-1"),),
    }
    values.update(overrides)
    parts: dict[str, dict[str, Any]] = {"owner": {}, "envelope": {}, "content": {}}
    top: dict[str, Any] = {}
    for name, value in values.items():
        if name in _PLACES:
            parts[_PLACES[name]][name] = value
        else:
            top[name] = value
    return models.StoreMessageInput(
        owner=models.Owner(**parts["owner"]),
        envelope=models.Envelope(**parts["envelope"]),
        content=models.Content(**parts["content"]),
        **top,
    )


def store_request(tenant_id: str, **overrides: Any) -> pb.StoreMessageRequest:
    """A valid outbound cold email as a StoreMessageRequest."""
    request = pb.StoreMessageRequest(
        tenant_id=tenant_id,
        email_account_id="acct-1",
        campaign_id="camp-1",
        lead_id="lead-1",
        direction=pb.OUTBOUND,
        from_address=pb.Address(email="sam@acme.io", name="Sam Seller"),
        to=[pb.Address(email="jane@example.com", name="Jane Doe")],
        subject="Quick question, Jane",
        text_body="Hi Jane, worth a quick chat next week?",
        html_body=HTML.format(name="Jane", company="Example"),
        headers=[pb.Header(name="X-Campaign", value="camp-1")],
    )
    for key, value in overrides.items():
        field = request.DESCRIPTOR.fields_by_name[key]
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            getattr(request, key).update(value)
        elif field.is_repeated:
            request.ClearField(key)
            getattr(request, key).extend(value)
        elif field.message_type is not None:
            getattr(request, key).CopyFrom(value)
        else:
            setattr(request, key, value)
    return request
