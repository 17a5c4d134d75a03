-- What a small message costs on disk, measured by `make bench` (the storage table).
--
-- 1. The listing indexes end at created_at. With storage_key after it, every entry was unique
--    (some 80 bytes), and inserts in the middle of an index split its pages half-empty: the
--    five of them took about 880 bytes per message. Without it, messages written in one
--    statement (one created_at) share an entry (B-tree deduplication) and the five take about
--    350. ListMessages still returns newest first with storage_key breaking ties: the index
--    gives the created_at order, and the few rows of one created_at are sorted among
--    themselves (an incremental sort); page tokens are unchanged.
DROP INDEX email_messages_created;
DROP INDEX email_messages_campaign;
DROP INDEX email_messages_lead;
DROP INDEX email_messages_account;
DROP INDEX email_messages_thread;
CREATE INDEX email_messages_created ON email_messages (tenant_id, created_at DESC);
CREATE INDEX email_messages_campaign ON email_messages (tenant_id, campaign_id, created_at DESC);
CREATE INDEX email_messages_lead ON email_messages (tenant_id, lead_id, created_at DESC);
CREATE INDEX email_messages_account ON email_messages (tenant_id, email_account_id, created_at DESC);
CREATE INDEX email_messages_thread ON email_messages (tenant_id, thread_id, created_at DESC);

-- 2. A content row keeps a pack of up to about 4 KB in the row. PostgreSQL moves a row's wide
--    values out to TOAST once the row passes about 2 KB (toast_tuple_target's default), and a
--    pack of 1.5-2 KB (outbound mail before its tenant has a dictionary) then cost a TOAST
--    row, a TOAST index entry and a half-empty page on top of its bytes: 2.4 KB on disk for a
--    1.8 KB pack, against 2.1 KB now. Beyond 4 KB two rows no longer fit a page, and TOAST
--    (which fills its pages) is the better home again.
ALTER TABLE email_content SET (toast_tuple_target = 4080);
