-- SearchMessages: the tenant's unarchived messages matching a query, newest first
-- (service/store/search.py composes {where} and {match} from fixed fragments, every value of
-- the query bound). Why two statements: see service/store/search.py.

-- name: search_newest
-- First, the newest %(scan)s messages (a walk down email_messages_created) tested one by one:
-- a page of common terms is found here, and the walk never goes further, however rare they
-- are.
SELECT {message_columns} FROM (
    SELECT {m.message_columns}, {match} AS hit
    FROM email_messages m
    WHERE {where}
    ORDER BY m.created_at DESC, m.storage_key DESC
    LIMIT %(scan)s
) m
WHERE m.hit
LIMIT %(limit)s

-- name: search_matches
-- Then, for rarer terms, the matches themselves, found through the search indexes
-- (email_messages_search_vector, email_messages_search_addresses; ANDed in a bitmap with
-- the tenant's rows) and sorted: ordered by an expression no index has, so that the planner
-- cannot walk email_messages_created testing every row instead, which takes seconds when
-- the terms are rare (it guesses that matches are spread evenly over time).
SELECT {m.message_columns} FROM email_messages m
WHERE {where} AND {match}
ORDER BY m.created_at + interval '0 seconds' DESC, m.storage_key DESC
LIMIT %(limit)s

-- name: search_ordered
-- A query without a full-text or address term to find matches by: newest first, through
-- email_messages_created, or a campaign's, lead's or mailbox's index when it names one.
SELECT {m.message_columns} FROM email_messages m
WHERE {where} AND {match}
ORDER BY m.created_at DESC, m.storage_key DESC
LIMIT %(limit)s

-- name: unindexed
-- Messages without a search vector (stored before migration 0013), oldest first.
SELECT storage_key FROM email_messages
WHERE tenant_id = %(tenant_id)s AND search_vector IS NULL
ORDER BY created_at
LIMIT %(limit)s

-- name: set_vectors
-- The backfill's vectors and addresses, for messages that still have none.
UPDATE email_messages m
SET search_vector = v.search_vector::tsvector, search_addresses = v.search_addresses
FROM unnest(%(keys)s::text[], %(vectors)s::text[], %(addresses)s::text[])
    AS v(storage_key, search_vector, search_addresses)
WHERE m.tenant_id = %(tenant_id)s AND m.storage_key = v.storage_key
  AND m.search_vector IS NULL
