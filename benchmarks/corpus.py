"""Realistic outbound cold emails: personalised ~4 KB HTML, a text part, 10 headers."""

from __future__ import annotations

import random
from dataclasses import dataclass

FIRST = ["Jane", "Omar", "Li", "Priya", "Lukas", "Sofia", "Mateo", "Aisha", "Noah", "Emma"]
LAST = ["Doe", "Haddad", "Wei", "Sharma", "Becker", "Rossi", "Garcia", "Khan", "Smith", "Dubois"]
COMPANIES = ["Northwind", "Contoso", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Acme"]
INDUSTRIES = ["logistics", "fintech", "healthcare", "retail", "SaaS", "manufacturing"]

PARAGRAPHS = [
    "I noticed {company} has been growing its {industry} team quickly this quarter, and "
    "congratulations on the recent launch. Teams at that stage usually find that outbound "
    "pipeline stops scaling with headcount.",
    "We work with revenue leaders like you to turn cold outreach into booked meetings: "
    "{company}'s peers in {industry} saw 31% more replies within six weeks, without adding SDRs.",
    "The short version: we warm up every mailbox, rotate sending domains, and personalise each "
    "first line from public signals, so your emails land in the primary inbox instead of spam.",
    "Most {industry} teams we talk to send from three to five domains and still see reply rates "
    "fall after the first week, because inbox providers learn the pattern. We fix the pattern, "
    "not just the copy: sending windows, per-mailbox volumes, and bounce handling all adapt.",
    "A quick example: a {industry} company about {company}'s size moved from 1.2% to 4.8% reply "
    "rate in a month, and their account executives now spend mornings on calls rather than on "
    "list cleaning. Happy to share the exact sequence they used, including the follow-ups.",
    "On the deliverability side we monitor blocklists, authentication (SPF, DKIM, DMARC) and "
    "engagement per mailbox every hour, and we pause a sender before a provider throttles it. "
    "That is usually where in-house programmes lose most of their volume without noticing.",
    "You keep full control: every lead, reply and bounce syncs back to your CRM, nothing is sent "
    "without approval during the pilot, and you can pause a campaign from your phone.",
    "Would it make sense to compare notes for 15 minutes next Tuesday or Wednesday? If you are "
    "not the right person, I would be grateful if you could point me to whoever owns pipeline.",
]


@dataclass(frozen=True)
class ColdEmail:
    """The fields of one outbound message."""

    lead_id: str
    to_email: str
    to_name: str
    subject: str
    text: str
    html: str
    headers: list[tuple[str, str]]


def cold_email(i: int, rng: random.Random) -> ColdEmail:
    """Message number i of a campaign, personalised for its lead."""
    first, last = rng.choice(FIRST), rng.choice(LAST)
    company, industry = rng.choice(COMPANIES), rng.choice(INDUSTRIES)
    values = {"company": company, "industry": industry}
    paragraphs = [p.format(**values) for p in PARAGRAPHS]
    text = f"Hi {first},\n\n" + "\n\n".join(paragraphs) + "\n\nBest,\nSam\n"
    body = "".join(f'<p style="margin:0 0 12px 0;font-family:Arial">{p}</p>' for p in paragraphs)
    tracking = f'<img src="https://t.acme.io/o/{i:08d}{rng.getrandbits(64):016x}.gif" width="1" height="1">'
    footer = (
        '<table role="presentation" width="100%"><tr><td style="font-size:11px;color:#888">'
        "Acme Outbound Ltd, 1 Market Street, London. "
        f'<a href="https://acme.io/u/{rng.getrandbits(96):024x}">Unsubscribe</a></td></tr></table>'
    )
    proof = "".join(
        f'<li style="margin:0 0 6px 0;font-family:Arial;font-size:14px;color:#333">{c}: '
        f"{rng.randint(18, 45)}% more replies, {rng.randint(2, 9)}x pipeline in "
        f"{rng.randint(4, 12)} weeks ({industry})</li>"
        for c in rng.sample(COMPANIES, 4)
    )
    signature = (
        '<table role="presentation" cellpadding="0" cellspacing="0" style="margin-top:16px">'
        '<tr><td style="padding-right:12px;border-right:2px solid #0a66c2">'
        '<img src="https://acme.io/s/sam.png" width="48" height="48" alt="Sam"></td>'
        '<td style="padding-left:12px;font-family:Arial;font-size:13px;color:#444">'
        "<b>Sam Seller</b><br>Head of Growth, Acme<br>"
        '<a href="https://acme.io" style="color:#0a66c2">acme.io</a> | +44 20 7946 0000'
        "</td></tr></table>"
    )
    html = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Quick question</title></head>"
        f"<body><p>Hi {first},</p>{body}<ul>{proof}</ul><p>Best,</p>{signature}"
        f"{footer}{tracking}</body></html>"
    )
    email = f"{first.lower()}.{last.lower()}{i}@{company.lower()}.com"
    headers = [
        ("X-Campaign-Id", "camp-bench"),
        ("X-Lead-Id", f"lead-{i}"),
        ("X-Mailer", "Acme Outbound 4.2"),
        ("List-Unsubscribe", f"<mailto:unsub+{i}@acme.io>, <https://acme.io/u/{i}>"),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ("X-Sequence-Step", "1"),
        ("X-Sending-Domain", "mail.acme.io"),
        ("Feedback-ID", f"camp-bench:{i}:acme"),
        ("X-Priority", "3"),
        ("Precedence", "bulk"),
    ]
    return ColdEmail(
        lead_id=f"lead-{i}",
        to_email=email,
        to_name=f"{first} {last}",
        subject=f"Quick question about {company}'s pipeline, {first}",
        text=text,
        html=html,
        headers=headers,
    )
