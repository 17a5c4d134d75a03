-- How many messages reference each blob, beside how many references it has.
--
-- refcount counts references, and the collector frees a blob when it reaches zero. An ingested
-- message references each attachment twice, though: as an attachment and as a part of its raw
-- form. GetStorageUsage's raw_bytes counts each message's distinct content once, from
-- message_refs; counted per reference, dedup appeared to save more than was ever ingested.

ALTER TABLE blobs ADD COLUMN message_refs bigint NOT NULL DEFAULT 0;

-- The backfill reads every tenant's rows: lift the forced row-level security for it (superusers
-- bypass it anyway; an owning role that is not one would otherwise see no rows).
ALTER TABLE blobs NO FORCE ROW LEVEL SECURITY;
ALTER TABLE email_content NO FORCE ROW LEVEL SECURITY;
ALTER TABLE attachments NO FORCE ROW LEVEL SECURITY;

UPDATE blobs b SET message_refs = r.messages
FROM (
    SELECT tenant_id, sha256, count(DISTINCT storage_key) AS messages
    FROM (
        SELECT tenant_id, storage_key, text_sha256 AS sha256 FROM email_content
        WHERE text_sha256 IS NOT NULL
        UNION ALL
        SELECT tenant_id, storage_key, html_sha256 FROM email_content
        WHERE html_sha256 IS NOT NULL
        UNION ALL
        SELECT tenant_id, storage_key, raw_sha256 FROM email_content
        WHERE raw_sha256 IS NOT NULL
        UNION ALL
        SELECT c.tenant_id, c.storage_key, decode(p.sha256, 'hex') FROM email_content c
            CROSS JOIN LATERAL jsonb_array_elements_text(c.raw_parts) AS p(sha256)
        UNION ALL
        SELECT tenant_id, storage_key, sha256 FROM attachments
    ) refs
    GROUP BY tenant_id, sha256
) r
WHERE b.tenant_id = r.tenant_id AND b.sha256 = r.sha256;

ALTER TABLE blobs FORCE ROW LEVEL SECURITY;
ALTER TABLE email_content FORCE ROW LEVEL SECURITY;
ALTER TABLE attachments FORCE ROW LEVEL SECURITY;

-- A message holds at least one reference to each blob it references.
ALTER TABLE blobs ADD CONSTRAINT blobs_message_refs_check
    CHECK (message_refs >= 0 AND message_refs <= refcount);
