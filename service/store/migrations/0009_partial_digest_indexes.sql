-- Every index earns its place: tests/store/test_indexes.py names the statement each one serves
-- and checks with EXPLAIN that it does.
--
-- The digest indexes of email_content serve one statement each: the foreign-key check that a
-- blob the collector deletes is referenced by no content row. Since 0008 a small message keeps
-- its bodies and skeleton in its pack, so text_sha256, html_sha256 and raw_sha256 are NULL for
-- almost every row, and every NULL was an index entry that no lookup of a digest can use (three
-- per message). The same indexes without the NULLs serve the check as before.
DROP INDEX email_content_text;
DROP INDEX email_content_html;
DROP INDEX email_content_raw;
CREATE INDEX email_content_text ON email_content (tenant_id, text_sha256)
    WHERE text_sha256 IS NOT NULL;
CREATE INDEX email_content_html ON email_content (tenant_id, html_sha256)
    WHERE html_sha256 IS NOT NULL;
CREATE INDEX email_content_raw ON email_content (tenant_id, raw_sha256)
    WHERE raw_sha256 IS NOT NULL;

-- email_content.dictionary_id has no index, on purpose: its foreign key is checked when a
-- dictionary is dropped, which `emailstore recompress` does once no pack needs it; that check
-- reads the tenant's content rows once, instead of every message paying an index entry.

-- A tenant's upload sessions are few and short-lived: the collector finds the expired ones
-- through the primary key (tenant_id, upload_id) as well as through an index of its own.
DROP INDEX upload_sessions_expiry;
