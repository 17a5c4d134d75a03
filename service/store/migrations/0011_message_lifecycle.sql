-- The message lifecycle: status events, per-status times, sequence steps, bounce details.
--
-- An outbound message moves through QUEUED < SENT < DELIVERED < OPENED < CLICKED < REPLIED as
-- events arrive (service/core/lifecycle.py has the rules); BOUNCED and FAILED end it unless a
-- later reply proves delivery. Each per-status time is the earliest reported or implied for
-- that status, so campaign statistics count what each message reached from these columns,
-- over the campaign's own rows (the email_messages_campaign index).

ALTER TABLE email_messages
    -- The step of the campaign's sequence (1 = first touch, 2 = first follow-up; 0 = none).
    ADD COLUMN sequence_step integer NOT NULL DEFAULT 0
        CHECK (sequence_step BETWEEN 0 AND 1000),
    ADD COLUMN delivered_at timestamptz,
    ADD COLUMN opened_at    timestamptz,
    ADD COLUMN clicked_at   timestamptz,
    ADD COLUMN replied_at   timestamptz,
    ADD COLUMN bounced_at   timestamptz,
    ADD COLUMN failed_at    timestamptz,
    -- BOUNCE messages: what the bounce says; bounced outbound messages: the bounce that
    -- bounced them. {bounce_class, status_code, reason, diagnostic, failed_recipient,
    -- original_storage_key}; NULL otherwise (a bit in the null bitmap).
    ADD COLUMN bounce jsonb;

-- A message is updated a few times in its life (sent, delivered, opened, clicked...), none of
-- them touching an indexed column: room left on each page lets those be heap-only (HOT)
-- updates, which rewrite no index entry, instead of new row versions on other pages and new
-- entries in each of the table's indexes. New pages only; existing ones fill as they were.
ALTER TABLE email_messages SET (fillfactor = 85);

-- GetCampaignStats: the inbound mail answering a campaign's messages (replies, bounces and
-- auto-replies inherit the campaign), read from the index alone instead of revisiting every
-- row of the campaign. Inbound linked mail only: a fraction of the table.
CREATE INDEX email_messages_answers ON email_messages (tenant_id, campaign_id)
    INCLUDE (parent_storage_key, message_type)
    WHERE direction = 'inbound' AND parent_storage_key <> '';

-- Every status event reported for a message (by the caller, or by ingest: a reply, a bounce),
-- kept for ListMessageEvents and so that a repeated event_id is recognised.
CREATE TABLE message_events (
    tenant_id    uuid        NOT NULL,
    storage_key  text        NOT NULL,
    -- Recording order: breaks ties of occurred_at.
    seq          bigint      GENERATED ALWAYS AS IDENTITY,
    -- The caller's id of the event; NULL when it gave none (and for ingest's events).
    event_id     text,
    status       text        NOT NULL,
    occurred_at  timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    source       text        NOT NULL CHECK (source IN ('caller', 'ingest')),
    detail       jsonb       NOT NULL DEFAULT '{}',
    -- SHA-256 of what the event said: a repeat of event_id with other content is refused.
    fingerprint  bytea,
    PRIMARY KEY (tenant_id, storage_key, occurred_at, seq),
    FOREIGN KEY (tenant_id, storage_key) REFERENCES email_messages (tenant_id, storage_key)
        ON DELETE CASCADE
);
CREATE UNIQUE INDEX message_events_event_id ON message_events (tenant_id, event_id)
    WHERE event_id IS NOT NULL;

ALTER TABLE message_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE message_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON message_events
    USING (tenant_id = emailstore_current_tenant())
    WITH CHECK (tenant_id = emailstore_current_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON message_events TO emailstore_app;
