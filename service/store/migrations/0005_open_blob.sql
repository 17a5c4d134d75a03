-- Opening a download in one round trip: the blob (by digest, or by message and attachment)
-- and the first chunks of the requested range. The first row describes the blob (seq and data
-- NULL); chunk rows follow in order. No row: the tenant has no such blob or attachment. A range
-- that starts at or past the end returns the blob row alone. Like the functions of 0004, it sets
-- the tenant for its own transaction and reads under row-level security (SECURITY INVOKER).
CREATE FUNCTION emailstore_open_blob(p_tenant uuid, p_sha256 bytea, p_storage_key text,
                                     p_attachment_id text, p_offset bigint, p_limit bigint,
                                     p_chunks integer)
    RETURNS TABLE (sha256 bytea, size_bytes bigint, stored_size_bytes bigint, codec text,
                   chunk_size integer, seq integer, data bytea)
    LANGUAGE plpgsql SECURITY INVOKER
    AS $$
DECLARE
    found_blob record;
    range_end bigint;
    first_seq bigint;
BEGIN
    -- The lookup of 0004 (it sets the tenant for this transaction too).
    SELECT f.sha256, f.size_bytes, f.stored_size_bytes, f.codec, f.chunk_size
    INTO found_blob
    FROM emailstore_find_blob(p_tenant, p_sha256, p_storage_key, p_attachment_id) f;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    RETURN QUERY SELECT found_blob.sha256, found_blob.size_bytes, found_blob.stored_size_bytes,
                        found_blob.codec, found_blob.chunk_size, NULL::integer, NULL::bytea;
    range_end := found_blob.size_bytes;
    IF p_limit > 0 THEN
        range_end := LEAST(range_end, p_offset + p_limit);
    END IF;
    IF p_offset < 0 OR p_offset >= range_end OR p_chunks < 1 THEN
        RETURN;
    END IF;
    first_seq := p_offset / found_blob.chunk_size;
    RETURN QUERY
        SELECT found_blob.sha256, found_blob.size_bytes, found_blob.stored_size_bytes,
               found_blob.codec, found_blob.chunk_size, c.seq, c.data
        FROM blob_chunks c
        WHERE c.tenant_id = p_tenant AND c.sha256 = found_blob.sha256
          AND c.seq BETWEEN first_seq
                        AND LEAST(first_seq + p_chunks - 1, (range_end - 1) / found_blob.chunk_size)
        ORDER BY c.seq;
END
$$;
GRANT EXECUTE ON FUNCTION emailstore_open_blob(uuid, bytea, text, text, bigint, bigint, integer)
    TO emailstore_app;
