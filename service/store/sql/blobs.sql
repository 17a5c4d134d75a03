-- Blobs: content-addressed bytes per tenant, in chunks, with reference counts.

-- name: reference_existing
-- References to blobs the tenant already has (attachments given by digest), for one message.
UPDATE blobs SET refcount = blobs.refcount + u.refs, message_refs = blobs.message_refs + 1,
    last_unreferenced_at = NULL
FROM unnest(%(sha256)s::bytea[], %(refs)s::bigint[]) AS u(sha256, refs)
WHERE blobs.tenant_id = %(tenant_id)s AND blobs.sha256 = u.sha256 AND blobs.state = 'ready'
RETURNING blobs.sha256, blobs.size_bytes, blobs.stored_size_bytes

-- name: find_ready
SELECT sha256 FROM blobs
WHERE tenant_id = %(tenant_id)s AND sha256 = ANY(%(sha256)s::bytea[]) AND state = 'ready'

-- name: refs
SELECT sha256, codec, chunk_count FROM blobs
WHERE tenant_id = %(tenant_id)s AND sha256 = ANY(%(sha256)s::bytea[])

-- name: read_whole
SELECT c.sha256, b.codec, c.data
FROM blob_chunks c JOIN blobs b ON b.tenant_id = c.tenant_id AND b.sha256 = c.sha256
WHERE c.tenant_id = %(tenant_id)s AND c.sha256 = ANY(%(sha256)s::bytea[])
ORDER BY c.sha256, c.seq

-- name: mark_gc_pending
-- Marks the tenant as possibly holding garbage. DO UPDATE (not DO NOTHING) takes the row
-- lock, so a collector deciding whether to forget the tenant waits for this transaction.
INSERT INTO gc_pending (tenant_id) VALUES (%(tenant_id)s)
ON CONFLICT (tenant_id) DO UPDATE SET since = least(gc_pending.since, excluded.since)

-- name: find_blob
-- One statement in a transaction of its own: the function sets the tenant (migration 0004).
SELECT sha256, size_bytes, stored_size_bytes, codec, chunk_size
FROM emailstore_find_blob(%(tenant_id)s, %(sha256)s, NULL, NULL)

-- name: open_blob
-- A download's blob and first chunks in one round trip (migration 0005): the first row
-- describes the blob, chunk rows follow in order.
SELECT sha256, size_bytes, stored_size_bytes, codec, chunk_size, seq, data
FROM emailstore_open_blob(%(tenant_id)s, %(sha256)s, %(storage_key)s, %(attachment_id)s,
                          %(offset)s, %(limit)s, %(chunks)s)

-- name: read_chunks
SELECT seq, data FROM emailstore_read_chunks(%(tenant_id)s, %(sha256)s, %(first)s, %(last)s)

-- name: sizes
SELECT sha256, size_bytes, stored_size_bytes FROM blobs
WHERE tenant_id = %(tenant_id)s AND sha256 = ANY(%(sha256)s::bytea[])

-- name: release
-- References a rewrite no longer holds (content moved into packs), in digest order (the lock
-- order); a blob left with none waits out the grace period before the collector frees it.
UPDATE blobs b
SET refcount = b.refcount - r.refs,
    message_refs = b.message_refs - r.messages,
    last_unreferenced_at = CASE WHEN b.refcount - r.refs = 0 THEN now()
                                ELSE b.last_unreferenced_at END
FROM (SELECT * FROM unnest(%(sha256)s::bytea[], %(refs)s::bigint[], %(messages)s::bigint[])
      AS u(sha256, refs, messages) ORDER BY sha256) r
WHERE b.tenant_id = %(tenant_id)s AND b.sha256 = r.sha256
RETURNING b.sha256, b.refcount
