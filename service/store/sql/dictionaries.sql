-- Dictionaries: per-tenant zstd dictionaries that small content is compressed with.

-- name: latest
SELECT dictionary_id, data, dict_ratio FROM zstd_dictionaries
WHERE tenant_id = %(tenant_id)s ORDER BY dictionary_id DESC LIMIT 1

-- name: get
SELECT dictionary_id, data, dict_ratio FROM zstd_dictionaries
WHERE tenant_id = %(tenant_id)s AND dictionary_id = %(dictionary_id)s

-- name: next_id
SELECT coalesce(max(dictionary_id), 0) + 1 FROM zstd_dictionaries WHERE tenant_id = %(tenant_id)s

-- name: samples
-- The newest packs (server-made keys sort by time), to train a dictionary on.
SELECT pack, dictionary_id FROM email_content
WHERE tenant_id = %(tenant_id)s AND pack IS NOT NULL
ORDER BY storage_key DESC
LIMIT %(limit)s

-- name: add
-- A new dictionary, and the tenant's entry in the control-plane list of dictionary tenants.
WITH d AS (
    INSERT INTO zstd_dictionaries (tenant_id, dictionary_id, data, samples, sample_bytes,
                                   dict_ratio, plain_ratio)
    VALUES (%(tenant_id)s, %(dictionary_id)s, %(data)s, %(samples)s, %(sample_bytes)s,
            %(dict_ratio)s, %(plain_ratio)s)
    ON CONFLICT (tenant_id, dictionary_id) DO NOTHING
    RETURNING tenant_id, dictionary_id
)
INSERT INTO dictionary_tenants (tenant_id, dictionary_id)
SELECT tenant_id, dictionary_id FROM d
ON CONFLICT (tenant_id) DO UPDATE
    SET dictionary_id = greatest(dictionary_tenants.dictionary_id, excluded.dictionary_id),
        updated_at = now()
RETURNING dictionary_id

-- name: undictionaried
-- Packs written without a dictionary, counted up to a bound (enough to decide to train).
SELECT count(*) FROM (
    SELECT 1 FROM email_content
    WHERE tenant_id = %(tenant_id)s AND pack IS NOT NULL AND dictionary_id IS NULL
    LIMIT %(limit)s
) s

-- name: recent_ratio
-- Compressed/raw of the newest packs made with a dictionary.
SELECT coalesce(sum(octet_length(pack))::real / nullif(sum(pack_size), 0), 0) FROM (
    SELECT pack, pack_size FROM email_content
    WHERE tenant_id = %(tenant_id)s AND dictionary_id = %(dictionary_id)s
    ORDER BY storage_key DESC
    LIMIT %(limit)s
) s

-- name: drop_unused
-- Dictionaries older than the current one that no pack needs any more.
DELETE FROM zstd_dictionaries d
WHERE d.tenant_id = %(tenant_id)s AND d.dictionary_id < %(current)s
  AND NOT EXISTS (SELECT 1 FROM email_content c
                  WHERE c.tenant_id = d.tenant_id AND c.dictionary_id = d.dictionary_id)
RETURNING d.dictionary_id
