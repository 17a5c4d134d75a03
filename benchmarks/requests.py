"""The benchmark corpus as EmailStore requests."""

from __future__ import annotations

from emailstore.v1 import emailstore_pb2 as pb

from benchmarks.corpus import ColdEmail


def store_request(tenant: str, email: ColdEmail) -> pb.StoreMessageRequest:
    """An outbound cold email as the sending platform stores it: queued, with its own
    Message-ID (the one it will send with)."""
    return pb.StoreMessageRequest(
        tenant_id=tenant,
        email_account_id=email.from_email or "acct-1",
        campaign_id=email.campaign_id or "camp-bench",
        lead_id=email.lead_id,
        direction=pb.OUTBOUND,
        from_address=pb.Address(email=email.from_email or "sam@acme.io", name=email.from_name),
        to=[pb.Address(email=email.to_email, name=email.to_name)],
        subject=email.subject,
        message_id_header=email.message_id,
        text_body=email.text,
        html_body=email.html,
        headers=[pb.Header(name=n, value=v) for n, v in email.headers],
    )
