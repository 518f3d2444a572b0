-- Public read-only links to a drive file or folder. The link carries a
-- random token; only its SHA-256 is stored, so the table cannot be used to
-- rebuild a link. An optional password is stored as an argon2id hash.
-- A share stops working when it expires or is revoked (revoked_at set);
-- the row stays for the audit trail until its file or folder is purged.
CREATE TABLE drive_shares (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	tenant_id uuid NOT NULL,
	owner_id uuid NOT NULL,
	file_id uuid,
	folder_id uuid,
	token_sha256 text NOT NULL UNIQUE
		CONSTRAINT drive_shares_token_sha256_format CHECK (token_sha256 ~ '^[0-9a-f]{64}$'),
	password_hash text,
	expires_at timestamptz,
	revoked_at timestamptz,
	created_at timestamptz NOT NULL DEFAULT now(),
	CONSTRAINT drive_shares_one_target CHECK ((file_id IS NULL) <> (folder_id IS NULL)),
	UNIQUE (tenant_id, id),
	FOREIGN KEY (tenant_id, owner_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
	FOREIGN KEY (tenant_id, file_id) REFERENCES drive_files (tenant_id, id) ON DELETE CASCADE,
	FOREIGN KEY (tenant_id, folder_id) REFERENCES drive_folders (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX drive_shares_owner_idx ON drive_shares (tenant_id, owner_id);

GRANT SELECT, INSERT, UPDATE ON drive_shares TO expresso_app;

ALTER TABLE drive_shares ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON drive_shares FOR ALL
	USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
	WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

-- The lookup below runs as expresso_owner before a tenant is known; this
-- policy lets it read (never write) shares of every tenant.
CREATE POLICY owner_lookup ON drive_shares FOR SELECT TO expresso_owner USING (true);

-- Returns the tenant of the share whose token hashes to TOKEN_SHA256, or
-- NULL. Used by the public share route, which has no access token; the
-- request then runs bound to that tenant like any other.
CREATE FUNCTION ex_tenant_for_drive_share(token_sha256 text) RETURNS uuid
	LANGUAGE sql STABLE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, public, pg_temp
AS $$
	SELECT s.tenant_id FROM public.drive_shares AS s WHERE s.token_sha256 = ex_tenant_for_drive_share.token_sha256
$$;

ALTER FUNCTION ex_tenant_for_drive_share(text) OWNER TO expresso_owner;
REVOKE ALL ON FUNCTION ex_tenant_for_drive_share(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ex_tenant_for_drive_share(text) TO expresso_app;
