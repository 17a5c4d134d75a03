-- ExportMessages: how many messages a set of ListMessages filters selects.

-- name: count_messages
-- The messages an export by filters will stream, for its progress: {where} is ListMessages'
-- own conditions (fixed fragments, each value bound), so the count is of the same rows.
SELECT count(*) FROM email_messages m
WHERE {where}
