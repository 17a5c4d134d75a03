-- Messages: email_messages rows, their email_content and attachments rows.

-- name: insert_messages
-- New messages with everything they consist of, in one statement (one round trip), each kind
-- of row as JSON objects (keys: the columns):
--   %(blobs)s        the blobs they reference: new ones inserted, with their chunks
--                    (%(chunk_sha256)s, %(chunk_seq)s, %(chunk_data)s, the bytes bound in
--                    binary); existing ones gain references and leave the collector's list,
--                    and their chunks, there already with the same bytes, are skipped (the
--                    conflict is found before the value is stored). Sorted by digest: a fixed
--                    lock order, so concurrent groups sharing blobs cannot deadlock.
--   %(messages)s, %(contents)s, %(attachments)s   the message, content and attachment rows.
-- A message whose storage_key, request_id or raw bytes for its mailbox are taken raises a
-- unique violation, which aborts the whole transaction: nothing of it is written, no
-- reference counted, no change in the feed. Returns the times the database gave each message.
WITH b AS (
    INSERT INTO blobs AS b (tenant_id, {blob_insert_columns})
    SELECT %(tenant_id)s, {blob_insert_columns}
    FROM jsonb_populate_recordset(NULL::blobs, %(blobs)s)
    ORDER BY sha256
    ON CONFLICT (tenant_id, sha256) DO UPDATE
        SET refcount = b.refcount + excluded.refcount,
            message_refs = b.message_refs + excluded.message_refs,
            last_unreferenced_at = NULL
), ch AS (
    INSERT INTO blob_chunks (tenant_id, sha256, seq, data)
    SELECT %(tenant_id)s, c.sha256, c.seq, c.data
    FROM unnest(%(chunk_sha256)s::bytea[], %(chunk_seq)s::int[], %(chunk_data)b::bytea[])
        AS c(sha256, seq, data)
    ON CONFLICT (tenant_id, sha256, seq) DO NOTHING
), m AS (
    -- expires_at from the tenant's retention in force (migration 0015; 0 days: never).
    INSERT INTO email_messages AS m ({message_insert_columns}, expires_at)
    SELECT {message_insert_columns},
           CASE WHEN p.days > 0 THEN now() + make_interval(days => p.days) END
    FROM jsonb_populate_recordset(NULL::email_messages, %(messages)s)
    CROSS JOIN emailstore_retention_days(%(tenant_id)s) AS p(days)
    RETURNING m.storage_key, m.created_at, m.updated_at, m.expires_at, m.status, m.campaign_id,
              m.lead_id
), f AS (
    -- The change feed (migration 0012): one 'created' change per message.
    INSERT INTO changes (tenant_id, storage_key, kind, status, campaign_id, lead_id)
    SELECT %(tenant_id)s, storage_key, 'created', status, campaign_id, lead_id FROM m
), c AS (
    INSERT INTO email_content (tenant_id, storage_key, headers, text_sha256, html_sha256,
                               raw_sha256, raw_parts, pack, pack_size, dictionary_id)
    SELECT tenant_id, storage_key, headers, text_sha256, html_sha256, raw_sha256, raw_parts,
           pack, pack_size, dictionary_id
    FROM jsonb_populate_recordset(NULL::email_content, %(contents)s)
), a AS (
    INSERT INTO attachments (tenant_id, {attachment_insert_columns})
    SELECT tenant_id, {attachment_insert_columns}
    FROM jsonb_populate_recordset(NULL::attachments, %(attachments)s)
)
SELECT storage_key, created_at, updated_at, expires_at FROM m

-- name: select_by_key
SELECT {m.message_columns} FROM email_messages m
WHERE m.tenant_id = %(tenant_id)s AND m.storage_key = %(storage_key)s

-- name: select_by_request_id
SELECT {m.message_columns} FROM email_messages m
WHERE m.tenant_id = %(tenant_id)s AND m.request_id = %(request_id)s

-- name: select_by_ingest_hash
SELECT {m.message_columns} FROM email_messages m
WHERE m.tenant_id = %(tenant_id)s AND m.email_account_id = %(email_account_id)s
  AND m.ingest_hash = %(ingest_hash)s

-- name: thread_candidates
-- The stored messages a new one may answer, found by Message-ID, with what a reply inherits.
SELECT message_id_header, thread_id, storage_key, created_at, direction, campaign_id, lead_id,
       sequence_step
FROM email_messages
WHERE tenant_id = %(tenant_id)s AND message_id_header <> ''
  AND message_id_header = ANY(%(message_ids)s::text[])

-- name: select_thread
-- GetThread: a conversation's messages, oldest first (email_messages_thread, read backwards).
SELECT {m.message_columns} FROM email_messages m
WHERE m.tenant_id = %(tenant_id)s AND m.thread_id = %(thread_id)s
ORDER BY m.created_at, m.storage_key
LIMIT %(limit)s

-- name: select_attachments
SELECT {attachment_columns} FROM attachments
WHERE tenant_id = %(tenant_id)s AND storage_key = ANY(%(storage_keys)s::text[])
ORDER BY storage_key, position

-- name: select_content
SELECT c.storage_key, c.headers, c.text_sha256, c.html_sha256, c.raw_sha256 AS skeleton_sha256,
       c.raw_parts, c.pack, c.pack_size, c.dictionary_id, m.raw_size_bytes,
       m.parse_status <> 'structured' AS ingested
FROM email_content c
JOIN email_messages m ON m.tenant_id = c.tenant_id AND m.storage_key = c.storage_key
WHERE c.tenant_id = %(tenant_id)s AND c.storage_key = %(storage_key)s

-- name: select_full
-- GetMessage FULL: the message row and its content row (columns named content__*, NULL when
-- it has none) in one statement.
SELECT {m.message_columns}, c.storage_key AS content__storage_key, c.headers AS content__headers,
       c.text_sha256 AS content__text_sha256, c.html_sha256 AS content__html_sha256,
       c.raw_sha256 AS content__skeleton_sha256, c.raw_parts AS content__raw_parts,
       c.pack AS content__pack, c.pack_size AS content__pack_size,
       c.dictionary_id AS content__dictionary_id, m.raw_size_bytes AS content__raw_size_bytes,
       m.parse_status <> 'structured' AS content__ingested
FROM email_messages m
LEFT JOIN email_content c ON c.tenant_id = m.tenant_id AND c.storage_key = m.storage_key
WHERE m.tenant_id = %(tenant_id)s AND m.storage_key = %(storage_key)s

-- name: select_page
-- ListMessages: {where} is made of fixed conditions, each value bound.
SELECT {m.message_columns} FROM email_messages m
WHERE {where}
ORDER BY m.created_at DESC, m.storage_key DESC
LIMIT %(limit)s

-- name: set_archived
-- Archives (%(archived)s true) or unarchives a message that is not so already, and appends an
-- 'updated' change; no row when the message is missing or already as asked.
WITH u AS (
    UPDATE email_messages m
    SET archived_at = CASE WHEN %(archived)s THEN now() END, updated_at = now()
    WHERE m.tenant_id = %(tenant_id)s AND m.storage_key = %(storage_key)s
      AND (m.archived_at IS NULL) = %(archived)s
    RETURNING {m.message_columns}
), f AS (
    INSERT INTO changes (tenant_id, storage_key, kind, status, campaign_id, lead_id)
    SELECT %(tenant_id)s, storage_key, 'updated', status, campaign_id, lead_id FROM u
)
SELECT * FROM u

-- name: lock_message_blobs
-- The blobs these messages reference, locked in digest order (the writers' order: a deletion
-- and a store sharing blobs cannot deadlock), before delete_messages releases them.
SELECT b.sha256 FROM blobs b
WHERE b.tenant_id = %(tenant_id)s AND b.sha256 IN (
    SELECT unnest(ARRAY[c.text_sha256, c.html_sha256, c.raw_sha256]) FROM email_content c
    WHERE c.tenant_id = %(tenant_id)s AND c.storage_key = ANY(%(keys)s::text[])
    UNION ALL
    SELECT decode(p.part #>> '{}', 'hex') FROM email_content c
        CROSS JOIN LATERAL jsonb_array_elements(c.raw_parts) AS p(part)
    WHERE c.tenant_id = %(tenant_id)s AND c.storage_key = ANY(%(keys)s::text[])
      AND jsonb_typeof(p.part) = 'string'
    UNION ALL
    SELECT a.sha256 FROM attachments a
    WHERE a.tenant_id = %(tenant_id)s AND a.storage_key = ANY(%(keys)s::text[]))
ORDER BY b.sha256
FOR NO KEY UPDATE OF b

-- name: delete_messages
-- Deletes messages (DeleteMessage, PurgeExpired, EraseLead): the message rows cascade to
-- their content, attachment and event rows; each blob they referenced loses its references,
-- and one referencing message per message (in the same statement, so the counts never
-- drift). Each message leaves a 'deleted' change with nothing of it but its key; with
-- %(erase_changes)s, its earlier changes are deleted too (erasure). Returns what went:
-- messages, the blobs left unreferenced, the stored bytes released (packs, and those blobs),
-- event, attachment and change rows.
WITH m AS (
    DELETE FROM email_messages
    WHERE tenant_id = %(tenant_id)s AND storage_key = ANY(%(keys)s::text[])
    RETURNING tenant_id, storage_key
), erased AS (
    DELETE FROM changes ch
    WHERE %(erase_changes)s AND ch.tenant_id = %(tenant_id)s
      AND ch.storage_key IN (SELECT storage_key FROM m)
    RETURNING 1
), f AS (
    INSERT INTO changes (tenant_id, storage_key, kind)
    SELECT tenant_id, storage_key, 'deleted' FROM m
), content AS (
    SELECT c.* FROM email_content c JOIN m USING (tenant_id, storage_key)
), refs AS (
    SELECT storage_key, text_sha256 AS sha256 FROM content WHERE text_sha256 IS NOT NULL
    UNION ALL
    SELECT storage_key, html_sha256 FROM content WHERE html_sha256 IS NOT NULL
    UNION ALL
    SELECT storage_key, raw_sha256 FROM content WHERE raw_sha256 IS NOT NULL
    UNION ALL
    -- The leaf bodies kept as blobs (digests); the numbered ones are in the pack.
    SELECT c.storage_key, decode(p.part #>> '{}', 'hex') FROM content c
        CROSS JOIN LATERAL jsonb_array_elements(c.raw_parts) AS p(part)
    WHERE jsonb_typeof(p.part) = 'string'
    UNION ALL
    SELECT a.storage_key, a.sha256 FROM attachments a JOIN m USING (tenant_id, storage_key)
), released AS (
    UPDATE blobs b
    SET refcount = b.refcount - r.n,
        message_refs = b.message_refs - r.messages,
        last_unreferenced_at = CASE WHEN b.refcount - r.n = 0 THEN now() END
    FROM (SELECT sha256, count(*) AS n, count(DISTINCT storage_key) AS messages
          FROM refs GROUP BY sha256) r
    WHERE b.tenant_id = %(tenant_id)s AND b.sha256 = r.sha256
    RETURNING b.sha256, b.refcount, b.stored_size_bytes
)
SELECT (SELECT count(*) FROM m) AS deleted,
       coalesce((SELECT array_agg(sha256) FROM released WHERE refcount = 0), '{}')
           AS unreferenced,
       (coalesce((SELECT sum(stored_size_bytes) FROM released WHERE refcount = 0), 0)
        + coalesce((SELECT sum(octet_length(pack)) FROM content), 0))::bigint AS freed_bytes,
       (SELECT count(*) FROM message_events e JOIN m USING (tenant_id, storage_key)) AS events,
       (SELECT count(*) FROM attachments a JOIN m USING (tenant_id, storage_key))
           AS attachments,
       (SELECT count(*) FROM erased) AS changes

-- name: drop_unreferenced_blobs
-- Erasure: the blobs it left without references go at once, their chunks with them (the
-- collector's grace period is for uploads racing a delete; an erasure does not wait).
DELETE FROM blobs
WHERE tenant_id = %(tenant_id)s AND sha256 = ANY(%(digests)s::bytea[]) AND refcount = 0

-- name: held_messages
-- Which of the messages chosen by {subject} a hold in force covers by its key, its lead or
-- an address it names (the tenant-wide hold is checked before): with what decides which.
SELECT m.storage_key, m.lead_id,
       emailstore_address_keys(m.from_email, m.recipients, m.bounce) AS addresses
FROM email_messages m
WHERE m.tenant_id = %(tenant_id)s AND {subject}
  AND (m.storage_key = ANY(%(held_keys)s::text[])
       OR (m.lead_id <> '' AND m.lead_id = ANY(%(held_leads)s::text[]))
       OR (cardinality(%(held_emails)s::text[]) > 0
           AND emailstore_address_keys(m.from_email, m.recipients, m.bounce)
               && %(held_emails)s::text[]))
LIMIT %(limit)s

-- name: storage_usage
-- Raw bytes count each message's distinct content once: the blobs it references
-- (message_refs, migration 0006) and its pack. saved_by_dictionary: what packs made with a
-- dictionary would take more without it, from each dictionary's measured ratio on its
-- held-out samples. disk_bytes: each tenant table's size on disk (rows, TOAST, indexes),
-- shared out by the tenant's part of its rows (the table's row estimate from the planner's
-- statistics, as other tenants' rows are not visible here).
WITH b AS (
    SELECT count(*) FILTER (WHERE refcount > 0) AS blob_count,
           coalesce(sum(size_bytes * message_refs), 0) AS raw_bytes,
           coalesce(sum(size_bytes) FILTER (WHERE refcount > 0), 0) AS unique_bytes,
           coalesce(sum(stored_size_bytes) FILTER (WHERE refcount > 0), 0) AS stored_bytes,
           coalesce(sum(stored_size_bytes) FILTER (WHERE refcount = 0), 0) AS pending_gc_bytes
    FROM blobs WHERE tenant_id = %(tenant_id)s AND state = 'ready'
), p AS (
    SELECT coalesce(sum(c.pack_size), 0) AS raw_bytes,
           coalesce(sum(octet_length(c.pack)), 0) AS stored_bytes,
           coalesce(sum(greatest(c.pack_size * d.plain_ratio - octet_length(c.pack), 0))
                    FILTER (WHERE c.dictionary_id IS NOT NULL), 0) AS saved_by_dictionary
    FROM email_content c
    LEFT JOIN zstd_dictionaries d
        ON d.tenant_id = c.tenant_id AND d.dictionary_id = c.dictionary_id
    WHERE c.tenant_id = %(tenant_id)s AND c.pack IS NOT NULL
), counts AS (
    SELECT 'email_messages' AS t, count(*) AS n FROM email_messages WHERE tenant_id = %(tenant_id)s
    UNION ALL SELECT 'email_content', count(*) FROM email_content WHERE tenant_id = %(tenant_id)s
    UNION ALL SELECT 'attachments', count(*) FROM attachments WHERE tenant_id = %(tenant_id)s
    UNION ALL SELECT 'blobs', count(*) FROM blobs WHERE tenant_id = %(tenant_id)s
    UNION ALL SELECT 'blob_chunks', count(*) FROM blob_chunks WHERE tenant_id = %(tenant_id)s
), disk AS (
    SELECT coalesce(sum(pg_total_relation_size(k.oid)
                        * least(1.0, c.n / greatest(k.reltuples, c.n, 1))), 0) AS bytes
    FROM counts c JOIN pg_class k ON k.oid = c.t::regclass
)
SELECT
    (SELECT n FROM counts WHERE t = 'email_messages') AS message_count,
    (SELECT n FROM counts WHERE t = 'attachments') AS attachment_count,
    b.blob_count,
    (b.raw_bytes + p.raw_bytes)::bigint AS raw_bytes,
    (b.unique_bytes + p.raw_bytes)::bigint AS unique_bytes,
    (b.stored_bytes + p.stored_bytes)::bigint AS stored_bytes,
    b.pending_gc_bytes::bigint AS pending_gc_bytes,
    p.saved_by_dictionary::bigint AS saved_by_dictionary_bytes,
    disk.bytes::bigint AS disk_bytes
FROM b, p, disk

-- name: content_to_recompress
-- A batch of content rows not yet packed with the given dictionary (or, with none given, not
-- yet packed at all: rows written before packs), in key order after a key, locked.
SELECT c.storage_key, c.headers, c.text_sha256, c.html_sha256, c.raw_sha256 AS skeleton_sha256,
       c.raw_parts, c.pack, c.pack_size, c.dictionary_id, m.raw_size_bytes,
       m.parse_status <> 'structured' AS ingested
FROM email_content c
JOIN email_messages m ON m.tenant_id = c.tenant_id AND m.storage_key = c.storage_key
WHERE c.tenant_id = %(tenant_id)s AND c.storage_key > %(after)s
  AND (c.pack IS NULL
       OR (%(dictionary_id)s::int IS NOT NULL
           AND c.dictionary_id IS DISTINCT FROM %(dictionary_id)s::int))
ORDER BY c.storage_key
LIMIT %(limit)s
FOR UPDATE OF c SKIP LOCKED

-- name: rewrite_content
-- A content row's new layout, and its message's stored size with it.
WITH c AS (
    UPDATE email_content
    SET headers = '[]', text_sha256 = %(text_sha256)s, html_sha256 = %(html_sha256)s,
        raw_sha256 = %(skeleton_sha256)s, raw_parts = %(raw_parts)s, pack = %(pack)s,
        pack_size = %(pack_size)s, dictionary_id = %(dictionary_id)s
    WHERE tenant_id = %(tenant_id)s AND storage_key = %(storage_key)s
    RETURNING tenant_id, storage_key
)
UPDATE email_messages m SET stored_size_bytes = m.stored_size_bytes + %(stored_delta)s
FROM c WHERE m.tenant_id = c.tenant_id AND m.storage_key = c.storage_key
