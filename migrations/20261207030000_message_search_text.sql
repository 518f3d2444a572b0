-- The folded text that IMAP SEARCH BODY and TEXT compare against, one row
-- per message, so that a search reads a trigram index instead of every
-- stored message. expresso-mail writes a row the first time a search has
-- to read the stored message (services/mail/imap_search_index.c).
--
-- Both columns hold the text folded as the search folds it: Unicode NFD,
-- combining marks removed, case-folded. headers holds the decoded value
-- of each top-level header field, body the decoded text parts, each value
-- or part followed by a newline. Both are NULL when the folded text is
-- longer than EXPRESSO_IMAP_SEARCH_INDEX_MAX_TEXT, and the search then
-- reads the stored message as it does for messages without a row.

-- pg_trgm is a trusted extension (PostgreSQL 13 and later), so the
-- database owner may create it. Its GIN operator class answers LIKE
-- '%needle%' from trigrams and rechecks each candidate row, so the
-- matches are exact substring matches.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE message_search_text (
	message_id uuid PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
	tenant_id uuid NOT NULL,
	headers text,
	body text,
	created_at timestamptz NOT NULL DEFAULT now(),
	CONSTRAINT message_search_text_both_or_none CHECK ((headers IS NULL) = (body IS NULL))
);

CREATE INDEX message_search_text_headers_idx ON message_search_text USING gin (headers gin_trgm_ops);
CREATE INDEX message_search_text_body_idx ON message_search_text USING gin (body gin_trgm_ops);

ALTER TABLE message_search_text ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON message_search_text FOR ALL
	USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
	WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

GRANT SELECT, INSERT, DELETE ON message_search_text TO expresso_app;
