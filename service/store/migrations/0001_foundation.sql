-- EmailStore foundation: messages, content, attachments and the content-addressed blob store.
--
-- Every tenant table: tenant_id leads every key and index; row-level security is enabled and
-- forced; the service runs its queries as emailstore_app (NOLOGIN, not the owner, not a
-- superuser) with app.tenant_id set per transaction, so a query that forgets its tenant filter
-- sees nothing.

DO $$
BEGIN
    CREATE ROLE emailstore_app NOLOGIN NOSUPERUSER NOBYPASSRLS;
EXCEPTION
    -- Roles are cluster-wide: another database of the cluster may have created it already.
    WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;

DO $$
BEGIN
    -- The migrating (owning) user must be able to SET ROLE emailstore_app.
    EXECUTE format('GRANT emailstore_app TO %I', current_user);
EXCEPTION
    WHEN duplicate_object OR invalid_grant_operation THEN NULL;
END
$$;

CREATE FUNCTION emailstore_current_tenant() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT nullif(current_setting('app.tenant_id', true), '')::uuid $$;

-- Secrets the service keeps in its own database (the page-token HMAC key when
-- EMAILSTORE_PAGE_TOKEN_SECRET is not set), so every replica signs tokens alike.
CREATE TABLE service_secrets (
    name  text PRIMARY KEY,
    value bytea NOT NULL
);
INSERT INTO service_secrets (name, value)
VALUES ('page_token', decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'));

CREATE TABLE blobs (
    tenant_id            uuid        NOT NULL,
    sha256               bytea       NOT NULL CHECK (length(sha256) = 32),
    size_bytes           bigint      NOT NULL CHECK (size_bytes >= 0),
    stored_size_bytes    bigint      NOT NULL CHECK (stored_size_bytes >= 0),
    codec                text        NOT NULL CHECK (codec IN ('none', 'zstd')),
    chunk_size           integer     NOT NULL,
    chunk_count          integer     NOT NULL,
    refcount             bigint      NOT NULL CHECK (refcount >= 0),
    created_at           timestamptz NOT NULL DEFAULT now(),
    last_unreferenced_at timestamptz,
    PRIMARY KEY (tenant_id, sha256)
);

CREATE TABLE blob_chunks (
    tenant_id uuid    NOT NULL,
    sha256    bytea   NOT NULL,
    seq       integer NOT NULL CHECK (seq >= 0),
    data      bytea   NOT NULL,
    PRIMARY KEY (tenant_id, sha256, seq),
    FOREIGN KEY (tenant_id, sha256) REFERENCES blobs (tenant_id, sha256) ON DELETE CASCADE
);
-- Chunks are zstd-compressed already: keep PostgreSQL from compressing them again.
ALTER TABLE blob_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

CREATE TABLE email_messages (
    tenant_id           uuid        NOT NULL,
    storage_key         text        NOT NULL,
    request_id          text,
    request_fingerprint bytea       NOT NULL,
    email_account_id    text        NOT NULL DEFAULT '',
    campaign_id         text        NOT NULL DEFAULT '',
    lead_id             text        NOT NULL DEFAULT '',
    direction           text        NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    message_type        text        NOT NULL CHECK (message_type IN ('email', 'bounce', 'auto_reply')),
    status              text        NOT NULL CHECK (status IN ('queued', 'sent', 'delivered', 'opened',
                                        'clicked', 'replied', 'bounced', 'failed', 'received')),
    from_email          text        NOT NULL DEFAULT '',
    from_name           text        NOT NULL DEFAULT '',
    to_email            text        NOT NULL DEFAULT '',  -- first recipient, for quick filters
    recipients          jsonb       NOT NULL DEFAULT '{}',  -- {"to": [[email, name]...], "cc", "bcc", "reply_to"}
    subject             text        NOT NULL DEFAULT '',
    message_id_header   text        NOT NULL DEFAULT '',
    in_reply_to         text        NOT NULL DEFAULT '',
    "references"        text[]      NOT NULL DEFAULT '{}',
    thread_id           text        NOT NULL,
    parent_storage_key  text        NOT NULL DEFAULT '',
    labels              jsonb       NOT NULL DEFAULT '{}',
    raw_size_bytes      bigint      NOT NULL DEFAULT 0,
    stored_size_bytes   bigint      NOT NULL DEFAULT 0,
    content_hash        bytea       NOT NULL,
    attachment_count    integer     NOT NULL DEFAULT 0,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    sent_at             timestamptz,
    processed_at        timestamptz,
    expires_at          timestamptz,
    archived_at         timestamptz,
    PRIMARY KEY (tenant_id, storage_key)
);
CREATE UNIQUE INDEX email_messages_request_id ON email_messages (tenant_id, request_id)
    WHERE request_id IS NOT NULL;
CREATE INDEX email_messages_created ON email_messages (tenant_id, created_at DESC, storage_key DESC);
CREATE INDEX email_messages_campaign ON email_messages (tenant_id, campaign_id, created_at DESC, storage_key DESC);
CREATE INDEX email_messages_lead ON email_messages (tenant_id, lead_id, created_at DESC, storage_key DESC);
CREATE INDEX email_messages_account ON email_messages (tenant_id, email_account_id, created_at DESC, storage_key DESC);
CREATE INDEX email_messages_thread ON email_messages (tenant_id, thread_id, created_at DESC, storage_key DESC);
CREATE INDEX email_messages_message_id ON email_messages (tenant_id, message_id_header)
    WHERE message_id_header <> '';

CREATE TABLE email_content (
    tenant_id    uuid  NOT NULL,
    storage_key  text  NOT NULL,
    headers      jsonb NOT NULL DEFAULT '[]',  -- [[name, value], ...] decoded, in order
    text_sha256  bytea,
    html_sha256  bytea,
    raw_sha256   bytea,  -- raw-reconstruction skeleton (ingested messages)
    PRIMARY KEY (tenant_id, storage_key),
    FOREIGN KEY (tenant_id, storage_key) REFERENCES email_messages (tenant_id, storage_key) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, text_sha256) REFERENCES blobs (tenant_id, sha256),
    FOREIGN KEY (tenant_id, html_sha256) REFERENCES blobs (tenant_id, sha256),
    FOREIGN KEY (tenant_id, raw_sha256) REFERENCES blobs (tenant_id, sha256)
);
CREATE INDEX email_content_text ON email_content (tenant_id, text_sha256);
CREATE INDEX email_content_html ON email_content (tenant_id, html_sha256);
CREATE INDEX email_content_raw ON email_content (tenant_id, raw_sha256);

CREATE TABLE attachments (
    tenant_id     uuid    NOT NULL,
    storage_key   text    NOT NULL,
    attachment_id text    NOT NULL,
    position      integer NOT NULL,
    filename      text    NOT NULL DEFAULT '',
    mime_type     text    NOT NULL DEFAULT 'application/octet-stream',
    size_bytes    bigint  NOT NULL,
    sha256        bytea   NOT NULL,
    disposition   text    NOT NULL CHECK (disposition IN ('attachment', 'inline')),
    content_id    text    NOT NULL DEFAULT '',
    part_path     text    NOT NULL DEFAULT '',
    PRIMARY KEY (tenant_id, storage_key, attachment_id),
    FOREIGN KEY (tenant_id, storage_key) REFERENCES email_messages (tenant_id, storage_key) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, sha256) REFERENCES blobs (tenant_id, sha256)
);
CREATE INDEX attachments_blob ON attachments (tenant_id, sha256);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['blobs', 'blob_chunks', 'email_messages', 'email_content', 'attachments']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I USING (tenant_id = emailstore_current_tenant()) '
            'WITH CHECK (tenant_id = emailstore_current_tenant())', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO emailstore_app', t);
    END LOOP;
END
$$;

GRANT USAGE ON SCHEMA public TO emailstore_app;
GRANT SELECT ON service_secrets TO emailstore_app;
GRANT EXECUTE ON FUNCTION emailstore_current_tenant() TO emailstore_app;
