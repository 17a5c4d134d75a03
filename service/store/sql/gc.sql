-- Garbage collection: expired uploads, and blobs nothing references past the grace period.

-- name: tenants
-- Tenants that may hold garbage: a control-plane table (tenant ids and a time, no content),
-- read across tenants, so it has no row-level security.
SELECT tenant_id::text FROM gc_pending ORDER BY since LIMIT %(limit)s

-- name: lock_pending
SELECT 1 FROM gc_pending WHERE tenant_id = %(tenant_id)s FOR UPDATE

-- name: expire_uploads
WITH s AS (
    DELETE FROM upload_sessions
    WHERE tenant_id = %(tenant_id)s AND expires_at <= now()
    RETURNING staging_sha256, complete
)
DELETE FROM blobs b USING s
WHERE b.tenant_id = %(tenant_id)s AND b.sha256 = s.staging_sha256 AND b.state = 'staging'
RETURNING b.stored_size_bytes

-- name: collect_blobs
-- Only blobs with no reference left and past the grace period; the row lock and the re-check
-- of refcount make a concurrent store that references the blob win.
DELETE FROM blobs
WHERE tenant_id = %(tenant_id)s AND refcount = 0 AND state = 'ready'
  AND last_unreferenced_at <= now() - make_interval(secs => %(grace_s)s)
RETURNING stored_size_bytes

-- name: remaining
SELECT EXISTS (SELECT 1 FROM blobs WHERE tenant_id = %(tenant_id)s AND refcount = 0)
    OR EXISTS (SELECT 1 FROM upload_sessions WHERE tenant_id = %(tenant_id)s)

-- name: forget_pending
DELETE FROM gc_pending WHERE tenant_id = %(tenant_id)s
