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


def store_input(tenant_id: str, **overrides: Any) -> models.StoreMessageInput:
    """A valid outbound cold email as a model."""
    values: dict[str, Any] = {
        "tenant_id": tenant_id,
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
    return models.StoreMessageInput(**values)


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
