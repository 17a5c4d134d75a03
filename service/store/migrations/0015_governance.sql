-- Governance: retention and expiry, legal holds, GDPR erasure.
--
-- Retention. A message expires `retention_days` after it was stored (expires_at, set by the
-- writer from the policy in force; NULL: kept forever). A tenant that never set a policy has
-- the platform's default, 2,555 days. A policy change reaches the messages stored before it
-- in the background (service/core/governance.py), a small transaction at a time, in key
-- order from `apply_after`; meanwhile purge deletes only what both the stored expiry and the
-- policy in force say has expired. Messages stored before this migration have no expiry
-- yet: every known tenant starts with its default policy pending, so the same background
-- pass gives them one (nothing here rewrites the table).
--
-- Legal holds. A hold covers one message, a lead, an address or the whole tenant; nothing it
-- covers is deleted (DeleteMessage, PurgeExpired, EraseLead). Holds are few: deleters read
-- the tenant's holds in force and leave out what they cover. Placing or lifting one takes a
-- per-tenant advisory lock exclusively, and every deleting transaction takes it shared
-- before it reads the holds, so a hold, once SetLegalHold has answered, is seen by every
-- deletion that starts after, and none that read the holds before it is still deleting.
--
-- Erasure. Messages naming an address are found through an index on their normalised
-- addresses (from, to, cc, bcc, reply-to, and a bounce's failed recipient). Each erasure
-- leaves an audit row that names its subject only by an HMAC keyed with a secret of this
-- database ('erasure_audit'), so an operator holding the key can answer "was this person
-- erased?" and no one can read the identifiers back.

-- ------------------------------------------------------------------ retention

CREATE TABLE retention_policies (
    tenant_id      uuid        PRIMARY KEY,
    -- NULL: the tenant never set one (the platform's default applies); 0: keep forever.
    retention_days integer     CHECK (retention_days BETWEEN 0 AND 36500),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    -- Where bringing older messages to this policy has got to (a storage_key; '' = not
    -- started); NULL once every message carries it.
    apply_after    text
);
ALTER TABLE retention_policies ENABLE ROW LEVEL SECURITY;
ALTER TABLE retention_policies FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON retention_policies
    USING (tenant_id = emailstore_current_tenant())
    WITH CHECK (tenant_id = emailstore_current_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON retention_policies TO emailstore_app;

-- Which tenants have a policy still to bring their older messages to (a control-plane list:
-- tenant ids and a time; the background pass reads it across tenants, like gc_pending).
CREATE TABLE retention_pending (
    tenant_id uuid        PRIMARY KEY,
    since     timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT, INSERT, UPDATE, DELETE ON retention_pending TO emailstore_app;

-- The retention in force for a tenant (under row-level security: the transaction's own).
CREATE FUNCTION emailstore_retention_days(tenant uuid) RETURNS integer
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT coalesce((SELECT retention_days FROM retention_policies
                           WHERE tenant_id = tenant), 2555) $$;

-- PurgeExpired: a tenant's messages by expiry.
CREATE INDEX email_messages_expiry ON email_messages (tenant_id, expires_at)
    WHERE expires_at IS NOT NULL;

INSERT INTO retention_policies (tenant_id, apply_after) SELECT tenant_id, '' FROM known_tenants;
INSERT INTO retention_pending (tenant_id) SELECT tenant_id FROM known_tenants;

-- ------------------------------------------------------------------ legal holds

CREATE TABLE legal_holds (
    tenant_id uuid        NOT NULL,
    hold_id   uuid        NOT NULL DEFAULT gen_random_uuid(),
    scope     text        NOT NULL CHECK (scope IN ('message', 'lead', 'email', 'tenant')),
    -- The storage_key, the lead_id, the normalised address (emailstore_address_key), or ''.
    value     text        NOT NULL,
    reason    text        NOT NULL,
    placed_by text        NOT NULL,
    placed_at timestamptz NOT NULL DEFAULT now(),
    -- Lifted holds are kept, as the record of what was held when.
    lifted_at timestamptz,
    PRIMARY KEY (tenant_id, hold_id)
);
-- One hold in force per scope and value.
CREATE UNIQUE INDEX legal_holds_in_force ON legal_holds (tenant_id, scope, value)
    WHERE lifted_at IS NULL;
ALTER TABLE legal_holds ENABLE ROW LEVEL SECURITY;
ALTER TABLE legal_holds FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON legal_holds
    USING (tenant_id = emailstore_current_tenant())
    WITH CHECK (tenant_id = emailstore_current_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON legal_holds TO emailstore_app;

-- ------------------------------------------------------------------ addresses

-- An address as holds and erasures compare it: the domain (after the last '@') lower-cased,
-- the local part as given (RFC 5321 leaves its case to the receiving host).
CREATE FUNCTION emailstore_address_key(address text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$
        SELECT CASE WHEN strpos(address, '@') = 0 THEN address
                    ELSE left(address, length(address) - strpos(reverse(address), '@'))
                         || '@' || lower(right(address, strpos(reverse(address), '@') - 1))
               END
    $$;

-- Every address a message names: its sender, each recipient of every kind
-- ({"to": [[email, name], ...], "cc", "bcc", "reply_to"}) and, for bounces (and messages
-- a bounce marked), the recipient that failed. Distinct, normalised, sorted.
-- The normalisation is written out here rather than calling emailstore_address_key: index
-- maintenance runs with a search_path of pg_catalog only (PostgreSQL 17), where the other
-- function would not be found.
CREATE FUNCTION emailstore_address_keys(from_email text, recipients jsonb, bounce jsonb)
    RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
        SELECT coalesce(array_agg(DISTINCT
                   CASE WHEN strpos(a.k, '@') = 0 THEN a.k
                        ELSE left(a.k, length(a.k) - strpos(reverse(a.k), '@'))
                             || '@' || lower(right(a.k, strpos(reverse(a.k), '@') - 1))
                   END), '{}')
        FROM (
            SELECT from_email AS k
            UNION ALL
            SELECT r.pair ->> 0
            FROM jsonb_each(CASE WHEN jsonb_typeof(recipients) = 'object'
                                 THEN recipients ELSE '{}' END) AS e(kind, list)
            CROSS JOIN LATERAL jsonb_array_elements(
                CASE WHEN jsonb_typeof(e.list) = 'array' THEN e.list ELSE '[]' END) AS r(pair)
            WHERE jsonb_typeof(r.pair) = 'array'
            UNION ALL
            SELECT bounce ->> 'failed_recipient'
        ) a
        WHERE a.k IS NOT NULL AND a.k <> ''
    $$;

-- EraseLead by address, and the messages an address hold covers. Not tenant-led, like the
-- search indexes (no btree_gin): row-level security filters the matches.
CREATE INDEX email_messages_addresses ON email_messages
    USING gin (emailstore_address_keys(from_email, recipients, bounce))
    WITH (gin_pending_list_limit = 256);

-- As in migration 0013: an index serves a condition under row-level security only when
-- every function in it is leakproof. text[] @> text[] compares its arguments, and
-- emailstore_address_keys reads only its own (checking each JSON value's type before
-- using it): neither raises anything that depends on a row's value.
DO $$
BEGIN
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        ALTER FUNCTION pg_catalog.arraycontains(anyarray, anyarray) LEAKPROOF;
        ALTER FUNCTION emailstore_address_keys(text, jsonb, jsonb) LEAKPROOF;
    ELSE
        RAISE WARNING 'EraseLead by address cannot use its index under row-level security '
            'until a superuser runs: ALTER FUNCTION pg_catalog.arraycontains(anyarray, '
            'anyarray) LEAKPROOF; ALTER FUNCTION emailstore_address_keys(text, jsonb, jsonb) '
            'LEAKPROOF;';
    END IF;
END
$$;

-- ------------------------------------------------------------------ erasure audit

CREATE TABLE erasures (
    tenant_id          uuid        NOT NULL,
    erasure_id         uuid        NOT NULL DEFAULT gen_random_uuid(),
    subject_kind       text        NOT NULL CHECK (subject_kind IN ('lead', 'email')),
    -- HMAC-SHA256 of the subject under service_secrets 'erasure_audit'; never the subject.
    subject_hash       bytea       NOT NULL CHECK (length(subject_hash) = 32),
    requested_by       text        NOT NULL DEFAULT '',
    started_at         timestamptz NOT NULL DEFAULT now(),
    -- NULL while the erasure is unfinished: asking again resumes it.
    completed_at       timestamptz,
    erased_messages    bigint      NOT NULL DEFAULT 0,
    erased_events      bigint      NOT NULL DEFAULT 0,
    erased_attachments bigint      NOT NULL DEFAULT 0,
    erased_changes     bigint      NOT NULL DEFAULT 0,
    freed_bytes        bigint      NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, erasure_id)
);
CREATE UNIQUE INDEX erasures_unfinished ON erasures (tenant_id, subject_hash)
    WHERE completed_at IS NULL;
CREATE INDEX erasures_subject ON erasures (tenant_id, subject_hash, started_at);
ALTER TABLE erasures ENABLE ROW LEVEL SECURITY;
ALTER TABLE erasures FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON erasures
    USING (tenant_id = emailstore_current_tenant())
    WITH CHECK (tenant_id = emailstore_current_tenant());
GRANT SELECT, INSERT, UPDATE ON erasures TO emailstore_app;

INSERT INTO service_secrets (name, value)
VALUES ('erasure_audit',
        decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'))
ON CONFLICT (name) DO NOTHING;
