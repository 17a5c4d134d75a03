"""Named SQL of the message store. Every value is a bound parameter.

Row-level security already limits every statement to the transaction's tenant; the explicit
``tenant_id = %(tenant_id)s`` conditions are there for the indexes, which all lead with tenant_id.
"""

from __future__ import annotations

MESSAGE_COLUMNS = """
    m.tenant_id::text AS tenant_id, m.storage_key, m.email_account_id, m.campaign_id, m.lead_id,
    m.direction, m.message_type, m.status, m.from_email, m.from_name, m.recipients, m.subject,
    m.message_id_header, m.in_reply_to, m."references", m.thread_id, m.parent_storage_key,
    m.created_at, m.updated_at, m.sent_at, m.expires_at, m.archived_at, m.raw_size_bytes,
    m.stored_size_bytes, m.content_hash, m.labels, m.request_fingerprint, m.request_id
"""

# Adds references to blobs the tenant already has (attachments given by digest).
REFERENCE_EXISTING_BLOBS = """
UPDATE blobs SET refcount = blobs.refcount + u.refs, last_unreferenced_at = NULL
FROM unnest(%(sha256)s::bytea[], %(refs)s::bigint[]) AS u(sha256, refs)
WHERE blobs.tenant_id = %(tenant_id)s AND blobs.sha256 = u.sha256
RETURNING blobs.sha256, blobs.size_bytes, blobs.stored_size_bytes
"""

# One statement stores a whole message: the row, its new blobs (each stored once per tenant,
# others gain a reference), their chunks, the content row and the attachment rows. When the
# message row conflicts (same storage_key or request_id), nothing at all is written and no row
# comes back.
INSERT_MESSAGE = """
WITH parent AS (
    SELECT p.thread_id, p.storage_key
    FROM email_messages p
    WHERE p.tenant_id = %(tenant_id)s AND p.message_id_header <> ''
      AND p.message_id_header = ANY(%(thread_refs)s::text[])
    ORDER BY (p.message_id_header = %(in_reply_to)s) DESC, p.created_at DESC
    LIMIT 1
), m AS (
    INSERT INTO email_messages (
        tenant_id, storage_key, request_id, request_fingerprint, email_account_id, campaign_id,
        lead_id, direction, message_type, status, from_email, from_name, to_email, recipients,
        subject, message_id_header, in_reply_to, "references", thread_id, parent_storage_key,
        labels, raw_size_bytes, stored_size_bytes, content_hash, attachment_count, sent_at)
    SELECT %(tenant_id)s, %(storage_key)s, %(request_id)s, %(request_fingerprint)s,
        %(email_account_id)s, %(campaign_id)s, %(lead_id)s, %(direction)s, %(message_type)s,
        %(status)s, %(from_email)s, %(from_name)s, %(to_email)s, %(recipients)s, %(subject)s,
        %(message_id_header)s, %(in_reply_to)s, %(references)s::text[],
        coalesce((SELECT thread_id FROM parent), %(new_thread_id)s),
        coalesce((SELECT storage_key FROM parent), ''),
        %(labels)s, %(raw_size_bytes)s, %(stored_size_bytes)s, %(content_hash)s,
        %(attachment_count)s, %(sent_at)s
    ON CONFLICT DO NOTHING
    RETURNING storage_key, thread_id, parent_storage_key, created_at, updated_at
), b AS (
    INSERT INTO blobs (tenant_id, sha256, size_bytes, stored_size_bytes, codec, chunk_size,
                       chunk_count, refcount)
    SELECT %(tenant_id)s, u.sha256, u.size_bytes, u.stored_size_bytes, u.codec, %(chunk_size)s,
           u.chunk_count, u.refs
    FROM m, unnest(%(blob_sha256)s::bytea[], %(blob_size)s::bigint[], %(blob_stored)s::bigint[],
                   %(blob_codec)s::text[], %(blob_chunk_count)s::int[], %(blob_refs)s::bigint[])
         AS u(sha256, size_bytes, stored_size_bytes, codec, chunk_count, refs)
    ON CONFLICT (tenant_id, sha256) DO UPDATE
        SET refcount = blobs.refcount + excluded.refcount, last_unreferenced_at = NULL
    RETURNING sha256, (xmax = 0) AS inserted
), ch AS (
    INSERT INTO blob_chunks (tenant_id, sha256, seq, data)
    SELECT %(tenant_id)s, c.sha256, c.seq, c.data
    FROM unnest(%(chunk_sha256)s::bytea[], %(chunk_seq)s::int[], %(chunk_data)s::bytea[])
         AS c(sha256, seq, data)
    JOIN b ON b.sha256 = c.sha256 AND b.inserted
), c AS (
    INSERT INTO email_content (tenant_id, storage_key, headers, text_sha256, html_sha256)
    SELECT %(tenant_id)s, m.storage_key, %(headers)s, %(text_sha256)s, %(html_sha256)s FROM m
), a AS (
    INSERT INTO attachments (tenant_id, storage_key, attachment_id, position, filename, mime_type,
                             size_bytes, sha256, disposition, content_id, part_path)
    SELECT %(tenant_id)s, m.storage_key, u.attachment_id, u.position, u.filename, u.mime_type,
           u.size_bytes, u.sha256, u.disposition, u.content_id, ''
    FROM m, unnest(%(att_id)s::text[], %(att_position)s::int[], %(att_filename)s::text[],
                   %(att_mime_type)s::text[], %(att_size)s::bigint[], %(att_sha256)s::bytea[],
                   %(att_disposition)s::text[], %(att_content_id)s::text[])
         AS u(attachment_id, position, filename, mime_type, size_bytes, sha256, disposition,
              content_id)
)
SELECT storage_key, thread_id, parent_storage_key, created_at, updated_at FROM m
"""

SELECT_MESSAGE_BY_KEY = f"""
SELECT {MESSAGE_COLUMNS} FROM email_messages m
WHERE m.tenant_id = %(tenant_id)s AND m.storage_key = %(storage_key)s
"""

SELECT_MESSAGE_BY_REQUEST_ID = f"""
SELECT {MESSAGE_COLUMNS} FROM email_messages m
WHERE m.tenant_id = %(tenant_id)s AND m.request_id = %(request_id)s
"""

SELECT_CONTENT = """
SELECT headers, text_sha256, html_sha256
FROM email_content WHERE tenant_id = %(tenant_id)s AND storage_key = %(storage_key)s
"""

SELECT_ATTACHMENTS = """
SELECT storage_key, attachment_id, filename, mime_type, size_bytes, sha256, disposition, content_id
FROM attachments
WHERE tenant_id = %(tenant_id)s AND storage_key = ANY(%(storage_keys)s::text[])
ORDER BY storage_key, position
"""

SELECT_BLOB_CHUNKS = """
SELECT c.sha256, b.codec, c.data
FROM blob_chunks c JOIN blobs b ON b.tenant_id = c.tenant_id AND b.sha256 = c.sha256
WHERE c.tenant_id = %(tenant_id)s AND c.sha256 = ANY(%(sha256)s::bytea[])
ORDER BY c.sha256, c.seq
"""

# Deleting the message row cascades to its content and attachment rows; the blobs they
# referenced lose one reference each (in the same statement, so the counts never drift).
DELETE_MESSAGE = """
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
    SELECT a.sha256 FROM attachments a JOIN m USING (tenant_id, storage_key)
), released AS (
    UPDATE blobs b
    SET refcount = b.refcount - r.n,
        last_unreferenced_at = CASE WHEN b.refcount - r.n = 0 THEN now() END
    FROM (SELECT sha256, count(*) AS n FROM refs GROUP BY sha256) r
    WHERE b.tenant_id = %(tenant_id)s AND b.sha256 = r.sha256
    RETURNING b.sha256, b.refcount
)
SELECT (SELECT count(*) FROM m) AS deleted,
       coalesce(array_agg(sha256) FILTER (WHERE refcount = 0), '{}') AS unreferenced
FROM released
"""

# Frees blobs nothing references any more (their chunks go with them by cascade).
FREE_UNREFERENCED_BLOBS = """
DELETE FROM blobs
WHERE tenant_id = %(tenant_id)s AND sha256 = ANY(%(sha256)s::bytea[]) AND refcount = 0
RETURNING stored_size_bytes
"""

STORAGE_USAGE = """
SELECT
    (SELECT count(*) FROM email_messages WHERE tenant_id = %(tenant_id)s) AS message_count,
    (SELECT count(*) FROM attachments WHERE tenant_id = %(tenant_id)s) AS attachment_count,
    count(*) AS blob_count,
    coalesce(sum(size_bytes * refcount), 0)::bigint AS raw_bytes,
    coalesce(sum(size_bytes), 0)::bigint AS unique_bytes,
    coalesce(sum(stored_size_bytes), 0)::bigint AS stored_bytes
FROM blobs WHERE tenant_id = %(tenant_id)s AND refcount > 0
"""
