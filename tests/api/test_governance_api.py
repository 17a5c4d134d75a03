"""Retention, legal holds and PurgeExpired over a real gRPC channel to a real server on a real
PostgreSQL. Messages are made old by moving their times back in the database (as the
superuser the tests connect as): the service itself never backdates anything."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import grpc
import psycopg
import pytest
from emailstore.v1 import emailstore_pb2 as pb
from emailstore.v1 import emailstore_pb2_grpc as pb_grpc

from service.config import Config
from service.server import EmailStoreServer
from tests.factories import store_request

Stub = pb_grpc.EmailStoreStub
EMAILSTORE = str(Path(sys.executable).parent / "emailstore")
DAY = timedelta(days=1)


def age(database_url: str, tenant: str, keys: list[str], days: int) -> None:
    """Moves messages' creation `days` back, and their expiry with it."""
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "UPDATE email_messages SET created_at = created_at - make_interval(days => %s),"
            " expires_at = expires_at - make_interval(days => %s)"
            " WHERE tenant_id = %s AND storage_key = ANY(%s)",
            (days, days, tenant, keys),
        )


async def _store(stub: Stub, tenant: str, key: str, **fields: object) -> pb.Message:
    response = await stub.StoreMessage(store_request(tenant, storage_key=key, **fields))
    return response.message


async def _keys(stub: Stub, tenant: str) -> set[str]:
    page = await stub.ListMessages(
        pb.ListMessagesRequest(tenant_id=tenant, include_archived=True, page_size=1000)
    )
    return {m.storage_key for m in page.messages}


async def _purge(stub: Stub, tenant: str, limit: int = 0) -> pb.PurgeResult:
    return await stub.PurgeExpired(pb.PurgeExpiredRequest(tenant_id=tenant, limit=limit))


async def _hold(stub: Stub, tenant: str, hold: bool = True, **scope: object) -> pb.LegalHold:
    return await stub.SetLegalHold(
        pb.SetLegalHoldRequest(
            tenant_id=tenant,
            hold=hold,
            reason="litigation 2026-117" if hold else "",
            placed_by="counsel@acme.io" if hold else "",
            **scope,  # type: ignore[arg-type]
        )
    )


async def _code(call: object) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call  # type: ignore[misc]
    return info.value.code(), info.value.details() or ""


# ------------------------------------------------------------------ retention


async def test_expiry_comes_from_the_policy_in_force(stub: Stub, tenant: str) -> None:
    """The default is 2,555 days; a new policy gives new messages its expiry at once, and
    0 keeps them forever."""
    policy = await stub.GetRetentionPolicy(pb.GetRetentionPolicyRequest(tenant_id=tenant))
    assert (policy.retention_days, policy.is_default, policy.applied) == (2555, True, True)
    first = await _store(stub, tenant, "m-default")
    lifetime = first.expires_at.ToDatetime() - first.created_at.ToDatetime()
    assert lifetime == 2555 * DAY

    set_ = await stub.SetRetentionPolicy(
        pb.SetRetentionPolicyRequest(tenant_id=tenant, retention_days=30)
    )
    assert (set_.retention_days, set_.is_default) == (30, False)
    assert set_.HasField("updated_at")
    second = await _store(stub, tenant, "m-30")
    assert second.expires_at.ToDatetime() - second.created_at.ToDatetime() == 30 * DAY

    await stub.SetRetentionPolicy(pb.SetRetentionPolicyRequest(tenant_id=tenant, retention_days=0))
    forever = await _store(stub, tenant, "m-forever")
    assert not forever.HasField("expires_at")
    got = await stub.GetRetentionPolicy(pb.GetRetentionPolicyRequest(tenant_id=tenant))
    assert (got.retention_days, got.is_default) == (0, False)


async def test_a_policy_change_reaches_older_messages_in_the_background(
    stub: Stub, tenant: str
) -> None:
    """Messages stored before a change get the new expiry (from their own creation time) a
    little later, without a call; `applied` says when."""
    stored = [await _store(stub, tenant, f"m{i}") for i in range(5)]
    await stub.SetRetentionPolicy(pb.SetRetentionPolicyRequest(tenant_id=tenant, retention_days=7))
    for _ in range(100):
        policy = await stub.GetRetentionPolicy(pb.GetRetentionPolicyRequest(tenant_id=tenant))
        if policy.applied:
            break
        await asyncio.sleep(0.05)
    assert policy.applied
    for message in stored:
        got = await stub.GetMessage(
            pb.GetMessageRequest(tenant_id=tenant, storage_key=message.storage_key)
        )
        assert got.expires_at.ToDatetime() - got.created_at.ToDatetime() == 7 * DAY


async def test_retention_out_of_range_is_invalid(stub: Stub, tenant: str) -> None:
    for days in (-1, 36501):
        code, details = await _code(
            stub.SetRetentionPolicy(
                pb.SetRetentionPolicyRequest(tenant_id=tenant, retention_days=days)
            )
        )
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert "retention_days" in details
    # Nothing written: the default still applies, and new mail gets its expiry.
    policy = await stub.GetRetentionPolicy(pb.GetRetentionPolicyRequest(tenant_id=tenant))
    assert (policy.retention_days, policy.is_default) == (2555, True)
    stored = await _store(stub, tenant, "after-refusal")
    assert stored.expires_at.ToDatetime() - stored.created_at.ToDatetime() == 2555 * DAY
    code, _ = await _code(
        stub.GetRetentionPolicy(pb.GetRetentionPolicyRequest(tenant_id="not-a-uuid"))
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT


# ------------------------------------------------------------------ purge


async def test_purge_deletes_expired_mail_only_and_reports_it(
    stub: Stub, tenant: str, database_url: str
) -> None:
    """Expired messages go (DELETED in the feed, bytes reported); the others stay; a second
    purge finds nothing; another tenant's expired mail is not touched."""
    await stub.SetRetentionPolicy(pb.SetRetentionPolicyRequest(tenant_id=tenant, retention_days=30))
    for i in range(5):
        await _store(stub, tenant, f"m{i}", text_body=f"note {i} " * 200)
    age(database_url, tenant, ["m0", "m1", "m2"], 31)
    other = "11111111-2222-4333-8444-555555555555"
    await stub.SetRetentionPolicy(pb.SetRetentionPolicyRequest(tenant_id=other, retention_days=30))
    await _store(stub, other, "theirs")
    age(database_url, other, ["theirs"], 31)

    result = await _purge(stub, tenant)
    assert result.deleted_messages == 3
    assert result.freed_bytes > 0
    assert not result.more
    assert await _keys(stub, tenant) == {"m3", "m4"}
    assert await _keys(stub, other) == {"theirs"}
    again = await _purge(stub, tenant)
    assert (again.deleted_messages, again.freed_bytes) == (0, 0)

    deleted: set[str] = set()
    for _ in range(100):
        page = await stub.ListChanges(pb.ListChangesRequest(tenant_id=tenant, page_size=1000))
        deleted = {c.storage_key for c in page.changes if c.kind == pb.DELETED}
        if len(deleted) == 3:
            break
        await asyncio.sleep(0.05)
    assert deleted == {"m0", "m1", "m2"}


async def test_purge_honours_the_limit_and_says_there_is_more(
    stub: Stub, tenant: str, database_url: str
) -> None:
    await stub.SetRetentionPolicy(pb.SetRetentionPolicyRequest(tenant_id=tenant, retention_days=1))
    keys = [f"m{i}" for i in range(7)]
    for key in keys:
        await _store(stub, tenant, key)
    age(database_url, tenant, keys, 2)
    first = await _purge(stub, tenant, limit=5)
    assert (first.deleted_messages, first.more) == (5, True)
    rest = await _purge(stub, tenant, limit=5)
    assert (rest.deleted_messages, rest.more) == (2, False)
    assert await _keys(stub, tenant) == set()
    await _store(stub, tenant, "late")
    age(database_url, tenant, ["late"], 2)
    code, _ = await _code(_purge(stub, tenant, limit=-1))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert await _keys(stub, tenant) == {"late"}  # nothing deleted


async def test_a_longer_policy_protects_messages_before_it_reaches_them(
    stub: Stub, tenant: str, database_url: str
) -> None:
    """Stored under 30 days and 40 days old: a policy of 60 days, even before the background
    pass rewrites their expiry, keeps them; a policy of 10 days purges them."""
    await stub.SetRetentionPolicy(pb.SetRetentionPolicyRequest(tenant_id=tenant, retention_days=30))
    await _store(stub, tenant, "old")
    age(database_url, tenant, ["old"], 40)
    with psycopg.connect(database_url) as conn:  # the stored expiry still says 30 days
        conn.execute(
            "UPDATE retention_policies SET retention_days = 60 WHERE tenant_id = %s", (tenant,)
        )
    assert (await _purge(stub, tenant)).deleted_messages == 0
    await stub.SetRetentionPolicy(pb.SetRetentionPolicyRequest(tenant_id=tenant, retention_days=10))
    for _ in range(200):  # the background pass brings the message to the new policy
        policy = await stub.GetRetentionPolicy(pb.GetRetentionPolicyRequest(tenant_id=tenant))
        if policy.applied:
            break
        await asyncio.sleep(0.05)
    assert policy.applied
    got = await stub.GetMessage(pb.GetMessageRequest(tenant_id=tenant, storage_key="old"))
    assert got.expires_at.ToDatetime() - got.created_at.ToDatetime() == 10 * DAY
    assert (await _purge(stub, tenant)).deleted_messages == 1


# ------------------------------------------------------------------ holds


async def test_holds_keep_expired_mail_from_purge_until_lifted(
    stub: Stub, tenant: str, database_url: str
) -> None:
    """A message hold, a lead hold (covering mail stored after it too) and an address hold
    (matched as cc, the domain in another case) each keep their messages; lifted, they go."""
    await stub.SetRetentionPolicy(pb.SetRetentionPolicyRequest(tenant_id=tenant, retention_days=1))
    await _store(stub, tenant, "by-key", lead_id="lead-a")
    lead_hold = await _hold(stub, tenant, lead_id="lead-held")
    await _store(stub, tenant, "by-lead", lead_id="lead-held")  # stored after the hold
    await _store(
        stub,
        tenant,
        "by-address",
        lead_id="lead-b",
        cc=[pb.Address(email="Witness@EXAMPLE.org", name="W")],
    )
    await _store(stub, tenant, "free", lead_id="lead-c")
    age(database_url, tenant, ["by-key", "by-lead", "by-address", "free"], 2)
    key_hold = await _hold(stub, tenant, storage_key="by-key")
    address_hold = await _hold(stub, tenant, email="Witness@example.ORG")
    assert address_hold.email == "Witness@example.org"  # the domain lower-cased

    assert (await _purge(stub, tenant)).deleted_messages == 1
    assert await _keys(stub, tenant) == {"by-key", "by-lead", "by-address"}

    for hold in (key_hold, lead_hold, address_hold):
        scope = hold.WhichOneof("scope")
        lifted = await _hold(stub, tenant, hold=False, **{scope: getattr(hold, scope)})
        assert lifted.hold_id == hold.hold_id
        assert lifted.HasField("lifted_at")
    assert (await _purge(stub, tenant)).deleted_messages == 3


async def test_a_tenant_hold_stops_purge_and_delete(
    stub: Stub, tenant: str, database_url: str
) -> None:
    await stub.SetRetentionPolicy(pb.SetRetentionPolicyRequest(tenant_id=tenant, retention_days=1))
    await _store(stub, tenant, "m1")
    age(database_url, tenant, ["m1"], 2)
    hold = await _hold(stub, tenant, whole_tenant=True)
    assert hold.whole_tenant
    assert (await _purge(stub, tenant)).deleted_messages == 0
    code, details = await _code(
        stub.DeleteMessage(pb.DeleteMessageRequest(tenant_id=tenant, storage_key="m1"))
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert hold.hold_id in details
    assert "litigation 2026-117" in details
    await _hold(stub, tenant, hold=False, whole_tenant=True)
    await stub.DeleteMessage(pb.DeleteMessageRequest(tenant_id=tenant, storage_key="m1"))
    assert await _keys(stub, tenant) == set()


async def test_delete_of_a_held_message_is_refused_naming_the_hold(stub: Stub, tenant: str) -> None:
    await _store(stub, tenant, "m1", lead_id="lead-x")
    hold = await _hold(stub, tenant, lead_id="lead-x")
    code, details = await _code(
        stub.DeleteMessage(pb.DeleteMessageRequest(tenant_id=tenant, storage_key="m1"))
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert hold.hold_id in details
    assert "litigation 2026-117" in details
    assert await _keys(stub, tenant) == {"m1"}


async def test_placing_twice_answers_the_hold_in_force_and_listing_shows_history(
    stub: Stub, tenant: str
) -> None:
    first = await _hold(stub, tenant, lead_id="lead-1")
    again = await _hold(stub, tenant, lead_id="lead-1")
    assert again.hold_id == first.hold_id
    assert again.placed_at == first.placed_at
    await _hold(stub, tenant, email="cfo@acme.io")
    listed = await stub.ListLegalHolds(pb.ListLegalHoldsRequest(tenant_id=tenant))
    assert next(h.hold_id for h in listed.holds) == first.hold_id
    assert len(listed.holds) == 2
    assert all(h.reason and h.placed_by and h.HasField("placed_at") for h in listed.holds)
    await _hold(stub, tenant, hold=False, lead_id="lead-1")
    in_force = await stub.ListLegalHolds(pb.ListLegalHoldsRequest(tenant_id=tenant))
    assert [h.email for h in in_force.holds] == ["cfo@acme.io"]
    history = await stub.ListLegalHolds(
        pb.ListLegalHoldsRequest(tenant_id=tenant, include_lifted=True)
    )
    assert len(history.holds) == 2
    # Placed again after being lifted: a new hold.
    renewed = await _hold(stub, tenant, lead_id="lead-1")
    assert renewed.hold_id != first.hold_id
    other = await stub.ListLegalHolds(
        pb.ListLegalHoldsRequest(tenant_id="11111111-2222-4333-8444-555555555555")
    )
    assert list(other.holds) == []


@pytest.mark.parametrize(
    ("fields", "code", "needle"),
    [
        ({"hold": True, "reason": "r", "placed_by": "p"}, "INVALID_ARGUMENT", "scope"),
        (
            {"hold": True, "whole_tenant": False, "reason": "r", "placed_by": "p"},
            "INVALID_ARGUMENT",
            "scope",
        ),
        ({"hold": True, "lead_id": "l"}, "INVALID_ARGUMENT", "reason"),
        ({"hold": True, "lead_id": "l", "reason": "r"}, "INVALID_ARGUMENT", "placed_by"),
        (
            {"hold": True, "email": "no-at-sign", "reason": "r", "placed_by": "p"},
            "INVALID_ARGUMENT",
            "email",
        ),
        (
            {"hold": True, "storage_key": "bad key!", "reason": "r", "placed_by": "p"},
            "INVALID_ARGUMENT",
            "storage_key",
        ),
        (
            {"hold": True, "storage_key": "missing", "reason": "r", "placed_by": "p"},
            "NOT_FOUND",
            "missing",
        ),
        ({"hold": False, "lead_id": "never-held"}, "NOT_FOUND", "never-held"),
    ],
)
async def test_bad_hold_requests(
    stub: Stub, tenant: str, fields: dict[str, object], code: str, needle: str
) -> None:
    got, details = await _code(
        stub.SetLegalHold(pb.SetLegalHoldRequest(tenant_id=tenant, **fields))  # type: ignore[arg-type]
    )
    assert got == getattr(grpc.StatusCode, code)
    assert needle in details
    # Nothing written: no hold placed (nor lifted).
    history = await stub.ListLegalHolds(
        pb.ListLegalHoldsRequest(tenant_id=tenant, include_lifted=True)
    )
    assert list(history.holds) == []


# ------------------------------------------------------------------ the purge schedulers


async def test_emailstore_purge_command(stub: Stub, tenant: str, database_url: str) -> None:
    """`emailstore purge --tenant` deletes the tenant's expired mail and says so; a bad
    tenant id is a usage error."""
    await stub.SetRetentionPolicy(pb.SetRetentionPolicyRequest(tenant_id=tenant, retention_days=5))
    for key in ("old-1", "old-2", "new"):
        await _store(stub, tenant, key)
    age(database_url, tenant, ["old-1", "old-2"], 6)
    env = {**os.environ, "EMAILSTORE_DATABASE_URL": database_url}
    process = await asyncio.create_subprocess_exec(
        EMAILSTORE, "purge", "--tenant", tenant, env=env, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, out.decode()
    assert b"purged 2 expired message(s)" in out
    assert await _keys(stub, tenant) == {"new"}
    bad = await asyncio.create_subprocess_exec(
        EMAILSTORE, "purge", "--tenant", "nope", env=env, stderr=asyncio.subprocess.PIPE
    )
    _, err = await asyncio.wait_for(bad.communicate(), timeout=60)
    assert bad.returncode == 2
    assert b"--tenant" in err


async def test_the_server_purges_every_interval(
    config: Config, database_url: str, tenant: str
) -> None:
    """With EMAILSTORE_PURGE_INTERVAL_S set, expired mail goes without a call."""
    server = EmailStoreServer(replace(config, purge_interval_s=0.2), database_url)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = pb_grpc.EmailStoreStub(channel)
            await stub.SetRetentionPolicy(
                pb.SetRetentionPolicyRequest(tenant_id=tenant, retention_days=1)
            )
            await _store(stub, tenant, "old")
            await _store(stub, tenant, "new")
            age(database_url, tenant, ["old"], 2)
            for _ in range(100):
                if await _keys(stub, tenant) == {"new"}:
                    break
                await asyncio.sleep(0.05)
            assert await _keys(stub, tenant) == {"new"}
    finally:
        await server.stop(grace_s=0)
