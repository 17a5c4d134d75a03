-- Small content inline, compressed with per-tenant zstd dictionaries.
--
-- A typical message's small content (headers, text and HTML bodies, and for ingested mail the
-- skeleton and the small leaf bodies) is kept in its email_content row as one "pack": a zstd
-- frame, made with the tenant's dictionary when it has one (codec/packs.py has the format).
-- Attachments and large bodies stay deduplicated, chunked blobs. Rows written before this
-- migration keep their layout (headers in jsonb, bodies in blobs) and read back as before;
-- `emailstore recompress` moves them into packs.

-- Dictionaries are trained from a tenant's own mail, so they hold fragments of it: tenant data,
-- under row-level security like the rest. A dictionary stays as long as a pack needs it (the
-- foreign key of email_content).
CREATE TABLE zstd_dictionaries (
    tenant_id     uuid        NOT NULL,
    dictionary_id integer     NOT NULL CHECK (dictionary_id > 0),
    data          bytea       NOT NULL,
    samples       integer     NOT NULL,
    sample_bytes  bigint      NOT NULL,
    -- Compressed/raw of held-out samples with the dictionary and without (same level), as
    -- measured when it was trained: what GetStorageUsage's saved_by_dictionary is figured from.
    dict_ratio    real        NOT NULL,
    plain_ratio   real        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, dictionary_id)
);
-- A dictionary is high-entropy already: no compression by PostgreSQL.
ALTER TABLE zstd_dictionaries ALTER COLUMN data SET STORAGE EXTERNAL;
ALTER TABLE zstd_dictionaries ENABLE ROW LEVEL SECURITY;
ALTER TABLE zstd_dictionaries FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON zstd_dictionaries
    USING (tenant_id = emailstore_current_tenant())
    WITH CHECK (tenant_id = emailstore_current_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON zstd_dictionaries TO emailstore_app;

-- Which tenants have dictionaries, and their current one: a control-plane table (tenant ids
-- and numbers, no content) that `emailstore recompress` walks, so it has no row-level security.
CREATE TABLE dictionary_tenants (
    tenant_id     uuid        PRIMARY KEY,
    dictionary_id integer     NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT, INSERT, UPDATE, DELETE ON dictionary_tenants TO emailstore_app;

ALTER TABLE email_content ADD COLUMN pack bytea;
ALTER TABLE email_content ADD COLUMN pack_size integer NOT NULL DEFAULT 0;
ALTER TABLE email_content ADD COLUMN dictionary_id integer;
ALTER TABLE email_content ADD CONSTRAINT email_content_dictionary
    FOREIGN KEY (tenant_id, dictionary_id) REFERENCES zstd_dictionaries (tenant_id, dictionary_id);
-- Packs are compressed already.
ALTER TABLE email_content ALTER COLUMN pack SET STORAGE EXTERNAL;

COMMENT ON COLUMN email_content.raw_sha256 IS
    'blob of the skeleton of an ingested message (header blocks, boundaries), when not in the pack';
COMMENT ON COLUMN email_content.raw_parts IS
    'the leaf bodies of an ingested message in skeleton order: a hex SHA-256 (a blob) or a number (a body of the pack)';

-- The tenants the service has stored mail for: a control-plane list (tenant ids and a time, no
-- content) that background work walks (dictionary training, `emailstore recompress`), since
-- row-level security hides other tenants' rows from every query. Writes add a tenant the first
-- time a process writes for it.
CREATE TABLE known_tenants (
    tenant_id  uuid        PRIMARY KEY,
    first_seen timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT, INSERT, UPDATE, DELETE ON known_tenants TO emailstore_app;

-- The backfill reads every tenant's rows: lift the forced row-level security for it (as 0006
-- does; superusers bypass it anyway).
ALTER TABLE email_messages NO FORCE ROW LEVEL SECURITY;
INSERT INTO known_tenants (tenant_id) SELECT DISTINCT tenant_id FROM email_messages;
ALTER TABLE email_messages FORCE ROW LEVEL SECURITY;
