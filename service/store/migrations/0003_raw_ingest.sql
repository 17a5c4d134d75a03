-- Raw (RFC 5322) ingest: the original bytes are kept as a skeleton blob plus one blob per leaf
-- body (email_content.raw_sha256 and raw_parts), so GetRawMessage gives them back exactly.

-- SHA-256 of the raw bytes of an ingested message (NULL for structured messages): the same
-- bytes ingested again for the same mailbox (an IMAP re-sync) are the same message.
ALTER TABLE email_messages ADD COLUMN ingest_hash bytea;
CREATE UNIQUE INDEX email_messages_ingest_hash
    ON email_messages (tenant_id, email_account_id, ingest_hash)
    WHERE ingest_hash IS NOT NULL;

-- How far parsing got: 'structured' (StoreMessage), 'parsed', or why it did not
-- ('unparsed: <reason>'; the message is then kept raw and whole).
ALTER TABLE email_messages ADD COLUMN parse_status text NOT NULL DEFAULT 'structured';

-- The blobs holding the leaf bodies the skeleton refers to, in skeleton order (hex digests).
ALTER TABLE email_content ADD COLUMN raw_parts jsonb NOT NULL DEFAULT '[]';
