-- Resumable uploads (ByteStream-style) and garbage collection of unreferenced blobs.
--
-- An upload stages its chunks in blob_chunks under a provisional blob row (state 'staging',
-- keyed by a digest derived from the upload id). On finish the real digest is known: the
-- chunks are re-keyed to it (the TOASTed chunk bytes are not copied) or, when the tenant already
-- has those bytes, dropped.

ALTER TABLE blobs ADD COLUMN state text NOT NULL DEFAULT 'ready'
    CHECK (state IN ('ready', 'staging'));

-- A blob nothing references waits out the grace period, then the collector frees it.
CREATE INDEX blobs_unreferenced ON blobs (tenant_id, last_unreferenced_at)
    WHERE refcount = 0;

CREATE TABLE upload_sessions (
    tenant_id       uuid        NOT NULL,
    upload_id       uuid        NOT NULL,
    staging_sha256  bytea       NOT NULL,
    expected_sha256 bytea,
    expected_size   bigint,
    mime_type       text        NOT NULL DEFAULT '',
    codec           text,
    committed_size  bigint      NOT NULL DEFAULT 0,
    staged_bytes    bigint      NOT NULL DEFAULT 0,  -- stored (compressed) size so far
    chunk_count     integer     NOT NULL DEFAULT 0,
    sha256          bytea,      -- set once complete
    size_bytes      bigint,
    stored_size_bytes bigint,
    complete        boolean     NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, upload_id)
);
CREATE INDEX upload_sessions_expiry ON upload_sessions (tenant_id, expires_at);

ALTER TABLE upload_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE upload_sessions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON upload_sessions
    USING (tenant_id = emailstore_current_tenant())
    WITH CHECK (tenant_id = emailstore_current_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON upload_sessions TO emailstore_app;

-- Which tenants may have garbage (unreferenced blobs, upload sessions), so the collector visits
-- only those. A control-plane table: tenant ids and a time, no content; the collector has to
-- read it across tenants, so it has no row-level security.
CREATE TABLE gc_pending (
    tenant_id uuid        PRIMARY KEY,
    since     timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT, INSERT, UPDATE, DELETE ON gc_pending TO emailstore_app;
