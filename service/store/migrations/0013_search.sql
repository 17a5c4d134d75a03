-- SearchMessages: a full-text vector and the addresses of each message, written with it.
--
-- The service makes both (service/codec/searchtext.py): the vector is a tsvector literal of
-- lexemes it folded itself (case, accents, width; CJK as bigrams), weighted A (subject), B
-- (attachment filenames) and D (body), stored as given; no text search configuration of
-- the server is involved. The addresses are one line per address and display name,
-- "f:" from, "t:" to, "c:" cc, lower-cased, matched by regular expressions through trigrams.
--
-- Rows written before this migration have no vector (NULL) and no addresses (''): full-text
-- and address terms do not find them until they are backfilled (service/core/reindex.py,
-- migration 0014: the vector is made from the content, in Python). Adding the columns
-- rewrites nothing (a NULL, and a constant default).

CREATE EXTENSION IF NOT EXISTS pg_trgm;

ALTER TABLE email_messages
    ADD COLUMN search_vector tsvector,
    ADD COLUMN search_addresses text NOT NULL DEFAULT '';

-- Every other index of the table leads with tenant_id; a GIN index cannot without btree_gin,
-- which the embedded PostgreSQL does not ship. These index all tenants' rows: a search ANDs
-- the matches with the tenant's created_at range (email_messages_created) in a bitmap, and
-- row-level security filters what is left. New entries wait in a pending list, merged in
-- batches (cheap writes) when it passes gin_pending_list_limit or by autovacuum; every search
-- reads the list whole, so it is kept to 256 kB instead of the default 4 MB.
CREATE INDEX email_messages_search_vector ON email_messages USING gin (search_vector)
    WITH (gin_pending_list_limit = 256);
CREATE INDEX email_messages_search_addresses ON email_messages
    USING gin (search_addresses gin_trgm_ops) WITH (gin_pending_list_limit = 256);

-- Row-level security lets an index serve a condition only when its operator is leakproof
-- (it could otherwise be evaluated on other tenants' rows before the policy hides them), and
-- neither tsvector @@ tsquery nor text ~ text is marked so: under the service's role every
-- search would read the whole table. Both only compare their arguments (they raise no error
-- that depends on a row's value: the patterns and queries are the service's own, valid,
-- with no back-references), so they are marked leakproof in this database. That takes a
-- superuser (the embedded server's and CI's migrations run as one); otherwise a warning says
-- what to run, and search works without the indexes.
DO $$
BEGIN
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        ALTER FUNCTION pg_catalog.ts_match_vq(tsvector, tsquery) LEAKPROOF;
        ALTER FUNCTION pg_catalog.textregexeq(text, text) LEAKPROOF;
    ELSE
        RAISE WARNING 'SearchMessages cannot use its indexes under row-level security until a '
            'superuser runs: ALTER FUNCTION pg_catalog.ts_match_vq(tsvector, tsquery) LEAKPROOF; '
            'ALTER FUNCTION pg_catalog.textregexeq(text, text) LEAKPROOF;';
    END IF;
END
$$;
