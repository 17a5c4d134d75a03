-- The change feed: every create, update and delete of a message appends a row here, in the
-- transaction that makes the change (ListChanges, WatchChanges).
--
-- Commit order. A sequence value taken inside a transaction is not commit order: a long
-- transaction that took 5 can commit after another took and committed 6, and a reader that
-- has seen 6 would never see 5. So writers leave `sequence` NULL (and record their
-- transaction, `xid`, to order what one pass numbers); the sequencer (service/core/feed.py,
-- in every server, one at a time by an advisory lock) numbers the rows it can see, which
-- are those of committed transactions, continuing from feed_state.last_sequence, in one
-- transaction; numbering transactions run one after another. So a number, once visible, is
-- final, and every smaller number is visible too: a reader that has seen N never later
-- receives a smaller one, and skips nothing.
CREATE TABLE changes (
    tenant_id   uuid        NOT NULL,
    id          bigint      GENERATED ALWAYS AS IDENTITY,
    -- Position in the feed; NULL until the sequencer numbers the row.
    sequence    bigint,
    xid         xid8        NOT NULL DEFAULT pg_current_xact_id(),
    storage_key text        NOT NULL,
    kind        text        NOT NULL CHECK (kind IN ('created', 'updated', 'deleted')),
    at          timestamptz NOT NULL DEFAULT now(),
    -- What a consumer needs to act without a read (empty on 'deleted').
    status      text        NOT NULL DEFAULT '',
    campaign_id text        NOT NULL DEFAULT '',
    lead_id     text        NOT NULL DEFAULT '',
    PRIMARY KEY (tenant_id, id)
);
-- ListChanges / WatchChanges: a tenant's numbered changes in order.
CREATE UNIQUE INDEX changes_sequence ON changes (tenant_id, sequence) WHERE sequence IS NOT NULL;
-- The sequencer: rows not yet numbered (a handful at any time).
CREATE INDEX changes_pending ON changes (xid, id) WHERE sequence IS NULL;
-- Pruning by age (EMAILSTORE_CHANGES_RETENTION_S).
CREATE INDEX changes_at ON changes (at);

-- The feed's counters (one row): the last number given, and the highest number pruned (a
-- reader asking for changes after an older one has missed some: it must resync).
CREATE TABLE feed_state (
    id             boolean PRIMARY KEY DEFAULT true CHECK (id),
    last_sequence  bigint  NOT NULL DEFAULT 0,
    pruned_through bigint  NOT NULL DEFAULT 0
);
INSERT INTO feed_state DEFAULT VALUES;

ALTER TABLE changes ENABLE ROW LEVEL SECURITY;
ALTER TABLE changes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON changes
    USING (tenant_id = emailstore_current_tenant())
    WITH CHECK (tenant_id = emailstore_current_tenant());
-- The sequencer and the pruner work across tenants: a session that shows no tenant and says it
-- is the feed's maintenance (app.feed_maintenance, set for its own transaction only) sees
-- every row of this table, and of no other.
CREATE POLICY feed_maintenance ON changes
    USING (emailstore_current_tenant() IS NULL
           AND current_setting('app.feed_maintenance', true) = 'on');
GRANT SELECT, INSERT, UPDATE, DELETE ON changes TO emailstore_app;
GRANT SELECT, UPDATE ON feed_state TO emailstore_app;
