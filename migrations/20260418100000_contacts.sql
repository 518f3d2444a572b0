-- CardDAV storage for expresso-contacts: address books, the vCards in them,
-- tombstones of deleted vCards for sync-collection (RFC 6578), and WebDAV
-- dead properties set by PROPPATCH.
--
-- Every change to an address book takes the next value of its sync_seq; a
-- vCard and a tombstone keep the value of their last change in modseq, so
-- a sync-token names one point in that sequence and a delta is "modseq
-- greater than the token".

CREATE TABLE addressbooks (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	tenant_id uuid NOT NULL,
	user_id uuid NOT NULL,
	-- The last path segment of the collection URL.
	name text NOT NULL
		CONSTRAINT addressbooks_name_format CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
	displayname text NOT NULL DEFAULT ''
		CONSTRAINT addressbooks_displayname_length CHECK (length(displayname) <= 255),
	description text NOT NULL DEFAULT ''
		CONSTRAINT addressbooks_description_length CHECK (length(description) <= 4096),
	sync_seq bigint NOT NULL DEFAULT 0,
	created_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (tenant_id, id),
	UNIQUE (user_id, name),
	FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE contact_cards (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	tenant_id uuid NOT NULL,
	addressbook_id uuid NOT NULL,
	-- The last path segment of the resource URL, percent-decoded.
	name text NOT NULL
		CONSTRAINT contact_cards_name_length CHECK (length(name) BETWEEN 1 AND 255),
	uid text NOT NULL
		CONSTRAINT contact_cards_uid_length CHECK (length(uid) BETWEEN 1 AND 1024),
	etag text NOT NULL,
	vcard text NOT NULL,
	modseq bigint NOT NULL,
	modified_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (addressbook_id, name),
	FOREIGN KEY (tenant_id, addressbook_id) REFERENCES addressbooks (tenant_id, id) ON DELETE CASCADE
);

-- CARDDAV:no-uid-conflict: one vCard per UID in an address book, checked by
-- the index rather than by scanning the collection on every PUT.
CREATE UNIQUE INDEX contact_cards_addressbook_uid_idx ON contact_cards (addressbook_id, uid);
CREATE INDEX contact_cards_addressbook_modseq_idx ON contact_cards (addressbook_id, modseq);

CREATE TABLE contact_tombstones (
	tenant_id uuid NOT NULL,
	addressbook_id uuid NOT NULL,
	name text NOT NULL,
	modseq bigint NOT NULL,
	deleted_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (addressbook_id, name),
	FOREIGN KEY (tenant_id, addressbook_id) REFERENCES addressbooks (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX contact_tombstones_addressbook_modseq_idx ON contact_tombstones (addressbook_id, modseq);

COMMENT ON TABLE contact_tombstones IS 'Deleted vCards, reported as 404 by sync-collection to clients holding an older sync-token.';

-- Dead properties (RFC 4918 section 4) of one DAV resource, keyed by its
-- path below the DAV root. value is the whole property element as XML.
CREATE TABLE dav_properties (
	tenant_id uuid NOT NULL,
	user_id uuid NOT NULL,
	path text NOT NULL
		CONSTRAINT dav_properties_path_length CHECK (length(path) BETWEEN 1 AND 1024),
	namespace text NOT NULL
		CONSTRAINT dav_properties_namespace_length CHECK (length(namespace) <= 1024),
	name text NOT NULL
		CONSTRAINT dav_properties_name_length CHECK (length(name) BETWEEN 1 AND 255),
	value text NOT NULL
		CONSTRAINT dav_properties_value_length CHECK (length(value) <= 65536),
	PRIMARY KEY (tenant_id, path, namespace, name),
	FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

ALTER TABLE addressbooks ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON addressbooks FOR ALL
	USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
	WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE contact_cards ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON contact_cards FOR ALL
	USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
	WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE contact_tombstones ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON contact_tombstones FOR ALL
	USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
	WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE dav_properties ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON dav_properties FOR ALL
	USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
	WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

GRANT SELECT, INSERT, UPDATE, DELETE ON addressbooks, contact_cards, contact_tombstones, dav_properties
	TO expresso_app;
