-- Governance (migration 0015): legal holds, retention, purge, erasure and its audit.

-- name: lock_holds_shared
-- Every deleting transaction, before it reads the holds: a hold being placed waits for it,
-- and it waits for a hold being placed (see migration 0015).
SELECT pg_advisory_xact_lock_shared(hashtextextended('emailstore.holds/' || %(tenant_id)s, 0))

-- name: lock_holds
-- Placing or lifting a hold.
SELECT pg_advisory_xact_lock(hashtextextended('emailstore.holds/' || %(tenant_id)s, 0))

-- name: holds
-- The tenant's holds, oldest first: in force only, or lifted ones too.
SELECT hold_id::text, scope, value, reason, placed_by, placed_at, lifted_at
FROM legal_holds
WHERE tenant_id = %(tenant_id)s AND (%(include_lifted)s OR lifted_at IS NULL)
ORDER BY placed_at, hold_id

-- name: place_hold
-- A new hold; no row when one is in force on the same scope and value already.
INSERT INTO legal_holds (tenant_id, scope, value, reason, placed_by)
VALUES (%(tenant_id)s, %(scope)s, %(value)s, %(reason)s, %(placed_by)s)
ON CONFLICT (tenant_id, scope, value) WHERE lifted_at IS NULL DO NOTHING
RETURNING hold_id::text, scope, value, reason, placed_by, placed_at, lifted_at

-- name: hold_in_force
SELECT hold_id::text, scope, value, reason, placed_by, placed_at, lifted_at
FROM legal_holds
WHERE tenant_id = %(tenant_id)s AND scope = %(scope)s AND value = %(value)s
  AND lifted_at IS NULL

-- name: lift_hold
UPDATE legal_holds SET lifted_at = now()
WHERE tenant_id = %(tenant_id)s AND scope = %(scope)s AND value = %(value)s
  AND lifted_at IS NULL
RETURNING hold_id::text, scope, value, reason, placed_by, placed_at, lifted_at

-- name: normalise_address
SELECT emailstore_address_key(%(email)s)

-- name: get_policy
SELECT retention_days, updated_at, apply_after FROM retention_policies
WHERE tenant_id = %(tenant_id)s

-- name: lock_policy
-- The background pass: the policy it applies, locked so SetRetentionPolicy waits for the batch.
SELECT emailstore_retention_days(%(tenant_id)s) AS retention_days, apply_after
FROM retention_policies WHERE tenant_id = %(tenant_id)s
FOR UPDATE

-- name: set_policy
-- A new policy: older messages are brought to it from the start (retention_pending).
WITH p AS (
    INSERT INTO retention_policies AS p (tenant_id, retention_days, apply_after)
    VALUES (%(tenant_id)s, %(retention_days)s, '')
    ON CONFLICT (tenant_id) DO UPDATE
        SET retention_days = excluded.retention_days, updated_at = now(), apply_after = ''
    RETURNING retention_days, updated_at, apply_after
), pending AS (
    INSERT INTO retention_pending (tenant_id) VALUES (%(tenant_id)s)
    ON CONFLICT (tenant_id) DO UPDATE SET since = now()
)
SELECT * FROM p

-- name: apply_policy
-- One batch of older messages, in key order after a key, given the policy's expiry (from
-- the time each was stored). Returns the batch's last key and how many it changed.
WITH batch AS (
    SELECT storage_key FROM email_messages
    WHERE tenant_id = %(tenant_id)s AND storage_key > %(after)s
    ORDER BY storage_key
    LIMIT %(limit)s
), u AS (
    UPDATE email_messages m
    SET expires_at = CASE WHEN %(days)s > 0 THEN m.created_at + make_interval(days => %(days)s) END
    FROM batch b
    WHERE m.tenant_id = %(tenant_id)s AND m.storage_key = b.storage_key
      AND m.expires_at IS DISTINCT FROM
          (CASE WHEN %(days)s > 0 THEN m.created_at + make_interval(days => %(days)s) END)
    RETURNING 1
)
SELECT (SELECT max(storage_key) FROM batch) AS last_key,
       (SELECT count(*) FROM batch) AS visited,
       (SELECT count(*) FROM u) AS changed

-- name: advance_policy
UPDATE retention_policies SET apply_after = %(after)s WHERE tenant_id = %(tenant_id)s

-- name: policy_applied
WITH p AS (
    UPDATE retention_policies SET apply_after = NULL WHERE tenant_id = %(tenant_id)s
)
DELETE FROM retention_pending WHERE tenant_id = %(tenant_id)s

-- name: pending_tenants
-- Control plane: tenants with a policy still to apply.
SELECT tenant_id::text FROM retention_pending ORDER BY since, tenant_id LIMIT %(limit)s

-- name: expired
-- PurgeExpired: a batch of messages past both their expiry and the policy in force, that no
-- hold in force covers, oldest expiry first (email_messages_expiry), locked; messages another
-- transaction holds locked are left for the next pass.
SELECT m.storage_key FROM email_messages m
WHERE m.tenant_id = %(tenant_id)s AND m.expires_at <= now()
  AND %(days)s > 0 AND m.created_at <= now() - make_interval(days => %(days)s)
  AND m.storage_key <> ALL(%(held_keys)s::text[])
  AND (m.lead_id = '' OR m.lead_id <> ALL(%(held_leads)s::text[]))
  AND (cardinality(%(held_emails)s::text[]) = 0
       OR NOT emailstore_address_keys(m.from_email, m.recipients, m.bounce)
              && %(held_emails)s::text[])
ORDER BY m.expires_at
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED

-- name: erase_batch
-- EraseLead: a batch of the subject's messages ({subject}), locked.
SELECT m.storage_key FROM email_messages m
WHERE m.tenant_id = %(tenant_id)s AND {subject}
ORDER BY m.storage_key
LIMIT %(limit)s
FOR UPDATE

-- name: unfinished_erasure
SELECT erasure_id::text, erased_messages, erased_events, erased_attachments, erased_changes,
       freed_bytes, completed_at
FROM erasures
WHERE tenant_id = %(tenant_id)s AND subject_hash = %(subject_hash)s AND completed_at IS NULL

-- name: last_erasure
SELECT erasure_id::text, erased_messages, erased_events, erased_attachments, erased_changes,
       freed_bytes, completed_at
FROM erasures
WHERE tenant_id = %(tenant_id)s AND subject_hash = %(subject_hash)s
ORDER BY started_at DESC
LIMIT 1

-- name: start_erasure
INSERT INTO erasures (tenant_id, subject_kind, subject_hash, requested_by)
VALUES (%(tenant_id)s, %(subject_kind)s, %(subject_hash)s, %(requested_by)s)
ON CONFLICT (tenant_id, subject_hash) WHERE completed_at IS NULL DO NOTHING
RETURNING erasure_id::text, erased_messages, erased_events, erased_attachments,
          erased_changes, freed_bytes, completed_at

-- name: count_erasure
-- What a batch erased, in the batch's transaction (a crash loses neither the one nor the
-- other).
UPDATE erasures
SET erased_messages = erased_messages + %(messages)s,
    erased_events = erased_events + %(events)s,
    erased_attachments = erased_attachments + %(attachments)s,
    erased_changes = erased_changes + %(changes)s,
    freed_bytes = freed_bytes + %(freed_bytes)s
WHERE tenant_id = %(tenant_id)s AND erasure_id = %(erasure_id)s::uuid

-- name: finish_erasure
UPDATE erasures SET completed_at = now()
WHERE tenant_id = %(tenant_id)s AND erasure_id = %(erasure_id)s::uuid
RETURNING erasure_id::text, erased_messages, erased_events, erased_attachments,
          erased_changes, freed_bytes, completed_at
