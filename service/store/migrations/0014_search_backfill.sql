-- Messages stored before migration 0013 have no search vector: the backfill
-- (service/core/reindex.py; in the background after `serve` starts, or `emailstore reindex`)
-- finds them through this index, oldest first, and writes their vectors and addresses from
-- their content. It is empty once the backfill is done, and new messages never enter it.
CREATE INDEX email_messages_unindexed ON email_messages (tenant_id, created_at)
    WHERE search_vector IS NULL;

-- has:attachment (alone, or with other column operators): the tenant's messages with
-- attachments, newest first, without walking every message that has none.
CREATE INDEX email_messages_with_attachments ON email_messages (tenant_id, created_at DESC)
    WHERE attachment_count > 0;
