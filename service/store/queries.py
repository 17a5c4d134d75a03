"""Named SQL of the message store. Every value is a bound parameter.

Row-level security already limits every statement to the transaction's tenant; the explicit
``tenant_id = %(tenant_id)s`` conditions are there for the indexes, which all lead with tenant_id.
"""

from __future__ import annotations

import re


def _compact(sql: str) -> str:
    """The statement without comments and runs of whitespace.

    psycopg caches the parsing of a statement's %(name)s placeholders only for statements up
    to 4 KiB; the big write statement fits once its comments and indentation are gone.
    """
    text = re.sub(r"\s+", " ", re.sub(r"--[^\n]*", "", sql))
    # No string literal here contains these characters, so the spaces around them can go.
    return re.sub(r" ?([(),=]) ?", r"\1", text).strip()


MESSAGE_COLUMNS = """
    m.tenant_id::text AS tenant_id, m.storage_key, m.email_account_id, m.campaign_id, m.lead_id,
    m.direction, m.message_type, m.status, m.from_email, m.from_name, m.recipients, m.subject,
    m.message_id_header, m.in_reply_to, m."references", m.thread_id, m.parent_storage_key,
    m.created_at, m.updated_at, m.sent_at, m.expires_at, m.archived_at, m.raw_size_bytes,
    m.stored_size_bytes, m.content_hash, m.labels, m.request_fingerprint, m.request_id,
    m.parse_status, m.parse_warnings
"""

# Adds references to blobs the tenant already has (attachments given by digest), for one message.
REFERENCE_EXISTING_BLOBS = """
UPDATE blobs SET refcount = blobs.refcount + u.refs, message_refs = blobs.message_refs + 1,
    last_unreferenced_at = NULL
FROM unnest(%(sha256)s::bytea[], %(refs)s::bigint[]) AS u(sha256, refs)
WHERE blobs.tenant_id = %(tenant_id)s AND blobs.sha256 = u.sha256 AND blobs.state = 'ready'
RETURNING blobs.sha256, blobs.size_bytes, blobs.stored_size_bytes
"""

# Chunk bytes are bound with %(chunks)b, PostgreSQL's binary format: as they are, instead of
# hex-escaped text twice their size.
# One statement stores a batch of messages of one tenant: the message rows, their new blobs
# (each stored once per tenant; blobs already there gain references), the chunks of blobs new to
# the tenant, the content rows and the attachment rows. Row data travels as JSON recordsets (one
# parameter each) and chunk bytes as one bytea[]: far cheaper to send than dozens of arrays.
# A message whose row conflicts (same storage_key or request_id) writes nothing at all and is
# absent from the result; every reference count only counts messages actually inserted.
INSERT_MESSAGES = """
WITH x AS (
    SELECT * FROM jsonb_to_recordset(%(messages)s::jsonb) AS x(
        ord int, storage_key text, request_id text, fingerprint text, email_account_id text,
        campaign_id text, lead_id text, direction text, message_type text, status text,
        from_email text, from_name text, to_email text, recipients jsonb, subject text,
        message_id_header text, in_reply_to text, "references" text[], thread_refs text[],
        new_thread_id text, labels jsonb, raw_size_bytes bigint, stored_size_bytes bigint,
        content_hash text, attachment_count int, sent_at timestamptz, headers jsonb,
        text_sha256 text, html_sha256 text, ingest_hash text, parse_status text,
        parse_warnings text[], raw_sha256 text, raw_parts jsonb)
), bl AS (
    SELECT * FROM jsonb_to_recordset(%(blobs)s::jsonb) AS u(
        sha256 text, size_bytes bigint, stored_size_bytes bigint, codec text, chunk_count int,
        first_chunk int)
), m AS (
    INSERT INTO email_messages (
        tenant_id, storage_key, request_id, request_fingerprint, email_account_id, campaign_id,
        lead_id, direction, message_type, status, from_email, from_name, to_email, recipients,
        subject, message_id_header, in_reply_to, "references", thread_id, parent_storage_key,
        labels, raw_size_bytes, stored_size_bytes, content_hash, attachment_count, sent_at,
        ingest_hash, parse_status, parse_warnings)
    SELECT %(tenant_id)s, x.storage_key, x.request_id, decode(x.fingerprint, 'hex'),
        x.email_account_id, x.campaign_id, x.lead_id, x.direction, x.message_type, x.status,
        x.from_email, x.from_name, x.to_email, x.recipients, x.subject, x.message_id_header,
        x.in_reply_to, x."references",
        coalesce(p.thread_id, x.new_thread_id), coalesce(p.storage_key, ''), x.labels,
        x.raw_size_bytes, x.stored_size_bytes, decode(x.content_hash, 'hex'),
        x.attachment_count, x.sent_at, decode(x.ingest_hash, 'hex'), x.parse_status,
        nullif(x.parse_warnings, '{}')
    FROM x LEFT JOIN LATERAL (
        -- The message this one answers, when the tenant has it: join its thread.
        SELECT q.thread_id, q.storage_key
        FROM email_messages q
        WHERE q.tenant_id = %(tenant_id)s AND q.message_id_header <> ''
          AND q.message_id_header = ANY(x.thread_refs)
        ORDER BY (q.message_id_header = x.in_reply_to) DESC, q.created_at DESC
        LIMIT 1
    ) p ON true
    ORDER BY x.ord
    ON CONFLICT DO NOTHING
    RETURNING storage_key, thread_id, parent_storage_key, created_at, updated_at
), refs AS (
    SELECT r.sha256, count(*) AS n, count(DISTINCT r.storage_key) AS messages
    FROM jsonb_to_recordset(%(refs)s::jsonb) AS r(storage_key text, sha256 text)
    JOIN m ON m.storage_key = r.storage_key
    GROUP BY r.sha256
), b AS (
    INSERT INTO blobs (tenant_id, sha256, size_bytes, stored_size_bytes, codec, chunk_size,
                       chunk_count, refcount, message_refs)
    SELECT %(tenant_id)s, decode(bl.sha256, 'hex'), bl.size_bytes, bl.stored_size_bytes,
           bl.codec, %(chunk_size)s, bl.chunk_count, refs.n, refs.messages
    FROM refs JOIN bl USING (sha256)
    -- A fixed lock order: concurrent batches sharing blobs cannot deadlock on them.
    ORDER BY bl.sha256
    ON CONFLICT (tenant_id, sha256) DO UPDATE
        SET refcount = blobs.refcount + excluded.refcount,
            message_refs = blobs.message_refs + excluded.message_refs,
            last_unreferenced_at = NULL
    RETURNING sha256, (xmax = 0) AS inserted
), ch AS (
    INSERT INTO blob_chunks (tenant_id, sha256, seq, data)
    SELECT %(tenant_id)s, b.sha256, (c.ord - 1 - bl.first_chunk)::int, c.data
    FROM b
    JOIN bl ON decode(bl.sha256, 'hex') = b.sha256
    JOIN unnest(%(chunks)b::bytea[]) WITH ORDINALITY AS c(data, ord)
      ON c.ord - 1 >= bl.first_chunk AND c.ord - 1 < bl.first_chunk + bl.chunk_count
    WHERE b.inserted
), c AS (
    INSERT INTO email_content (tenant_id, storage_key, headers, text_sha256, html_sha256,
                               raw_sha256, raw_parts)
    SELECT %(tenant_id)s, m.storage_key, x.headers, decode(x.text_sha256, 'hex'),
           decode(x.html_sha256, 'hex'), decode(x.raw_sha256, 'hex'), x.raw_parts
    FROM m JOIN x USING (storage_key)
), a AS (
    INSERT INTO attachments (tenant_id, storage_key, attachment_id, position, filename, mime_type,
                             size_bytes, sha256, disposition, content_id, part_path)
    SELECT %(tenant_id)s, m.storage_key, at.attachment_id, at.position, at.filename,
           at.mime_type, at.size_bytes, decode(at.sha256, 'hex'), at.disposition, at.content_id,
           at.part_path
    FROM m JOIN jsonb_to_recordset(%(attachments)s::jsonb) AS at(
        storage_key text, attachment_id text, position int, filename text, mime_type text,
        size_bytes bigint, sha256 text, disposition text, content_id text, part_path text)
        USING (storage_key)
)
SELECT storage_key, thread_id, parent_storage_key, created_at, updated_at FROM m
"""
INSERT_MESSAGES = _compact(INSERT_MESSAGES)

SELECT_MESSAGE_BY_KEY = f"""
SELECT {MESSAGE_COLUMNS} FROM email_messages m
WHERE m.tenant_id = %(tenant_id)s AND m.storage_key = %(storage_key)s
"""

SELECT_MESSAGE_BY_INGEST_HASH = f"""
SELECT {MESSAGE_COLUMNS} FROM email_messages m
WHERE m.tenant_id = %(tenant_id)s AND m.email_account_id = %(email_account_id)s
  AND m.ingest_hash = %(ingest_hash)s
"""

SELECT_RAW_PARTS = """
SELECT c.raw_sha256, c.raw_parts, m.raw_size_bytes
FROM email_content c
JOIN email_messages m ON m.tenant_id = c.tenant_id AND m.storage_key = c.storage_key
WHERE c.tenant_id = %(tenant_id)s AND c.storage_key = %(storage_key)s
"""

SELECT_BLOB_REFS = """
SELECT sha256, codec, chunk_count FROM blobs
WHERE tenant_id = %(tenant_id)s AND sha256 = ANY(%(sha256)s::bytea[])
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
# referenced lose one reference each, and one referencing message (in the same statement, so the
# counts never drift).
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
"""


STORAGE_USAGE = """
SELECT
    (SELECT count(*) FROM email_messages WHERE tenant_id = %(tenant_id)s) AS message_count,
    (SELECT count(*) FROM attachments WHERE tenant_id = %(tenant_id)s) AS attachment_count,
    count(*) FILTER (WHERE refcount > 0) AS blob_count,
    coalesce(sum(size_bytes * message_refs), 0)::bigint AS raw_bytes,
    coalesce(sum(size_bytes) FILTER (WHERE refcount > 0), 0)::bigint AS unique_bytes,
    coalesce(sum(stored_size_bytes) FILTER (WHERE refcount > 0), 0)::bigint AS stored_bytes,
    coalesce(sum(stored_size_bytes) FILTER (WHERE refcount = 0), 0)::bigint AS pending_gc_bytes
FROM blobs WHERE tenant_id = %(tenant_id)s AND state = 'ready'
"""

# ------------------------------------------------------------------ blobs and uploads

FIND_READY_BLOBS = """
SELECT sha256 FROM blobs
WHERE tenant_id = %(tenant_id)s AND sha256 = ANY(%(sha256)s::bytea[]) AND state = 'ready'
"""

SELECT_READY_BLOB = """
SELECT sha256, size_bytes, stored_size_bytes, codec, chunk_size FROM blobs
WHERE tenant_id = %(tenant_id)s AND sha256 = %(sha256)s AND state = 'ready'
"""

# Marks a tenant as possibly holding garbage. DO UPDATE (not DO NOTHING) takes the row lock, so a
# collector deciding whether to forget the tenant waits for this transaction to finish first.
MARK_GC_PENDING = """
INSERT INTO gc_pending (tenant_id) VALUES (%(tenant_id)s)
ON CONFLICT (tenant_id) DO UPDATE SET since = least(gc_pending.since, excluded.since)
"""

OPEN_UPLOAD = """
WITH s AS (
    INSERT INTO upload_sessions (tenant_id, upload_id, staging_sha256, expected_sha256,
                                 expected_size, mime_type, expires_at)
    VALUES (%(tenant_id)s, %(upload_id)s, %(staging_sha256)s, %(expected_sha256)s,
            %(expected_size)s, %(mime_type)s, now() + make_interval(secs => %(ttl_s)s))
    ON CONFLICT (tenant_id, upload_id) DO NOTHING
    RETURNING 1
)
INSERT INTO blobs (tenant_id, sha256, size_bytes, stored_size_bytes, codec, chunk_size,
                   chunk_count, refcount, state)
SELECT %(tenant_id)s, %(staging_sha256)s, 0, 0, 'none', %(chunk_size)s, 0, 0, 'staging' FROM s
ON CONFLICT (tenant_id, sha256) DO NOTHING
"""

SELECT_UPLOAD = """
SELECT upload_id::text AS upload_id, staging_sha256, expected_sha256, expected_size, mime_type,
       codec, committed_size, staged_bytes, chunk_count, sha256, size_bytes, stored_size_bytes,
       complete
FROM upload_sessions
WHERE tenant_id = %(tenant_id)s AND upload_id = %(upload_id)s AND expires_at > now()
"""

# Advances an upload only from the size this writer saw: two streams writing one upload at
# once cannot both commit the same range.
ADVANCE_UPLOAD = """
UPDATE upload_sessions
SET committed_size = %(committed_size)s, chunk_count = chunk_count + %(chunks)s,
    staged_bytes = staged_bytes + %(staged_bytes)s,
    codec = coalesce(codec, %(codec)s), updated_at = now(),
    expires_at = now() + make_interval(secs => %(ttl_s)s)
WHERE tenant_id = %(tenant_id)s AND upload_id = %(upload_id)s
  AND committed_size = %(previous_size)s AND NOT complete
RETURNING committed_size
"""

# One statement per chunk (psycopg's executemany sends them all in one round trip): measured
# here, about as fast as COPY, and 10-30% faster than one statement unnesting a bytea[] array.
INSERT_STAGED_CHUNK = """
INSERT INTO blob_chunks (tenant_id, sha256, seq, data)
VALUES (%(tenant_id)s, %(sha256)s, %(seq)s, %(data)b)
"""

# A chunk of a blob stored whole, after STORE_WHOLE_UPLOAD in the same transaction: nothing when
# that statement wrote no blob (a live session of the upload id), or when the tenant had the
# bytes already (the chunks exist: the conflict is found before the value is stored).
INSERT_BLOB_CHUNK = """
INSERT INTO blob_chunks (tenant_id, sha256, seq, data)
SELECT %(tenant_id)s::uuid, %(sha256)s, %(seq)s, %(data)b
WHERE EXISTS (SELECT 1 FROM blobs WHERE tenant_id = %(tenant_id)s AND sha256 = %(sha256)s)
ON CONFLICT (tenant_id, sha256, seq) DO NOTHING
"""

# A finished upload whose bytes are new becomes a ready blob with no references yet: it waits
# out the grace period (time for a StoreMessage to reference it) before the collector frees it.
PROMOTE_UPLOAD_BLOB = """
INSERT INTO blobs (tenant_id, sha256, size_bytes, stored_size_bytes, codec, chunk_size,
                   chunk_count, refcount, last_unreferenced_at, state)
VALUES (%(tenant_id)s, %(sha256)s, %(size_bytes)s, %(stored_size_bytes)s, %(codec)s,
        %(chunk_size)s, %(chunk_count)s, 0, now(), 'ready')
ON CONFLICT (tenant_id, sha256) DO NOTHING
RETURNING sha256
"""

REKEY_STAGED_CHUNKS = """
UPDATE blob_chunks SET sha256 = %(sha256)s
WHERE tenant_id = %(tenant_id)s AND sha256 = %(staging_sha256)s
"""

DROP_STAGING_BLOB = """
DELETE FROM blobs
WHERE tenant_id = %(tenant_id)s AND sha256 = %(staging_sha256)s AND state = 'staging'
"""

COMPLETE_UPLOAD = """
UPDATE upload_sessions
SET complete = true, sha256 = %(sha256)s, size_bytes = %(size_bytes)s,
    stored_size_bytes = %(stored_size_bytes)s, committed_size = %(size_bytes)s, updated_at = now()
WHERE tenant_id = %(tenant_id)s AND upload_id = %(upload_id)s
"""

COMPLETE_UPLOAD_KNOWN = """
INSERT INTO upload_sessions (tenant_id, upload_id, staging_sha256, expected_sha256,
                             expected_size, mime_type, committed_size, sha256, size_bytes,
                             stored_size_bytes, complete, expires_at)
VALUES (%(tenant_id)s, %(upload_id)s, %(staging_sha256)s, %(sha256)s, %(size_bytes)s,
        %(mime_type)s, %(size_bytes)s, %(sha256)s, %(size_bytes)s, %(stored_size_bytes)s, true,
        now() + make_interval(secs => %(ttl_s)s))
ON CONFLICT (tenant_id, upload_id) DO NOTHING
"""

DISCARD_UPLOAD = """
WITH s AS (
    DELETE FROM upload_sessions
    WHERE tenant_id = %(tenant_id)s AND upload_id = %(upload_id)s AND NOT complete
    RETURNING staging_sha256
)
DELETE FROM blobs b USING s
WHERE b.tenant_id = %(tenant_id)s AND b.sha256 = s.staging_sha256 AND b.state = 'staging'
"""

# ----------------------------------------------------------------- garbage collection

GC_TENANTS = "SELECT tenant_id::text FROM gc_pending ORDER BY since LIMIT %(limit)s"

LOCK_GC_PENDING = "SELECT 1 FROM gc_pending WHERE tenant_id = %(tenant_id)s FOR UPDATE"

EXPIRE_UPLOADS = """
WITH s AS (
    DELETE FROM upload_sessions
    WHERE tenant_id = %(tenant_id)s AND expires_at <= now()
    RETURNING staging_sha256, complete
)
DELETE FROM blobs b USING s
WHERE b.tenant_id = %(tenant_id)s AND b.sha256 = s.staging_sha256 AND b.state = 'staging'
RETURNING b.stored_size_bytes
"""

# Only blobs with no reference left and past the grace period; the row lock and the re-check
# of refcount make a concurrent store that references the blob win.
COLLECT_BLOBS = """
DELETE FROM blobs
WHERE tenant_id = %(tenant_id)s AND refcount = 0 AND state = 'ready'
  AND last_unreferenced_at <= now() - make_interval(secs => %(grace_s)s)
RETURNING stored_size_bytes
"""

GC_REMAINING = """
SELECT EXISTS (SELECT 1 FROM blobs WHERE tenant_id = %(tenant_id)s AND refcount = 0)
    OR EXISTS (SELECT 1 FROM upload_sessions WHERE tenant_id = %(tenant_id)s)
"""

FORGET_GC_PENDING = "DELETE FROM gc_pending WHERE tenant_id = %(tenant_id)s"

# An upload that arrived whole (one request, nothing staged) in one statement: the blob (or,
# when the tenant has those bytes already, a touch of the existing one, which restarts its
# grace period if nothing references it), the completed session, the GC mark. Its chunks
# follow in the same transaction (INSERT_BLOB_CHUNK).
# Nothing is written (no row returned) while a live session of that upload id exists: the
# upload is then a resume, or a repeat of a finished one, and takes the resumable path.
STORE_WHOLE_UPLOAD = _compact("""
WITH b AS (
    INSERT INTO blobs (tenant_id, sha256, size_bytes, stored_size_bytes, codec, chunk_size,
                       chunk_count, refcount, last_unreferenced_at, state)
    SELECT %(tenant_id)s::uuid, %(sha256)s, %(size_bytes)s, %(stored_size_bytes)s, %(codec)s,
           %(chunk_size)s, %(chunk_count)s, 0, now(), 'ready'
    WHERE NOT EXISTS (SELECT 1 FROM upload_sessions
                      WHERE tenant_id = %(tenant_id)s AND upload_id = %(upload_id)s
                        AND expires_at > now())
    ON CONFLICT (tenant_id, sha256) DO UPDATE
        SET last_unreferenced_at = CASE WHEN blobs.refcount = 0 THEN now() END
    RETURNING sha256, size_bytes, stored_size_bytes, codec, chunk_size
), s AS (
    INSERT INTO upload_sessions (tenant_id, upload_id, staging_sha256, expected_sha256,
                                 expected_size, mime_type, committed_size, sha256, size_bytes,
                                 stored_size_bytes, complete, expires_at)
    SELECT %(tenant_id)s, %(upload_id)s, %(staging_sha256)s, %(expected_sha256)s,
           %(expected_size)s, %(mime_type)s, b.size_bytes, b.sha256, b.size_bytes,
           b.stored_size_bytes, true, now() + make_interval(secs => %(ttl_s)s)
    FROM b
    ON CONFLICT (tenant_id, upload_id) DO NOTHING
), g AS (
    INSERT INTO gc_pending (tenant_id) SELECT %(tenant_id)s FROM b
    ON CONFLICT (tenant_id) DO UPDATE SET since = least(gc_pending.since, excluded.since)
)
SELECT sha256, size_bytes, stored_size_bytes, codec, chunk_size FROM b
""")
