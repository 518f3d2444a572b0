-- Sieve filtering (RFC 5228): each user's scripts, at most one active,
-- the vacation settings behind the managed vacation script (RFC 5230),
-- the replies already sent per sender, and the redirects made per day.

CREATE TABLE sieve_scripts (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	tenant_id uuid NOT NULL,
	user_id uuid NOT NULL,
	-- RFC 5804 section 1.6: a script name is UTF-8 without control characters.
	name text NOT NULL
		CONSTRAINT sieve_scripts_name_format CHECK (
			length(name) BETWEEN 1 AND 255
			AND name !~ '[[:cntrl:]]'),
	-- The size cap (setting sieve_max_script_size) is checked by the daemon
	-- before libsieve parses a script; this bound only stops a runaway writer.
	content text NOT NULL
		CONSTRAINT sieve_scripts_content_length CHECK (octet_length(content) <= 16777216),
	active boolean NOT NULL DEFAULT false,
	-- The last run-time error at delivery, shown by the API and ManageSieve;
	-- cleared when the script is replaced.
	last_error text,
	last_error_at timestamptz,
	updated_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (user_id, name),
	FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

CREATE UNIQUE INDEX sieve_scripts_one_active_idx ON sieve_scripts (user_id) WHERE active;

CREATE TABLE sieve_vacation_settings (
	tenant_id uuid NOT NULL,
	user_id uuid PRIMARY KEY,
	enabled boolean NOT NULL DEFAULT false,
	subject text NOT NULL DEFAULT ''
		CONSTRAINT sieve_vacation_settings_subject_length CHECK (length(subject) <= 998),
	body text NOT NULL DEFAULT ''
		CONSTRAINT sieve_vacation_settings_body_length CHECK (length(body) <= 32768),
	days integer NOT NULL DEFAULT 7
		CONSTRAINT sieve_vacation_settings_days_range CHECK (days BETWEEN 1 AND 365),
	-- The managed script replies only from start_date to end_date (UTC days,
	-- inclusive); NULL leaves that side open.
	start_date date,
	end_date date,
	CONSTRAINT sieve_vacation_settings_period CHECK (start_date IS NULL OR end_date IS NULL OR start_date <= end_date),
	updated_at timestamptz NOT NULL DEFAULT now(),
	FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

-- One row per user and sender: when the last vacation reply went out.
CREATE TABLE sieve_vacation_replies (
	tenant_id uuid NOT NULL,
	user_id uuid NOT NULL,
	sender text NOT NULL
		CONSTRAINT sieve_vacation_replies_sender_length CHECK (length(sender) BETWEEN 1 AND 512),
	sent_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (user_id, sender),
	FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

-- Redirects made per user and UTC day, for the daily cap.
CREATE TABLE sieve_redirect_counts (
	tenant_id uuid NOT NULL,
	user_id uuid NOT NULL,
	day date NOT NULL,
	redirects integer NOT NULL DEFAULT 0,
	PRIMARY KEY (user_id, day),
	FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

ALTER TABLE sieve_scripts ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON sieve_scripts FOR ALL
	USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
	WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE sieve_vacation_settings ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON sieve_vacation_settings FOR ALL
	USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
	WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE sieve_vacation_replies ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON sieve_vacation_replies FOR ALL
	USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
	WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE sieve_redirect_counts ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON sieve_redirect_counts FOR ALL
	USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
	WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

GRANT SELECT, INSERT, UPDATE, DELETE
	ON sieve_scripts, sieve_vacation_settings, sieve_vacation_replies, sieve_redirect_counts
	TO expresso_app;
