-- Status events: message_events rows, and the lifecycle columns of the messages they concern.

-- name: lock_states
-- The messages events name, by key or by Message-ID, locked for the events' transaction in
-- key order (concurrent groups lock in the same order, so they cannot deadlock).
SELECT storage_key, message_id_header, direction, status, created_at, sent_at, delivered_at,
       opened_at, clicked_at, replied_at, bounced_at, failed_at, bounce
FROM email_messages
WHERE tenant_id = %(tenant_id)s
  AND (storage_key = ANY(%(storage_keys)s::text[])
       OR (message_id_header <> '' AND message_id_header = ANY(%(message_ids)s::text[])))
ORDER BY storage_key
FOR UPDATE

-- name: known
-- Events recorded before under these event ids.
SELECT event_id, storage_key, fingerprint FROM message_events
WHERE tenant_id = %(tenant_id)s AND event_id IS NOT NULL
  AND event_id = ANY(%(event_ids)s::text[])

-- name: record
-- New events, the lifecycle of the messages they changed, and the messages events named but
-- did not change (%(unchanged)s: repeats, events that add nothing), in one statement. An
-- event id recorded meanwhile by another process is a unique violation: nothing is written.
WITH e AS (
    INSERT INTO message_events (tenant_id, storage_key, event_id, status, occurred_at, source,
                                detail, fingerprint)
    SELECT %(tenant_id)s, storage_key, event_id, status, occurred_at, source, detail,
           fingerprint
    FROM jsonb_populate_recordset(NULL::message_events, %(events)s)
), u AS (
    UPDATE email_messages m
    SET status = c.status, sent_at = c.sent_at, delivered_at = c.delivered_at,
        opened_at = c.opened_at, clicked_at = c.clicked_at, replied_at = c.replied_at,
        bounced_at = c.bounced_at, failed_at = c.failed_at, bounce = c.bounce,
        updated_at = now()
    FROM jsonb_populate_recordset(NULL::email_messages, %(changes)s) c
    WHERE m.tenant_id = %(tenant_id)s AND m.storage_key = c.storage_key
    RETURNING {m.message_columns}
), f AS (
    -- The change feed (migration 0012): one 'updated' change per changed message.
    INSERT INTO changes (tenant_id, storage_key, kind, status, campaign_id, lead_id)
    SELECT %(tenant_id)s, storage_key, 'updated', status, campaign_id, lead_id FROM u
)
SELECT * FROM u
UNION ALL
SELECT {m.message_columns} FROM email_messages m
WHERE m.tenant_id = %(tenant_id)s AND m.storage_key = ANY(%(unchanged)s::text[])

-- name: history
-- A message's events in the order they occurred (then in the order they were recorded).
SELECT event_id, status, occurred_at, detail, source, recorded_at FROM message_events
WHERE tenant_id = %(tenant_id)s AND storage_key = %(storage_key)s
ORDER BY occurred_at, seq
