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
-- reference counted. Returns the times the database gave each message.
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
    INSERT INTO email_messages AS m ({message_insert_columns})
    SELECT {message_insert_columns}
    FROM jsonb_populate_recordset(NULL::email_messages, %(messages)s)
    RETURNING m.storage_key, m.created_at, m.updated_at
), c AS (
    INSERT INTO email_content (tenant_id, storage_key, headers, text_sha256, html_sha256,
                               raw_sha256, raw_parts)
    SELECT tenant_id, storage_key, headers, text_sha256, html_sha256, raw_sha256, raw_parts
    FROM jsonb_populate_recordset(NULL::email_content, %(contents)s)
), a AS (
    INSERT INTO attachments (tenant_id, {attachment_insert_columns})
    SELECT tenant_id, {attachment_insert_columns}
    FROM jsonb_populate_recordset(NULL::attachments, %(attachments)s)
)
SELECT * FROM m

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
-- The stored messages a new one may answer, found by Message-ID.
SELECT message_id_header, thread_id, storage_key, created_at FROM email_messages
WHERE tenant_id = %(tenant_id)s AND message_id_header <> ''
  AND message_id_header = ANY(%(message_ids)s::text[])

-- name: select_attachments
SELECT {attachment_columns} FROM attachments
WHERE tenant_id = %(tenant_id)s AND storage_key = ANY(%(storage_keys)s::text[])
ORDER BY storage_key, position

-- name: select_content
SELECT c.storage_key, c.headers, c.text_sha256, c.html_sha256, c.raw_sha256 AS skeleton_sha256,
       c.raw_parts, m.raw_size_bytes
FROM email_content c
JOIN email_messages m ON m.tenant_id = c.tenant_id AND m.storage_key = c.storage_key
WHERE c.tenant_id = %(tenant_id)s AND c.storage_key = %(storage_key)s

-- name: select_page
-- ListMessages: {where} is made of fixed conditions, each value bound.
SELECT {m.message_columns} FROM email_messages m
WHERE {where}
ORDER BY m.created_at DESC, m.storage_key DESC
LIMIT %(limit)s

-- name: delete_message
-- Deleting the message row cascades to its content and attachment rows; the blobs they
-- referenced lose one reference each, and one referencing message (in the same statement, so
-- the counts never drift).
WITH m AS (
    DELETE FROM email_messages
    WHERE tenant_id = %(tenant_id)s AND storage_key = %(storage_key)s
    RETURNING tenant_id, storage_key
), refs AS (
    SELECT c.text_sha256 AS sha256 FROM email_content c JOIN m USING (tenant_id, storage_key)
    WHERE c.text_sha256 IS NOT NULL
    UNION ALL
    SELECT c.html_sha256 FROM email_content c JOIN m USING (tenant_id, storage_key)
    WHERE c.html_sha256 IS NOT NULL
    UNION ALL
    SELECT c.raw_sha256 FROM email_content c JOIN m USING (tenant_id, storage_key)
    WHERE c.raw_sha256 IS NOT NULL
    UNION ALL
    SELECT decode(p.sha256, 'hex') FROM email_content c JOIN m USING (tenant_id, storage_key)
        CROSS JOIN LATERAL jsonb_array_elements_text(c.raw_parts) AS p(sha256)
    UNION ALL
    SELECT a.sha256 FROM attachments a JOIN m USING (tenant_id, storage_key)
), released AS (
    UPDATE blobs b
    SET refcount = b.refcount - r.n,
        message_refs = b.message_refs - 1,  -- one message
        last_unreferenced_at = CASE WHEN b.refcount - r.n = 0 THEN now() END
    FROM (SELECT sha256, count(*) AS n FROM refs GROUP BY sha256) r
    WHERE b.tenant_id = %(tenant_id)s AND b.sha256 = r.sha256
    RETURNING b.sha256, b.refcount
)
SELECT (SELECT count(*) FROM m) AS deleted,
       coalesce(array_agg(sha256) FILTER (WHERE refcount = 0), '{}') AS unreferenced
FROM released

-- name: storage_usage
-- Raw bytes count each message's distinct content once (message_refs, migration 0006).
SELECT
    (SELECT count(*) FROM email_messages WHERE tenant_id = %(tenant_id)s) AS message_count,
    (SELECT count(*) FROM attachments WHERE tenant_id = %(tenant_id)s) AS attachment_count,
    count(*) FILTER (WHERE refcount > 0) AS blob_count,
    coalesce(sum(size_bytes * message_refs), 0)::bigint AS raw_bytes,
    coalesce(sum(size_bytes) FILTER (WHERE refcount > 0), 0)::bigint AS unique_bytes,
    coalesce(sum(stored_size_bytes) FILTER (WHERE refcount > 0), 0)::bigint AS stored_bytes,
    coalesce(sum(stored_size_bytes) FILTER (WHERE refcount = 0), 0)::bigint AS pending_gc_bytes
FROM blobs WHERE tenant_id = %(tenant_id)s AND state = 'ready'
