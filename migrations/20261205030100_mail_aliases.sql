-- Alias addresses of users: mail to an alias is delivered to its user,
-- and the user may send with it as envelope sender and From. An address
-- of the form '@domain' is a catch-all that receives mail for every
-- address of that domain without a user or alias of its own; it does not
-- allow sending. Lookups compare whole addresses, so a row that is not of
-- the form local@domain or @domain never matches anything.

CREATE TABLE mail_aliases (
	tenant_id uuid NOT NULL,
	address text NOT NULL UNIQUE
		CONSTRAINT mail_aliases_address_lowercase CHECK (address = lower(address))
		CONSTRAINT mail_aliases_address_length CHECK (length(address) BETWEEN 1 AND 254),
	user_id uuid NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, address),
	FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX mail_aliases_user_idx ON mail_aliases (user_id);

GRANT SELECT, INSERT, UPDATE, DELETE ON mail_aliases TO expresso_app;

ALTER TABLE mail_aliases ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON mail_aliases FOR ALL
	USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
	WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
