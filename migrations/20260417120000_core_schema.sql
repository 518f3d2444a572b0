-- Core tenancy schema: tenants, their mail domains, users, app passwords and
-- the audit log. Grants, row-level security and the lookup functions for
-- these tables come in 20260417143000_rls_bootstrap_and_mailbox_stats.sql.
--
-- Child tables reference their parent through (tenant_id, id) rather than id
-- alone, so a row can never point at a parent that belongs to another tenant.

CREATE TABLE tenants (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	slug text NOT NULL UNIQUE
		CONSTRAINT tenants_slug_format CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
	name text NOT NULL
		CONSTRAINT tenants_name_length CHECK (length(name) BETWEEN 1 AND 200),
	created_at timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE tenants IS 'One organisation; the id is the tenant_id claim of its access tokens.';

CREATE TABLE domains (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	name text NOT NULL UNIQUE
		CONSTRAINT domains_name_lowercase CHECK (name = lower(name))
		CONSTRAINT domains_name_format CHECK (
			length(name) <= 253
			AND name ~ '^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$'),
	created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX domains_tenant_id_idx ON domains (tenant_id);

COMMENT ON TABLE domains IS 'Mail domains of a tenant; inbound SMTP maps a recipient domain to its tenant through ex_tenant_for_domain().';

CREATE TABLE users (
	-- The OIDC subject (sub claim) issued by the identity provider.
	id uuid PRIMARY KEY,
	tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	email text NOT NULL UNIQUE
		CONSTRAINT users_email_lowercase CHECK (email = lower(email))
		CONSTRAINT users_email_format CHECK (length(email) <= 254 AND email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
	username text NOT NULL
		CONSTRAINT users_username_length CHECK (length(username) BETWEEN 1 AND 255),
	display_name text NOT NULL DEFAULT ''
		CONSTRAINT users_display_name_length CHECK (length(display_name) <= 255),
	-- NULL means no quota.
	quota_bytes bigint
		CONSTRAINT users_quota_bytes_positive CHECK (quota_bytes >= 0),
	disabled boolean NOT NULL DEFAULT false,
	created_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (tenant_id, id),
	UNIQUE (tenant_id, username)
);

COMMENT ON COLUMN users.id IS 'OIDC sub claim of the user.';
COMMENT ON COLUMN users.quota_bytes IS 'Storage quota in bytes; NULL means no quota.';

CREATE TABLE app_passwords (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	tenant_id uuid NOT NULL,
	user_id uuid NOT NULL,
	name text NOT NULL
		CONSTRAINT app_passwords_name_length CHECK (length(name) BETWEEN 1 AND 100),
	-- Encoded argon2id hash: $argon2id$v=19$m=...,t=...,p=...$salt$hash
	hash text NOT NULL
		CONSTRAINT app_passwords_hash_argon2id CHECK (hash LIKE '$argon2id$%'),
	created_at timestamptz NOT NULL DEFAULT now(),
	last_used_at timestamptz,
	revoked_at timestamptz,
	FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

-- A user has at most one active app password of a given name; revoked ones
-- stay for the record.
CREATE UNIQUE INDEX app_passwords_user_name_active_idx
	ON app_passwords (user_id, name) WHERE revoked_at IS NULL;
CREATE INDEX app_passwords_tenant_user_idx ON app_passwords (tenant_id, user_id);

COMMENT ON TABLE app_passwords IS 'Per-device passwords for IMAP and SMTP clients; only the argon2id hash is stored.';

-- Append-only for the application role (see the grants in the RLS bootstrap
-- migration). No foreign key to tenants: audit rows outlive the tenant.
CREATE TABLE audit_log (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	tenant_id uuid NOT NULL,
	actor text,
	action text NOT NULL
		CONSTRAINT audit_log_action_not_empty CHECK (action <> ''),
	resource text,
	address text,
	request_id text,
	detail jsonb,
	occurred_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX audit_log_tenant_occurred_at_idx ON audit_log (tenant_id, occurred_at);

COMMENT ON COLUMN audit_log.actor IS 'Who acted: a user id, a daemon name or another stable principal name.';
COMMENT ON COLUMN audit_log.address IS 'Client network address as text, or NULL for internal actions.';
