-- expresso-calendar deletes calendar_itip_outbox rows that expresso-mail
-- queued more than EXPRESSO_CALENDAR_ITIP_RETENTION_DAYS ago; this index
-- finds them without reading the rows still waiting.
CREATE INDEX calendar_itip_outbox_queued_idx ON calendar_itip_outbox (tenant_id, queued_at) WHERE queued_at IS NOT NULL;
