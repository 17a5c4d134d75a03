"""Realistic cold-email corpora for benchmarks, deterministic for a given seed.

Real cold email is thousands of near-identical 2-6 KB messages: each tenant (sending company)
has a handful of templates, personalised per lead, with tracking links and ids that differ in
every message. Replies are short lines on top of a quoted copy under long trace headers.
`outbound` and `inbound_replies` build both, so compression and dictionary figures are honest.
"""

from __future__ import annotations

import base64
import email.policy
import hashlib
import html
import random
import string
import textwrap
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from functools import cache
from itertools import pairwise

FIRST = ["Jane", "Omar", "Li", "Priya", "Lukas", "Sofia", "Mateo", "Aisha", "Noah", "Emma",
         "Hannah", "Kenji", "Chloé", "Daniel", "Fatima", "Ravi", "Olivia", "Marco", "Ingrid", "Tomás",
         "Grace", "Yusuf", "Mei", "Elena", "Jonas", "Amara", "Lucas", "Zoe", "Arjun", "Claire"]  # fmt: skip
LAST = ["Doe", "Haddad", "Wei", "Sharma", "Becker", "Rossi", "Garcia", "Khan", "Smith", "Dubois",
        "Nakamura", "O'Brien", "Kowalski", "Andersen", "Silva", "Patel", "Müller", "Nguyen", "Brown",
        "Okafor", "Moreau", "Larsen", "Fischer", "Costa", "Reyes", "Walsh", "Ivanova", "Cohen"]  # fmt: skip
COMPANIES = ["Northwind", "Contoso", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Acme",
             "Bluepeak", "Vandelay", "Pinecrest", "Helio Labs", "Redwood Freight", "Quantix",
             "Silverline", "Oakridge Health", "Nimbus", "Brightwave", "Coralstone", "Ironclad",
             "Lattice Bay", "Meridian", "Tidewater", "Crestview", "Polaris Retail", "Fableworks"]  # fmt: skip
INDUSTRIES = ["logistics", "fintech", "healthcare", "retail", "SaaS", "manufacturing",
              "insurance", "e-commerce", "cybersecurity", "real estate", "edtech", "hospitality"]  # fmt: skip
CITIES = [("Austin", -6), ("London", 0), ("Berlin", 1), ("Toronto", -5), ("Sydney", 11),
          ("New York", -5), ("Paris", 1), ("Singapore", 8), ("Denver", -7), ("Dublin", 0),
          ("San Francisco", -8), ("Amsterdam", 1), ("Chicago", -6), ("Bangalore", 5)]  # fmt: skip
TITLES = ["VP of Sales", "Head of Revenue Operations", "CFO", "Director of Operations", "CTO",
          "Head of People", "VP Engineering", "Founder & CEO", "Head of Customer Support",
          "Sales Director", "COO", "IT Manager", "Head of Growth", "Controller"]  # fmt: skip

# The original single-template paragraphs; benchmarks/ingest.py quotes them in its replies.
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

# Lead facts the personalised first line is written from.
ROUNDS = ["seed", "Series A", "Series B", "Series C", "growth"]
INVESTORS = ["Sequoia", "Accel", "Index Ventures", "Balderton", "a16z", "Insight Partners",
             "Northzone", "General Catalyst", "Atomico", "Bessemer"]  # fmt: skip
ROLES = ["account executive", "SDR", "backend engineer", "customer success manager",
         "data analyst", "product designer", "solutions engineer", "finance analyst"]  # fmt: skip
PODCASTS = ["30 Minutes to President's Club", "The SaaS Podcast", "Operators", "Revenue Builders",
            "The Logistics of Logistics", "Lenny's Podcast", "Unchained Ops", "CFO Thought Leader"]  # fmt: skip
TOPICS = ["pricing experiments", "hiring your first sales team", "remote onboarding",
          "forecast accuracy", "vendor consolidation", "AI in the back office", "churn",
          "expanding into Europe", "the first 100 customers", "cutting cloud costs"]  # fmt: skip
EVENTS = ["SaaStr Annual", "Web Summit", "Pavilion CRO Summit", "Money20/20", "ProMat",
          "HLTH", "Collision", "Dreamforce"]  # fmt: skip
LAUNCHES = ["mobile app", "self-serve plan", "public API", "partner programme", "EU data centre"]
POST_TITLES = ["Why {industry} teams are rethinking {topic}", "What we learned from a year of {topic}",
               "{topic}: the playbook we wish we had", "Three mistakes we made with {topic}",
               "How {company} approaches {topic}"]  # fmt: skip
OPENERS = [
    "Congrats on the {round} round, {first}; {amount} from {investor} is a strong vote of confidence in {company}.",
    "Saw that {company} just raised a {amount} {round} led by {investor}, congratulations to you and the team.",
    "I noticed {company} is hiring {count} {role}s right now, which usually means growth is the priority.",
    "Your careers page lists {count} open {role} roles, so I suspect {company} is scaling fast this year.",
    "I enjoyed your episode of {podcast}, especially the part about {topic}.",
    "Heard you on {podcast} talking about {topic}; the point about hiring in {city} stuck with me.",
    'Just read your post "{post}" and shared it with our team.',
    'Your article "{post}" was one of the more honest takes on {topic} I have read this year.',
    "I caught your talk at {event} on {topic}; the slide on {industry} benchmarks was brilliant.",
    "Congrats on opening the new {city} office, {first}; that is a big step for {company}.",
    "Saw {company} was named one of the fastest-growing {industry} companies in {city}, well deserved.",
    "Noticed you stepped into the {title} role at {company} a few months ago, congratulations.",
    "Loved your LinkedIn post about {topic}; it started quite a debate in the comments.",
    "I came across {company} while researching {industry} teams in {city} that do {topic} well.",
    "Congrats on the {launch} launch last week; the demo video was excellent.",
    "Saw that {company} passed {headcount} employees this spring, quite a milestone in {industry}.",
]  # fmt: skip


@dataclass(frozen=True)
class Pitch:
    """What a sending company sells, in the words its templates are written from."""

    product: str
    buyer: str
    pain: str
    outcome: str
    metric: str
    features: tuple[str, ...]


PITCHES = [
    Pitch("an outbound deliverability platform", "revenue leaders", "emails landing in spam after the first week", "more replies from the same list", "reply rate", ("mailbox warm-up", "domain rotation", "per-mailbox volume limits", "hourly blocklist monitoring")),
    Pitch("an AI meeting assistant", "sales managers", "reps writing up calls late in the evening", "CRM notes that write themselves", "time spent on admin", ("automatic call summaries", "next steps synced to the CRM", "talk-time coaching", "a searchable call library")),
    Pitch("an accounts-payable automation suite", "finance teams", "invoices keyed in by hand and paid late", "a month-end close in days, not weeks", "days to close", ("invoice capture", "approval routing", "a vendor portal", "three-way matching")),
    Pitch("an employee onboarding platform", "HR leaders", "new hires waiting a week for a laptop and logins", "new hires productive in their first week", "time to productivity", ("device provisioning", "pre-boarding checklists", "buddy matching", "compliance sign-offs")),
    Pitch("a cloud cost platform", "engineering leaders", "cloud bills growing faster than revenue", "a cloud bill that tracks usage", "monthly cloud spend", ("idle resource detection", "rightsizing advice", "commitment planning", "per-team cost reports")),
    Pitch("a freight visibility platform", "operations directors", "shipments going dark between hand-offs", "every load tracked from dock to door", "on-time delivery", ("live ETA tracking", "carrier scorecards", "exception alerts", "customs document checks")),
    Pitch("a support quality tool", "support leaders", "reviewing two percent of tickets and guessing the rest", "every conversation scored, not just a sample", "CSAT", ("automatic ticket scoring", "coaching queues", "sentiment trends", "calibration sessions")),
    Pitch("a security awareness programme", "IT and security leads", "phishing clicks that training videos never fix", "staff who report phishing instead of clicking it", "phishing click rate", ("simulated phishing", "two-minute lessons", "a report button", "board-ready reports")),
]  # fmt: skip
BRAND_HEADS = ["Lumen", "Pipe", "Orbit", "North", "Cadence", "Signal", "Kite", "Harbor", "Quill",
               "Vector", "Beacon", "Tally", "Ember", "Fathom", "Relay"]  # fmt: skip
BRAND_TAILS = ["ly", "flow", "stack", "base", "works", "hq", "loop", "wise", "path"]
ADDRESSES = [
    ("548 Market St, Suite 1200, San Francisco, CA 94104, United States", "+1 415 555 {:04d}"),
    ("20 Farringdon Road, London EC1M 3HE, United Kingdom", "+44 20 7946 {:04d}"),
    ("Torstraße 140, 10119 Berlin, Germany", "+49 30 9018 {:04d}"),
    ("1 Yonge Street, Suite 1801, Toronto, ON M5E 1W7, Canada", "+1 416 555 {:04d}"),
    ("Herengracht 420, 1017 BZ Amsterdam, Netherlands", "+31 20 794 {:04d}"),
    ("77 Castle Street, Sydney NSW 2000, Australia", "+61 2 5550 {:04d}"),
]
FONTS = ["Arial, Helvetica, sans-serif", "'Helvetica Neue', Helvetica, Arial, sans-serif",
         "Georgia, 'Times New Roman', serif", "Verdana, Geneva, sans-serif",
         "-apple-system, BlinkMacSystemFont, 'Segoe UI', Roboto, sans-serif"]  # fmt: skip
SENDER_TITLES = ["Account Executive", "Founder & CEO", "Head of Partnerships", "VP Sales",
                 "Sales Development Representative", "Co-founder", "Customer Success Lead"]  # fmt: skip
CUSTOMERS = ["Brightline", "Fernhill", "Kestrel Group", "Moxie", "Juniper Health", "Arcadia",
             "Sable & Co", "Tandem", "Wayfarer", "Halcyon", "Copperleaf", "Lodestar"]  # fmt: skip
# Template sentences by role: {pitch fields} are filled per tenant, {{lead fields}} per message.
SENTENCES = {
    "problem": [
        "Most {buyer} I speak with in {{industry}} say the hardest part is {pain}.",
        "When a team grows the way {{company}} is growing, {pain} becomes the thing nobody owns.",
        "As {{title}}, you have probably seen what {pain} costs in a quarter, even if no report shows it.",
        "The pattern across {{industry}} is the same: {pain}, a rushed fix, then the same problem next quarter.",
        "Teams in {{city}} we work with said {pain} was eating a day a week before they changed anything.",
        "It is rarely a people problem; {pain} comes from tools that were never built to talk to each other.",
    ],
    "solution": [
        "{brand} is {product} that gives {buyer} {outcome}, usually within the first month.",
        "We built {brand} so that {buyer} get {outcome} by default, not as a project: {feature_a} and {feature_b} work from day one.",
        "In short, {brand} handles {feature_a}, {feature_b} and {feature_c}, so your team can focus on the work only they can do.",
        "Rather than another dashboard, {brand} fixes the root cause with {feature_a} and reports back once a week.",
        "Setup takes an afternoon, and nothing changes for your team until you switch it on.",
    ],
    "proof": [
        "A {{industry}} company about {{company}}'s size improved {metric} by {pct}% in {weeks} weeks after switching to {brand}.",
        "{customer} saw {metric} move by {pct}% within {weeks} weeks, and their team now spends that time on customers.",
        "Over {count} {buyer} use {brand} today, including the teams at {customer} and {customer_b}.",
        "The numbers we hear most often: {pct}% better {metric}, and payback inside {weeks} weeks.",
    ],
    "detail": [
        "You keep full control: nothing goes live without your approval during the pilot, and you can pause it from your phone.",
        "It connects to the tools you already use, so there is no migration and no new tab for your team to ignore.",
        "Security reviews are quick: we are SOC 2 Type II certified, data stays in the region you choose, and SSO is included.",
        "Pricing is per active seat with no annual lock-in, so a pilot with one team costs less than a conference ticket.",
        "You also get a named specialist for the first ninety days, who meets your team weekly until {metric} moves.",
    ],
    "cta": [
        "Would it make sense to compare notes for 15 minutes next {day}?",
        "Are you open to a short call this week to see whether this fits {{company}}?",
        "If this is on your radar this quarter, my calendar is below; pick any slot that suits you.",
        "Worth a quick look? I can send a two-minute video walkthrough instead if that is easier.",
        "If you are not the right person, could you point me to whoever owns {metric} at {{company}}?",
    ],
    "bump": [
        "Just floating this back to the top of your inbox in case it got buried, {{first}}.",
        "Following up on my note from last week about {pain} at {{company}}.",
        "I know inboxes in {{industry}} are relentless this time of year, so I will keep this one short.",
        "Circling back once more; I did not want this to slip through the cracks.",
    ],
    "value": [
        "We just published a benchmark of how {count} {buyer} handle {pain}; the {{industry}} section may interest you.",
        "I put together a one-page teardown of how a team like {{company}}'s could improve {metric}, no strings attached.",
        "A few {buyer} in {{city}} asked us the same question last month, so we wrote up how to get {outcome} without adding headcount.",
    ],
    "case": [
        "Thought you might like to see how {customer} got {outcome} in under a quarter.",
        "Here is a short story from a {{industry}} team that had exactly the problem of {pain}.",
        "{customer}'s head of operations put it best: they stopped firefighting and started planning.",
    ],
    "breakup": [
        "I have reached out a few times without hearing back, so I will assume the timing is not right and close your file.",
        "This is my last note on this, {{first}}; if {metric} becomes a priority at {{company}}, my door is open.",
        "No reply needed if this is not a fit; I will stop here and will not clutter your inbox again.",
    ],
    "cta_short": [
        "Worth a quick chat?",
        "Is it worth a 10-minute call, or should I stop reaching out?",
        "Just reply with a yes and I will send over a few times.",
    ],
    "ps": [
        "P.S. If {{company}} is happy with its current setup, a one-word reply saying so is perfectly fine.",
        "P.S. We host a small roundtable for {buyer} in {{city}} next month; happy to save you a seat.",
    ],
}  # fmt: skip
KIND_ROLES = {
    "intro": ("opener", "problem", "solution", "proof", "cta"),
    "intro_b": ("opener", "solution", "detail", "cta", "ps"),
    "bump": ("bump", "cta_short"),
    "value": ("value", "detail", "cta"),
    "case_study": ("case", "proof", "solution", "cta", "ps"),
    "breakup": ("breakup", "cta_short"),
}
SUBJECTS = {
    "intro": ["{{first}}, quick question about {metric}", "{brand} + {{company}}", "idea for {{company}}"],
    "intro_b": ["{metric} at {{company}}", "{{first}} - {outcome}?", "question about {{company}}'s {metric}"],
    "value": ["{{industry}} {metric} benchmark", "made this for {{company}}", "how {buyer} fix {metric}"],
    "case_study": ["how {customer} fixed {metric}", "{customer} case study for {{first}}", "{outcome}"],
    "breakup": ["should I close your file, {{first}}?", "last note from me", "permission to close the loop?"],
}  # fmt: skip
CTA_LABELS = ["Book 15 minutes", "See how it works", "Pick a time", "Watch the 2-minute demo"]
FOOTERS = [
    "You are receiving this because your role at {company} matches our research on {industry} teams.",
    "Sent to {email} because {company} looked like a fit for what we do.",
    "One-to-one email to {first} at {company}; no mailing list involved.",
]
START = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)
_ALNUM = string.ascii_letters + string.digits


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
    from_email: str = ""
    from_name: str = ""
    campaign_id: str = ""
    message_id: str = ""
    sent_at: datetime | None = None


@dataclass(frozen=True)
class Sender:
    """One of a tenant's mailboxes, with the person who signs its mail."""

    email: str
    name: str
    title: str
    phone: str


@dataclass(frozen=True)
class Template:
    """A sequence step or A/B variant: {lead fields} are merged per message."""

    template_id: str
    step: int
    subject: str
    paragraphs: tuple[str, ...]
    rich: bool  # a designed HTML layout, or the plain-looking HTML of a hand-written email
    cta_label: str


@dataclass(frozen=True)
class TenantProfile:
    """A sending company: brand, domains, mailboxes and the templates it sends."""

    index: int
    name: str
    domain: str
    sending_domain: str
    tracking_domain: str
    pitch: Pitch
    address: str
    color: str
    font: str
    footer: str
    campaign_ids: tuple[str, ...]
    senders: tuple[Sender, ...]
    templates: tuple[Template, ...]


def _token(rng: random.Random, length: int) -> str:
    """A random base62 id, as tracking and unsubscribe links carry."""
    return "".join(rng.choices(_ALNUM, k=length))


def _uuid(rng: random.Random) -> str:
    """A random version-4 UUID, as providers stamp on correlation headers."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _b64(rng: random.Random, nbytes: int) -> str:
    """Random base64, the shape of a signature or an opaque provider blob."""
    return base64.b64encode(rng.randbytes(nbytes)).decode()


def _fold(value: str, indent: str = "\t", width: int = 76) -> str:
    """An unbroken value folded onto continuation lines, as signing MTAs write it."""
    return f"\r\n{indent}".join(value[i : i + width] for i in range(0, len(value), width))


def _slug(name: str) -> str:
    """The lower-case ASCII letters and digits of a name, for addresses and domains."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "".join(c for c in ascii_name.lower() if c in _ALNUM)


def _template(
    rng: random.Random, kind: str, step: int, fields: dict[str, str], thread: str, rich_share: float
) -> Template:
    """One template of a tenant, its sentences picked and pitch fields filled in.

    A bump is sent in the thread of the first step, so its subject is "Re: " and that subject.
    """
    paragraphs = []
    for role in KIND_ROLES[kind]:
        if role == "opener":
            paragraphs.append("{opener}")
            continue
        pool = SENTENCES[role]
        chosen = rng.sample(pool, 1 if role in {"cta", "cta_short", "ps"} else rng.randint(1, 2))
        numbers = {"pct": str(rng.randint(18, 64)), "weeks": str(rng.randint(3, 12))}
        paragraphs.append(" ".join(chosen).format(**fields, **numbers))
    subject = "Re: " + thread if kind == "bump" else rng.choice(SUBJECTS[kind]).format(**fields)
    return Template(
        template_id=f"tpl_{_token(rng, 10)}",
        step=step,
        subject=subject,
        paragraphs=tuple(paragraphs),
        # Follow-ups are mostly sent as plain-looking notes, whatever the first step looks like.
        rich=rng.random() < (rich_share / 3 if kind in {"bump", "breakup"} else rich_share),
        cta_label=rng.choice(CTA_LABELS),
    )


@cache
def tenant_profile(tenant_index: int) -> TenantProfile:
    """The sending company with this index: the same profile every time it is asked for."""
    rng = random.Random(f"tenant:{tenant_index}")
    pitch = PITCHES[tenant_index % len(PITCHES)]
    brand = rng.choice(BRAND_HEADS) + rng.choice(BRAND_TAILS)
    domain = _slug(brand) + rng.choice([".io", ".com", ".ai", ".co"])
    sending = f"{rng.choice(['get', 'try', 'meet', 'hello'])}{_slug(brand)}.com"
    address, phone = rng.choice(ADDRESSES)
    senders = []
    for first in rng.sample(FIRST, rng.randint(2, 4)):
        last = rng.choice(LAST)
        senders.append(
            Sender(
                email=f"{_slug(first)}@{sending}",
                name=f"{first} {last}",
                title=rng.choice(SENDER_TITLES),
                phone=phone.format(rng.randint(0, 9999)),
            )
        )
    features = list(pitch.features)
    rng.shuffle(features)
    fields = {
        "brand": brand, "product": pitch.product, "buyer": pitch.buyer, "pain": pitch.pain,
        "outcome": pitch.outcome, "metric": pitch.metric, "feature_a": features[0],
        "feature_b": features[1], "feature_c": features[2], "count": str(rng.randrange(200, 3000, 50)),
        "customer": (customers := rng.sample(CUSTOMERS, 2))[0], "customer_b": customers[1],
        "day": rng.choice(["Tuesday", "Wednesday", "Thursday"]),
    }  # fmt: skip
    order = ["intro", "intro_b", "bump", "value", "case_study", "breakup"]
    chosen = {"intro", *rng.sample(order[1:], rng.randint(2, 5))}
    kinds = [k for k in order if k in chosen]
    templates: list[Template] = []
    rich_share = rng.uniform(0.3, 0.8)
    for kind in kinds:  # intro_b is the A/B variant of step 1; the rest follow in order
        step = 1 if kind in {"intro", "intro_b"} else templates[-1].step + 1
        thread = templates[0].subject if templates else ""
        templates.append(_template(rng, kind, step, fields, thread, rich_share))
    if len({t.rich for t in templates}) == 1:  # every tenant has both layouts
        templates[-1] = replace(templates[-1], rich=not templates[-1].rich)
    return TenantProfile(
        index=tenant_index,
        name=brand,
        domain=domain,
        sending_domain=sending,
        tracking_domain=f"{rng.choice(['link', 'trk', 'click', 'go'])}.{sending}",
        pitch=pitch,
        address=address,
        color=f"#{rng.randrange(0x1000000):06x}",
        font=rng.choice(FONTS),
        footer=rng.choice(FOOTERS),
        campaign_ids=tuple(f"cmp_{_token(rng, 12)}" for _ in range(rng.randint(1, 3))),
        senders=tuple(senders),
        templates=tuple(templates),
    )


def _lead(rng: random.Random) -> dict[str, str]:
    """A lead and the public facts about them a personalised first line is written from."""
    first, last, company = rng.choice(FIRST), rng.choice(LAST), rng.choice(COMPANIES)
    city, utc_offset = rng.choice(CITIES)
    domain = _slug(company) + (".com" if len(company) % 3 else ".io")
    local = rng.choice([f"{first}.{last}", first, f"{first[0]}{last}", f"{first}{last[0]}"])
    lead = {
        "first": first, "last": last, "company": company, "industry": rng.choice(INDUSTRIES),
        "city": city, "utc_offset": str(utc_offset), "title": rng.choice(TITLES),
        "email": f"{_slug(local)}@{domain}", "domain": domain, "topic": rng.choice(TOPICS),
        "round": rng.choice(ROUNDS), "amount": f"${rng.randint(2, 90)}M",
        "investor": rng.choice(INVESTORS), "count": str(rng.randint(3, 14)),
        "role": rng.choice(ROLES), "podcast": rng.choice(PODCASTS), "event": rng.choice(EVENTS),
        "launch": rng.choice(LAUNCHES), "headcount": str(rng.randrange(100, 2000, 50)),
    }  # fmt: skip
    lead["post"] = rng.choice(POST_TITLES).format_map(lead)
    lead["post"] = lead["post"][0].upper() + lead["post"][1:]
    lead["opener"] = rng.choice(OPENERS).format_map(lead)
    return lead


def _signature_html(p: TenantProfile, s: Sender, track: Callable[[], str]) -> str:
    """The sender's HTML table signature: photo, title, phone and tracked links."""
    link = f'style="color:{p.color};text-decoration:none"'
    return (
        '<table role="presentation" cellpadding="0" cellspacing="0" border="0" '
        f'style="margin-top:18px;font-family:{p.font};font-size:13px;line-height:1.4;color:#3c4043">'
        f'<tr><td valign="top" style="padding-right:14px;border-right:2px solid {p.color}">'
        f'<img src="https://{p.domain}/team/{_slug(s.name)}.png" width="56" height="56" '
        f'alt="{html.escape(s.name)}" style="border-radius:50%;display:block"></td>\n'
        '<td valign="top" style="padding-left:14px">'
        f'<strong style="font-size:14px;color:#111111">{html.escape(s.name)}</strong><br>'
        f'<span style="color:#6b7280">{html.escape(s.title)}, {p.name}</span><br>'
        f'<a href="tel:{s.phone.replace(" ", "")}" style="color:#3c4043;text-decoration:none">{s.phone}</a><br>'
        f'<a href="{track()}" {link}>{p.domain}</a> &nbsp;|&nbsp; <a href="{track()}" {link}>LinkedIn</a>'
        f' &nbsp;|&nbsp; <a href="{track()}" {link}>Book a meeting</a></td></tr></table>'
    )


def _rich_html(p: TenantProfile, subject: str, paras: list[str], parts: dict[str, str]) -> str:
    """A designed layout: styled card, logo, feature list and a button."""
    body = "\n".join(
        f'<p style="margin:0 0 14px 0">{html.escape(x, quote=False)}</p>' for x in paras
    )
    items = "".join(f'<li style="margin:0 0 6px 0">{f}</li>' for f in p.pitch.features)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(subject)}</title>
<style>body{{margin:0;padding:0}} a{{color:{p.color}}} @media (max-width:620px){{.card{{width:100% !important}} .pad{{padding:16px !important}}}}</style>
</head><body style="margin:0;padding:0;background:#f4f5f7">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="background:#f4f5f7"><tr><td align="center" style="padding:24px 12px">
<table role="presentation" class="card" width="600" cellpadding="0" cellspacing="0" border="0" style="background:#ffffff;border-radius:6px;font-family:{p.font};font-size:15px;line-height:1.55;color:#1f2933">
<tr><td class="pad" style="padding:20px 32px;border-bottom:3px solid {p.color}"><img src="https://{p.domain}/assets/logo-email.png" width="120" height="32" alt="{p.name}" style="display:block;border:0"></td></tr>
<tr><td class="pad" style="padding:24px 32px">
<p style="margin:0 0 14px 0">{parts["greeting"]}</p>
{body}
<ul style="margin:0 0 16px 0;padding-left:20px">{items}</ul>
<table role="presentation" cellpadding="0" cellspacing="0" border="0" style="margin:8px 0 20px 0"><tr><td style="background:{p.color};border-radius:4px"><a href="{parts["cta_url"]}" style="display:inline-block;padding:11px 22px;font-weight:bold;color:#ffffff;text-decoration:none">{parts["cta_label"]}</a></td></tr></table>
<p style="margin:0">Best,</p>
{parts["signature"]}
</td></tr>
<tr><td class="pad" style="padding:16px 32px;background:#fafafa;font-size:11px;line-height:1.5;color:#8a8f98">{parts["footer"]}</td></tr>
</table></td></tr></table>
<img src="{parts["pixel"]}" width="1" height="1" alt="" style="display:block;border:0;width:1px;height:1px">
</body></html>
"""


def _plain_html(p: TenantProfile, paras: list[str], parts: dict[str, str]) -> str:
    """The plain-looking HTML of a hand-written email, as a webmail composer lays it out."""
    gap = "<div><br></div>\n"
    body = gap.join(f"<div>{html.escape(x, quote=False)}</div>\n" for x in paras)
    return (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"></head>\n'
        f'<body><div dir="ltr" style="font-family:{p.font};font-size:14px;color:#222222">\n'
        f'<div>{parts["greeting"]}</div>\n{gap}{body}{gap}<div><a href="{parts["cta_url"]}">'
        f"{parts['cta_label']}</a></div>\n{gap}<div>Best,</div>\n{parts['signature']}</div>\n"
        f'<div style="margin-top:24px;font-size:11px;line-height:1.5;color:#999999">{parts["footer"]}</div>\n'
        f'<img src="{parts["pixel"]}" width="1" height="1" alt="" style="display:none">\n</body></html>\n'
    )


def _message(p: TenantProfile, i: int, rng: random.Random, lead: dict[str, str]) -> ColdEmail:
    """Message number i of a tenant: a template and sender picked, personalised for the lead."""
    template = rng.choices(p.templates, weights=[1 / t.step for t in p.templates])[0]
    sender = rng.choice(p.senders)
    click = _token(rng, 12)

    def track() -> str:
        return f"https://{p.tracking_domain}/c/{click}/{_token(rng, 10)}"

    unsubscribe = f"https://{p.tracking_domain}/u/{_token(rng, 32)}"
    paras = [x.format_map(lead) for x in template.paragraphs]
    address = html.escape(p.address)
    parts = {
        "greeting": f"Hi {lead['first']},",
        "cta_url": track(),
        "cta_label": template.cta_label,
        "signature": _signature_html(p, sender, track),
        "pixel": f"https://{p.tracking_domain}/o/{_token(rng, 24)}.gif",
        "footer": f"{p.name} &middot; {address}<br>{html.escape(p.footer.format_map(lead))} "
        f'<a href="{unsubscribe}" style="color:inherit">Unsubscribe</a> &middot; '
        f'<a href="{unsubscribe}?prefs=1" style="color:inherit">Email preferences</a>',
    }
    subject = template.subject.format_map(lead)
    body = _rich_html(p, subject, paras, parts) if template.rich else _plain_html(p, paras, parts)
    text = (
        f"{parts['greeting']}\n\n"
        + "\n\n".join(paras)
        + f"\n\n{template.cta_label}: {parts['cta_url']}"
        f"\n\nBest,\n{sender.name}\n{sender.title}, {p.name}\n{sender.phone} | {p.domain}\n\n--\n"
        f"{p.name}, {p.address}\n{p.footer.format_map(lead)}\nUnsubscribe: {unsubscribe}\n"
    )
    sent_at = START + timedelta(days=p.index % 7, seconds=i * 45 + rng.randint(0, 44))
    campaign = rng.choice(p.campaign_ids)
    lead_id = f"lead-{i}"
    headers = [
        ("X-Campaign-Id", campaign),
        ("X-Lead-Id", lead_id),
        ("X-Sequence-Step", str(template.step)),
        ("X-Template-Id", template.template_id),
        ("X-Mailer", f"Coldwire Sender 5.{p.index % 4}.{rng.randint(0, 3)}"),
        ("Feedback-ID", f"{template.step}:{campaign}:{p.index}:coldwire"),
        ("Precedence", "bulk"),
        (
            "List-Unsubscribe",
            f"<mailto:unsubscribe+{unsubscribe[-32:]}@{p.sending_domain}>, <{unsubscribe}>",
        ),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ("X-Entity-Ref-ID", _uuid(rng)),
    ]
    return ColdEmail(
        lead_id=lead_id,
        to_email=lead["email"],
        to_name=f"{lead['first']} {lead['last']}",
        subject=subject,
        text=text,
        html=body,
        headers=headers,
        from_email=sender.email,
        from_name=sender.name,
        campaign_id=campaign,
        message_id=f"<{sent_at:%Y%m%d%H%M%S}.{_token(rng, 16)}@{p.sending_domain}>",
        sent_at=sent_at,
    )


def cold_email(i: int, rng: random.Random) -> ColdEmail:
    """Message number i of tenant 0's campaigns, personalised for its lead."""
    return _message(tenant_profile(0), i, rng, _lead(rng))


def _outbound_with_leads(
    tenant_index: int, count: int, seed: int
) -> list[tuple[ColdEmail, dict[str, str]]]:
    """Outbound messages with the leads they went to; a shorter count gives a prefix."""
    profile, rng = tenant_profile(tenant_index), random.Random(f"outbound:{tenant_index}:{seed}")
    pairs = []
    for i in range(count):
        lead = _lead(rng)
        pairs.append((_message(profile, i, rng, lead), lead))
    return pairs


def outbound(tenant_index: int, count: int, seed: int = 42) -> list[ColdEmail]:
    """count personalised messages sent by one tenant, in send order."""
    return [mail for mail, _ in _outbound_with_leads(tenant_index, count, seed)]


def _drop_part_mime_versions(msg: EmailMessage) -> None:
    """Remove the MIME-Version email adds to alternatives; MTAs put it on the top level only."""
    for part in msg.iter_parts():
        del part["MIME-Version"]


def to_rfc5322(mail: ColdEmail) -> bytes:
    """The message as the MTA sends it: multipart/alternative, quoted-printable, CRLF."""
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = formataddr((mail.from_name, mail.from_email or "sender@example.com"))
    msg["To"] = formataddr((mail.to_name, mail.to_email))
    msg["Subject"] = mail.subject
    msg["Date"] = format_datetime(mail.sent_at or START)
    msg["Message-ID"] = mail.message_id or f"<{mail.lead_id}@example.com>"
    msg["MIME-Version"] = "1.0"
    for name, value in mail.headers:
        msg[name] = value
    msg.set_content(mail.text, cte="quoted-printable")
    msg.add_alternative(mail.html, subtype="html", cte="quoted-printable")
    _drop_part_mime_versions(msg)
    # email picks boundaries from the global random module; derive one so output is stable.
    msg.set_boundary("b1_" + hashlib.sha256(msg["Message-ID"].encode()).hexdigest()[:32])
    return msg.as_bytes()


@dataclass(frozen=True)
class _Client:
    """A lead's mail client and provider, which decide headers, ids and quoting."""

    host: str  # "google", "microsoft" or "other": whose servers add the trace headers
    agent: tuple[str, str] | None
    signature: str | None  # a mobile footer; None: the lead's own desktop signature
    style: str  # "gmail", "outlook", "apple" or "thunderbird"
    weight: int


CLIENTS = [
    _Client("google", None, None, "gmail", 30),
    _Client("microsoft", ("X-Mailer", "Microsoft Outlook 16.0"), None, "outlook", 20),
    _Client("microsoft", None, "Get Outlook for iOS<https://aka.ms/o0ukef>", "outlook", 8),
    _Client("google", ("X-Mailer", "iPhone Mail (21E236)"), "Sent from my iPhone", "apple", 15),
    _Client("other", ("X-Mailer", "Apple Mail (2.3774.500.171.1.1)"), None, "apple", 6),
    _Client("other", ("User-Agent", "Mozilla Thunderbird 128.7.1"), None, "thunderbird", 5),
    _Client("google", ("X-Mailer", "Superhuman Desktop (2025-02-27T18:41:02Z)"), "Sent via Superhuman", "gmail", 5),
    _Client("google", None, "Sent from my Galaxy", "gmail", 6),
]  # fmt: skip
REPLIES = {
    "interested": [
        "Thanks for reaching out. This is timely, we were just discussing {topic} last week. Could you send a couple of times for Thursday or Friday?",
        "Sure, happy to chat. I'm free {day} afternoon, anything after 2pm my time works.",
        "Interesting. Can you send pricing and a case study from {industry} first? If it looks good I'll loop in our {colleague_title}.",
        "Yes, let's talk. Adding {colleague}, who runs this on our side. {colleague_first}, can you find 20 minutes next week?",
        "Sounds relevant. What does implementation look like for a team of about {count}0 people?",
    ],
    "not_now": [
        "Thanks, not a priority for us right now. Maybe check back in Q{quarter}.",
        "We just signed a 12-month contract with someone else, so we're set for now. Feel free to reach out next year.",
        "Appreciate the note, but budgets are frozen until the new fiscal year. Circle back in {month}?",
        "Not for us at the moment, we're heads down on a migration. Try me again after the summer.",
    ],
    "wrong_person": [
        "I'm not the right person for this. You'd want {colleague}, our {colleague_title} ({colleague_email}).",
        "Hi, I moved to a different team a few months ago. {colleague} owns this now.",
        "Wrong person I'm afraid, I look after partnerships. Not sure who handles this these days, sorry.",
    ],
    "ooo": [
        "Thank you for your email. I am out of the office until {return_date} with limited access to email. For anything urgent, please contact {colleague} at {colleague_email}.",
        "I'm currently on leave and will be back on {return_date}. Your message will not be forwarded.",
        "Hi, I'm travelling for {event} until {return_date} and will reply when I'm back. Thanks for your patience.",
    ],
    "unsubscribe": [
        "Please remove me from your list.",
        "Unsubscribe",
        "Stop emailing me. This is the third message this month.",
        "Please take me off this list and don't contact anyone else at {company} either.",
    ],
    "question": [
        "How did you get my email address?",
        "Do you integrate with Salesforce? That's a dealbreaker for us.",
        "What's the minimum contract length, and is there a free pilot?",
        "Who else in {industry} uses this? Happy to look if you have a reference I can call.",
    ],
}  # fmt: skip
REPLY_WEIGHTS = {"interested": 20, "not_now": 20, "wrong_person": 10, "ooo": 20, "unsubscribe": 15, "question": 15}  # fmt: skip
DISCLAIMER = (
    "CONFIDENTIALITY NOTICE: This email and any attachments are for the sole use of the intended "
    "recipient(s) and may contain confidential information. If you are not the intended recipient, "
    "please contact the sender and delete all copies."
)


def _ms_host(rng: random.Random) -> str:
    """An Exchange Online server name, like BN8PR12MB3569.namprd12.prod.outlook.com."""
    pod = rng.choice(["BN8", "PH7", "SA1", "DM6", "AM9", "DB9"])
    region = rng.choice(["namprd12", "namprd04", "eurprd08", "eurprd04"])
    return f"{pod}PR{rng.randint(10, 19)}MB{rng.randint(1000, 9999)}.{region}.prod.outlook.com"


def _signature_header(
    rng: random.Random, name: str, tags: str, signed: str, when: datetime, indent: str = "\t"
) -> str:
    """A DKIM- or ARC-shaped header: tags, signed header list, body hash, 2048-bit signature."""
    return (
        f"{name}: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n{indent}{tags}; t={int(when.timestamp())};"
        f"\r\n{indent}h={signed};\r\n{indent}bh={_b64(rng, 32)};\r\n{indent}b={_fold(_b64(rng, 256), indent)}"
    )


def _google_trace(rng: random.Random, lead: dict[str, str], to: str, when: datetime) -> list[str]:
    """What Gmail's servers add to a message from a Google Workspace user."""
    hop, ld = format_datetime(when + timedelta(seconds=2)), lead["domain"]
    ip = f"209.85.{rng.randint(128, 223)}.{rng.randint(1, 254)}"
    sid = f"{_token(rng, 12).lower()}si{rng.randint(10**8, 10**9)}"
    relay = f"mail-{rng.choice(['ej1', 'wm1', 'lf1', 'yw1'])}-f{rng.randint(41, 199)}.google.com"
    auth = f"dkim=pass header.i=@{ld} header.s=google header.b={_token(rng, 8)};\r\n\tspf=pass (google.com: domain of {lead['email']} designates {ip} as permitted sender) smtp.mailfrom={lead['email']};\r\n\tdmarc=pass (p=QUARANTINE sp=QUARANTINE dis=NONE) header.from={ld}"
    return [
        f"Delivered-To: {to}",
        f"Received: by 2002:a05:7208:{rng.randrange(65536):x}:b0:{rng.randrange(65536):x} with SMTP id {sid};\r\n\t{hop}",
        f"X-Received: by 2002:a17:907:{rng.randrange(65536):x} with SMTP id {sid};\r\n\t{hop}",
        f"ARC-Seal: i=1; a=rsa-sha256; t={int(when.timestamp())}; cv=none;\r\n\td=google.com; s=arc-20240605;\r\n\tb={_fold(_b64(rng, 256))}",
        _signature_header(rng, "ARC-Message-Signature", "i=1; d=google.com; s=arc-20240605", "to:subject:message-id:date:from:in-reply-to:references:mime-version:dkim-signature", when),
        f"ARC-Authentication-Results: i=1; mx.google.com;\r\n\t{auth}",
        f"Return-Path: <{lead['email']}>",
        f"Received: from {relay} ({relay}. [{ip}])\r\n\tby mx.google.com with SMTPS id {sid}\r\n\tfor <{to}>\r\n\t(Google Transport Security);\r\n\t{hop}",
        f"Received-SPF: pass (google.com: domain of {lead['email']} designates {ip} as permitted sender) client-ip={ip};",
        f"Authentication-Results: mx.google.com;\r\n\t{auth}",
        _signature_header(rng, "DKIM-Signature", f"d={ld}; s=google", "mime-version:references:in-reply-to:from:date:message-id:subject:to", when),
        _signature_header(rng, "X-Google-DKIM-Signature", "d=1e100.net; s=20230601", "x-gm-message-state:mime-version:references:in-reply-to:from:date:message-id:subject:to", when),
        f"X-Gm-Message-State: AOJu0Y{_b64(rng, 48)}",
        f"X-Gm-Gg: ASbGnc{_fold(_b64(rng, 180))}",
        f"X-Google-Smtp-Source: AGHT+I{_b64(rng, 54)}",
    ]  # fmt: skip


def _microsoft_trace(rng: random.Random, lead: dict[str, str], when: datetime) -> list[str]:
    """What Exchange Online adds to a message from a Microsoft 365 user."""
    hop, ld = format_datetime(when + timedelta(seconds=2)), lead["domain"]
    hosts = [_ms_host(rng) for _ in range(3)]
    server = "with Microsoft SMTP\r\n Server (version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id\r\n 15.20.8489.25"
    return [
        *(f"Received: from {a} (2603:10b6:{rng.randrange(65536):x}::{rng.randrange(65536):x})\r\n by {b} {server}; {hop}" for a, b in pairwise(hosts)),
        f"ARC-Seal: i=1; a=rsa-sha256; s=arcselector10001; d=microsoft.com; cv=none;\r\n b={_fold(_b64(rng, 256), ' ')}",
        _signature_header(rng, "ARC-Message-Signature", "i=1; d=microsoft.com; s=arcselector10001", "From:Date:Subject:Message-ID:Content-Type:MIME-Version:X-MS-Exchange-AntiSpam-MessageData-ChunkCount:X-MS-Exchange-AntiSpam-MessageData-0", when, " "),
        f"ARC-Authentication-Results: i=1; mx.microsoft.com 1; spf=pass\r\n smtp.mailfrom={ld}; dmarc=pass action=none header.from={ld}; dkim=pass\r\n header.d={ld}; arc=none",
        _signature_header(rng, "DKIM-Signature", f"d={ld}; s=selector1", "From:Date:Subject:Message-ID:Content-Type:MIME-Version:X-MS-Exchange-SenderADCheck", when, " "),
        f"Authentication-Results: dkim=none (message not signed)\r\n header.d=none;dmarc=none action=none header.from={ld};",
        "X-MS-Has-Attach: ",
        "X-MS-TNEF-Correlator: ",
        "x-ms-publictraffictype: Email",
        f"x-ms-traffictypediagnostic: {hosts[0].split('.')[0]}:EE_|{hosts[1].split('.')[0]}:EE_",
        f"x-ms-office365-filtering-correlation-id: {_uuid(rng)}",
        "x-microsoft-antispam: BCL:0;ARA:13230040|366016|1800799024|376014|38070700018;",
        f"x-microsoft-antispam-message-info:\r\n {_fold(_b64(rng, 720), ' ')}",
        f"x-forefront-antispam-report: CIP:255.255.255.255;CTRY:;LANG:en;SCL:1;SRV:;IPV:NLI;SFV:NSPM;H:{hosts[0]};PTR:;CAT:NONE;\r\n SFS:(13230040)(366016)(1800799024)(376014)(38070700018);DIR:OUT;SFP:1101;",
        "x-ms-exchange-antispam-messagedata-chunkcount: 1",
        f"x-ms-exchange-antispam-messagedata-0:\r\n {_fold(_b64(rng, 480), ' ')}",
        f"X-MS-Exchange-CrossTenant-Network-Message-Id: {_uuid(rng)}",
        f"X-MS-Exchange-CrossTenant-id: {_uuid(rng)}",
    ]  # fmt: skip


def _hosted_trace(rng: random.Random, lead: dict[str, str], to: str, when: datetime) -> list[str]:
    """What a company's own Postfix and the sender's MX add."""
    hop, ld, to_domain = (
        format_datetime(when + timedelta(seconds=2)),
        lead["domain"],
        to.split("@")[1],
    )
    ip = f"{rng.randint(23, 198)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    return [
        f"Return-Path: <{lead['email']}>",
        f"Received: from smtp.{ld} (smtp.{ld} [{ip}])\r\n\tby mx.{to_domain} (Postfix) with ESMTPS id {_token(rng, 12)}\r\n\tfor <{to}>; {hop}",
        f"Received: from [10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}] (unknown [{ip}])\r\n\tby smtp.{ld} (Postfix) with ESMTPSA id {_token(rng, 10)};\r\n\t{format_datetime(when)}",
        _signature_header(rng, "DKIM-Signature", f"d={ld}; s=default", "From:Subject:Date:Message-Id:To:In-Reply-To:References:Mime-Version", when),
        f"Authentication-Results: mx.{to_domain};\r\n\tdkim=pass header.d={ld};\r\n\tspf=pass smtp.mailfrom={lead['email']};\r\n\tdmarc=pass header.from={ld}",
        "X-Spam-Status: No, score=-0.1 required=5.0 tests=DKIM_SIGNED,DKIM_VALID,SPF_PASS autolearn=ham",
    ]  # fmt: skip


def _attribution(style: str, name: str, address: str, when: datetime) -> str:
    """The "On <date>, <sender> wrote:" line each client writes its own way."""
    if style == "gmail":
        clock = f"{when.hour % 12 or 12}:{when:%M} {'AM' if when.hour < 12 else 'PM'}"
        return f"On {when:%a}, {when:%b} {when.day}, {when:%Y} at {clock} {name} <{address}> wrote:"
    if style == "apple":
        return f"On {when:%b} {when.day}, {when:%Y}, at {when:%H:%M}, {name} <{address}> wrote:"
    if style == "outlook":
        return f"On {when:%a}, {when.day} {when:%b} {when:%Y} at {when:%H:%M}, {name} <{address}> wrote:"
    return f"On {when:%d/%m/%Y} {when:%H:%M}, {name} wrote:"


def _quote(text: str) -> str:
    """The original text as clients quote it: wrapped, each line prefixed with "> "."""
    lines = []
    for line in text.splitlines():
        lines.extend(textwrap.wrap(line, 74) or [""])
    return "\n".join(f"> {x}".rstrip() for x in lines)


def _reply_text(
    original: ColdEmail, lead: dict[str, str], client: _Client, kind: str, rng: random.Random
) -> tuple[str, str]:
    """The reply's own lines, the lead's signature and, unless automatic, the quoted original."""
    c_first, c_last = rng.choice(FIRST), rng.choice(LAST)
    facts = {
        **lead, "colleague": f"{c_first} {c_last}", "colleague_first": c_first,
        "colleague_email": f"{_slug(c_first)}.{_slug(c_last)}@{lead['domain']}",
        "colleague_title": rng.choice(TITLES), "day": rng.choice(["Tuesday", "Wednesday", "Thursday"]),
        "quarter": str(rng.randint(1, 4)), "month": rng.choice(["April", "June", "September", "January"]),
        "return_date": f"{(original.sent_at or START) + timedelta(days=rng.randint(2, 14)):%A %d %B}",
    }  # fmt: skip
    line = rng.choice(REPLIES[kind]).format_map(facts)
    signature = client.signature or (
        f"--\n{lead['first']} {lead['last']}\n{lead['title']} | {lead['company']}\n"
        f"+1 555 {rng.randint(100, 999)} {rng.randint(1000, 9999)} | www.{lead['domain']}"
        + (f"\n\n{DISCLAIMER}" if rng.random() < 0.3 else "")
    )
    if kind == "ooo":  # auto-replies quote nothing
        return f"{line}\n\n{signature}\n", ""
    sender_first = original.from_name.split()[0]
    greeting = rng.choice(
        [f"Hi {sender_first},\n\n", f"Hey {sender_first},\n\n", f"{sender_first},\n\n", ""]
    )
    signoff = rng.choice(["Thanks,\n", "Best,\n", "Cheers,\n", "Regards,\n", ""])
    return f"{greeting}{line}\n\n{signoff}{lead['first']}\n\n{signature}\n", _quote(original.text)


def _reply_html(own: str, attribution: str, original: ColdEmail, quoted: bool) -> str:
    """The HTML alternative some clients add: the same lines, the original in a blockquote."""
    top = html.escape(own.strip(), quote=False).replace("\n", "<br>\n")
    if not quoted:
        return f'<div dir="ltr">{top}</div>\n'
    lines = "".join(
        f"<div>{html.escape(x, quote=False) or '<br>'}</div>\n" for x in original.text.splitlines()
    )
    return (
        f'<div dir="ltr">{top}</div>\n<br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">'
        f'{html.escape(attribution)}<br></div>\n<blockquote class="gmail_quote" style="margin:0px 0px '
        f'0px 0.8ex;border-left:1px solid rgb(204,204,204);padding-left:1ex">\n{lines}</blockquote></div>\n'
    )


def _reply(original: ColdEmail, lead: dict[str, str], rng: random.Random) -> bytes:
    """The lead's answer to one outbound message, as it arrives at the sender's mailbox."""
    client = rng.choices(CLIENTS, weights=[c.weight for c in CLIENTS])[0]
    kind = rng.choices(list(REPLY_WEIGHTS), weights=list(REPLY_WEIGHTS.values()))[0]
    local = timezone(timedelta(hours=int(lead["utc_offset"])))
    delay = rng.randint(1, 15) if kind == "ooo" else rng.randint(4, 5 * 24 * 60)  # minutes
    sent = (original.sent_at or START) + timedelta(minutes=delay)
    own, quoted = _reply_text(original, lead, client, kind, rng)
    original_sent = (original.sent_at or START).astimezone(local)
    attribution = _attribution(client.style, original.from_name, original.from_email, original_sent)
    if kind == "ooo":
        subject = (
            "Automatic reply: " if client.style == "outlook" else "Out of Office: "
        ) + original.subject
    elif original.subject.startswith("Re: "):
        subject = original.subject
    else:
        subject = ("RE: " if client.style == "outlook" else "Re: ") + original.subject
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = formataddr((f"{lead['first']} {lead['last']}", lead["email"]))
    msg["To"] = formataddr((original.from_name, original.from_email))
    msg["Subject"] = subject
    msg["Date"] = format_datetime(sent.astimezone(local))
    if client.style == "gmail":
        msg["Message-ID"] = f"<CA{_token(rng, 44)}@mail.gmail.com>"
    elif client.style == "outlook":
        host = _ms_host(rng)
        msg["Message-ID"] = f"<{host.split('.')[0]}{_token(rng, 16).upper()}@{host}>"
        msg["Thread-Topic"] = original.subject
        msg["Thread-Index"] = _b64(rng, 22 + 5 * rng.randint(0, 3))
        msg["Content-Language"] = "en-US"
    else:
        msg["Message-ID"] = f"<{_uuid(rng).upper()}@{lead['domain']}>"
    msg["In-Reply-To"] = original.message_id
    msg["References"] = original.message_id
    if kind == "ooo":
        msg["Auto-Submitted"] = "auto-replied"
    if client.agent:
        msg[client.agent[0]] = client.agent[1]
    msg["MIME-Version"] = "1.0"
    text = f"{own}\n{attribution}\n{quoted}\n" if quoted else own
    msg.set_content(text, cte="quoted-printable")
    if rng.random() < 0.2:
        html_body = _reply_html(own, attribution, original, bool(quoted))
        msg.add_alternative(html_body, subtype="html", cte="quoted-printable")
        _drop_part_mime_versions(msg)
        msg.set_boundary(f"000000000000{rng.getrandbits(64):016x}")
    if client.host == "google":
        trace = _google_trace(rng, lead, original.from_email, sent)
    elif client.host == "microsoft":
        trace = _microsoft_trace(rng, lead, sent)
    else:
        trace = _hosted_trace(rng, lead, original.from_email, sent)
    # Servers prepend trace headers, so they come before the client's own.
    return "\r\n".join(trace).encode() + b"\r\n" + msg.as_bytes()


def inbound_replies(tenant_index: int, count: int, seed: int = 7) -> list[bytes]:
    """count raw replies to a tenant: reply k answers outbound(tenant_index, count)[k]."""
    rng = random.Random(f"inbound:{tenant_index}:{seed}")
    return [_reply(mail, lead, rng) for mail, lead in _outbound_with_leads(tenant_index, count, 42)]


def _zstd_ratio(mails: list[ColdEmail]) -> float | None:
    """Compressed / raw body bytes, each text and HTML part on its own at level 1."""
    try:
        import zstandard  # optional: the summary works without it
    except ImportError:
        return None
    compressor = zstandard.ZstdCompressor(level=1)
    raw = sum(len(m.text.encode()) + len(m.html.encode()) for m in mails)
    packed = sum(
        len(compressor.compress(m.text.encode())) + len(compressor.compress(m.html.encode()))
        for m in mails
    )
    return float(packed / raw)


def _summary(tenant: int) -> str:
    """One line about a tenant's corpus: sizes of outbound mail and replies, zstd ratio."""
    profile, mails, replies = (
        tenant_profile(tenant),
        outbound(tenant, 1000),
        inbound_replies(tenant, 200),
    )
    sizes = [len(m.text.encode()) + len(m.html.encode()) for m in mails]
    raw = sum(len(to_rfc5322(m)) for m in mails) / len(mails)
    reply_sizes = [len(r) for r in replies]
    ratio = _zstd_ratio(mails)
    return (
        f"tenant {tenant} {profile.name}: {len(profile.templates)} templates, {len(profile.senders)} senders; "
        f"{len(mails)} outbound, text+html mean {sum(sizes) / len(sizes):.0f} B "
        f"(min {min(sizes)}, max {max(sizes)}), raw RFC 5322 mean {raw:.0f} B, "
        + (f"zstd-1 {ratio:.3f}" if ratio is not None else "zstandard not installed")
        + f"; {len(replies)} replies, raw mean {sum(reply_sizes) / len(reply_sizes):.0f} B "
        f"(min {min(reply_sizes)}, max {max(reply_sizes)}), "
        f"{sum(b'text/html' in r for r in replies) / len(replies):.0%} with HTML"
    )


if __name__ == "__main__":  # a quick look at the corpus
    for tenant in range(3):
        print(_summary(tenant))
