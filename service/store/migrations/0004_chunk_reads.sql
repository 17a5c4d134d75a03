-- Reading a range of a blob's chunks in one statement (one round trip): the function sets the
-- tenant for its own transaction, then reads under row-level security like any other query
-- (SECURITY INVOKER: it runs as the caller, emailstore_app, not as the owner).
CREATE FUNCTION emailstore_read_chunks(p_tenant uuid, p_sha256 bytea, p_first integer, p_last integer)
    RETURNS TABLE (seq integer, data bytea)
    LANGUAGE plpgsql SECURITY INVOKER
    AS $$
BEGIN
    PERFORM set_config('app.tenant_id', p_tenant::text, true);
    RETURN QUERY
        SELECT c.seq, c.data FROM blob_chunks c
        WHERE c.tenant_id = p_tenant AND c.sha256 = p_sha256 AND c.seq BETWEEN p_first AND p_last
        ORDER BY c.seq;
END
$$;
GRANT EXECUTE ON FUNCTION emailstore_read_chunks(uuid, bytea, integer, integer) TO emailstore_app;

-- The blob a download reads, by digest or by (message, attachment), in one statement.
CREATE FUNCTION emailstore_find_blob(p_tenant uuid, p_sha256 bytea, p_storage_key text,
                                     p_attachment_id text)
    RETURNS TABLE (sha256 bytea, size_bytes bigint, stored_size_bytes bigint, codec text,
                   chunk_size integer)
    LANGUAGE plpgsql SECURITY INVOKER
    AS $$
BEGIN
    PERFORM set_config('app.tenant_id', p_tenant::text, true);
    IF p_sha256 IS NOT NULL THEN
        RETURN QUERY
            SELECT b.sha256, b.size_bytes, b.stored_size_bytes, b.codec, b.chunk_size
            FROM blobs b
            WHERE b.tenant_id = p_tenant AND b.sha256 = p_sha256 AND b.state = 'ready';
    ELSE
        RETURN QUERY
            SELECT b.sha256, b.size_bytes, b.stored_size_bytes, b.codec, b.chunk_size
            FROM attachments a
            JOIN blobs b ON b.tenant_id = a.tenant_id AND b.sha256 = a.sha256
            WHERE a.tenant_id = p_tenant AND a.storage_key = p_storage_key
              AND a.attachment_id = p_attachment_id;
    END IF;
END
$$;
GRANT EXECUTE ON FUNCTION emailstore_find_blob(uuid, bytea, text, text) TO emailstore_app;
