-- The change feed (migration 0012): pages of a tenant's numbered changes; the sequencer that
-- numbers them in commit order; pruning by age.

-- name: page
-- The tenant's changes after %(since)s, in order, with the highest sequence pruned so far (in
-- the same snapshot: a page starting after it misses nothing). Always one row at least.
SELECT s.pruned_through, c.sequence, c.storage_key, c.kind, c.at, c.status, c.campaign_id,
       c.lead_id
FROM feed_state s
LEFT JOIN LATERAL (
    SELECT sequence, storage_key, kind, at, status, campaign_id, lead_id FROM changes
    WHERE tenant_id = %(tenant_id)s AND sequence > %(since)s
    ORDER BY sequence
    LIMIT %(limit)s
) c ON true
ORDER BY c.sequence

-- name: claim_sequencer
-- One sequencer at a time, across every server (held until the transaction ends); the
-- session then sees every tenant's changes, for this transaction only.
SELECT pg_try_advisory_xact_lock(7208339417) AS claimed,
       set_config('app.feed_maintenance', 'on', true) AS maintenance

-- name: number_pending
-- Numbers the changes this statement sees that have no number yet: those of committed
-- transactions only (others' rows are invisible until they commit), in (xid, id) order,
-- continuing from feed_state.last_sequence. Passes run one at a time (claim_sequencer), so
-- every number a pass gives is above every number given before, and becomes visible with
-- the pass's commit, all at once. Returns how many.
WITH pending AS (
    SELECT tenant_id, id, row_number() OVER (ORDER BY xid, id) AS n
    FROM changes
    WHERE sequence IS NULL
    ORDER BY xid, id
    LIMIT %(limit)s
), counter AS (
    UPDATE feed_state SET last_sequence = last_sequence + (SELECT count(*) FROM pending)
    RETURNING last_sequence - (SELECT count(*) FROM pending) AS base
), numbered AS (
    UPDATE changes c SET sequence = counter.base + p.n
    FROM pending p, counter
    WHERE c.tenant_id = p.tenant_id AND c.id = p.id
    RETURNING 1
)
SELECT count(*) AS numbered FROM numbered

-- name: notify
-- Wakes the watchers of every server (delivered when this transaction commits).
SELECT pg_notify('emailstore_changes', '')

-- name: claim_pruner
-- The pruner sees every tenant's changes, for this transaction only.
SELECT set_config('app.feed_maintenance', 'on', true) AS maintenance

-- name: prune
-- Up to %(limit)s numbered changes older than %(before)s, deleted; the highest sequence
-- deleted is remembered, so a reader asking to start below it learns it missed some.
WITH doomed AS (
    SELECT tenant_id, id FROM changes
    WHERE at < %(before)s AND sequence IS NOT NULL
    LIMIT %(limit)s
), gone AS (
    DELETE FROM changes c USING doomed d
    WHERE c.tenant_id = d.tenant_id AND c.id = d.id
    RETURNING c.sequence
), state AS (
    UPDATE feed_state
    SET pruned_through = greatest(pruned_through, (SELECT max(sequence) FROM gone))
    WHERE EXISTS (SELECT 1 FROM gone)
)
SELECT count(*) AS pruned FROM gone
