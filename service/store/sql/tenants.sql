-- Tenants: the control-plane list of tenants the service has stored mail for.

-- name: register
INSERT INTO known_tenants (tenant_id) VALUES (%(tenant_id)s) ON CONFLICT (tenant_id) DO NOTHING

-- name: known
SELECT tenant_id::text FROM known_tenants
WHERE tenant_id > %(after)s::uuid ORDER BY tenant_id LIMIT %(limit)s
