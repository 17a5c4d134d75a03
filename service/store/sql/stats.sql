-- Campaign statistics, computed in one statement (one snapshot) over the campaign's own rows.

-- name: campaign
-- o: the campaign's outbound messages in the window (email_messages_campaign); i: the inbound
-- messages answering them. Each part aggregates per sequence step and for the whole campaign
-- (GROUPING SETS); days count the events of each UTC day. The service only assembles the
-- aggregates.
WITH o AS MATERIALIZED (
    SELECT storage_key, lead_id, sequence_step, status, sent_at, delivered_at, opened_at,
           clicked_at, replied_at, bounced_at, bounce
    FROM email_messages
    WHERE tenant_id = %(tenant_id)s AND campaign_id = %(campaign_id)s
      AND direction = 'outbound'
      AND created_at >= coalesce(%(created_after)s::timestamptz, '-infinity')
      AND created_at < coalesce(%(created_before)s::timestamptz, 'infinity')
), counts AS (
    SELECT CASE WHEN grouping(sequence_step) = 1 THEN -1 ELSE sequence_step END AS step,
           count(*) AS total_messages,
           count(*) FILTER (WHERE sent_at IS NOT NULL) AS sent,
           count(*) FILTER (WHERE delivered_at IS NOT NULL) AS delivered,
           count(*) FILTER (WHERE opened_at IS NOT NULL) AS opened,
           count(*) FILTER (WHERE clicked_at IS NOT NULL) AS clicked,
           count(*) FILTER (WHERE replied_at IS NOT NULL) AS replied,
           count(*) FILTER (WHERE status = 'bounced') AS bounced,
           count(*) FILTER (WHERE status = 'failed') AS failed,
           count(*) FILTER (WHERE status = 'bounced' AND bounce ->> 'bounce_class' = 'hard')
               AS hard_bounces,
           count(*) FILTER (WHERE status = 'bounced' AND bounce ->> 'bounce_class' = 'soft')
               AS soft_bounces,
           count(DISTINCT lead_id) FILTER (WHERE lead_id <> '') AS unique_leads,
           count(DISTINCT lead_id) FILTER (WHERE lead_id <> '' AND replied_at IS NOT NULL)
               AS unique_leads_replied
    FROM o GROUP BY GROUPING SETS ((sequence_step), ())
), answers AS (
    SELECT CASE WHEN grouping(p.sequence_step) = 1 THEN -1 ELSE p.sequence_step END AS step,
           count(*) FILTER (WHERE r.message_type = 'email') AS inbound_replies,
           count(*) FILTER (WHERE r.message_type = 'auto_reply') AS auto_replies
    FROM email_messages r JOIN o p ON p.storage_key = r.parent_storage_key
    WHERE r.tenant_id = %(tenant_id)s AND r.campaign_id = %(campaign_id)s
      AND r.direction = 'inbound' AND r.parent_storage_key <> ''
    GROUP BY GROUPING SETS ((p.sequence_step), ())
), reasons AS (
    SELECT CASE WHEN grouping(sequence_step) = 1 THEN -1 ELSE sequence_step END AS step,
           coalesce(bounce ->> 'reason', 'other') AS reason, count(*) AS n
    FROM o WHERE status = 'bounced'
    GROUP BY GROUPING SETS ((sequence_step, coalesce(bounce ->> 'reason', 'other')),
                            (coalesce(bounce ->> 'reason', 'other')))
), days AS (
    -- One pass per status over the materialised rows: cheaper than a row per (message,
    -- status) through a lateral join. Sessions run in UTC (database.py), so ::date is the
    -- UTC day.
    SELECT sent_at::date AS day, 'sent' AS k, count(*) AS n
    FROM o WHERE sent_at IS NOT NULL GROUP BY 1
    UNION ALL SELECT delivered_at::date, 'delivered', count(*)
    FROM o WHERE delivered_at IS NOT NULL GROUP BY 1
    UNION ALL SELECT opened_at::date, 'opened', count(*)
    FROM o WHERE opened_at IS NOT NULL GROUP BY 1
    UNION ALL SELECT clicked_at::date, 'clicked', count(*)
    FROM o WHERE clicked_at IS NOT NULL GROUP BY 1
    UNION ALL SELECT replied_at::date, 'replied', count(*)
    FROM o WHERE replied_at IS NOT NULL GROUP BY 1
    UNION ALL SELECT bounced_at::date, 'bounced', count(*)
    FROM o WHERE status = 'bounced' AND bounced_at IS NOT NULL GROUP BY 1
)
SELECT (SELECT coalesce(jsonb_agg(to_jsonb(c)), '[]') FROM counts c) AS counts,
       (SELECT coalesce(jsonb_agg(to_jsonb(a)), '[]') FROM answers a) AS answers,
       (SELECT coalesce(jsonb_agg(to_jsonb(r)), '[]') FROM reasons r) AS reasons,
       (SELECT coalesce(jsonb_agg(to_jsonb(d)), '[]') FROM days d) AS days
