-- expresso-drive: folders, files, file versions and tus uploads in
-- progress. File contents live in object storage under
-- drive_file_versions.storage_key; the bytes of an unfinished upload live
-- in the daemon's upload directory until the upload completes.
--
-- Every folder, file and upload belongs to one user (owner_id). A NULL
-- folder_id or parent_id is the owner's root folder.

CREATE TABLE drive_folders (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	tenant_id uuid NOT NULL,
	owner_id uuid NOT NULL,
	parent_id uuid,
	name text NOT NULL
		CONSTRAINT drive_folders_name_format CHECK (
			octet_length(name) BETWEEN 1 AND 255 AND name !~ '[/\\[:cntrl:]]' AND name NOT IN ('.', '..')),
	created_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (tenant_id, id),
	UNIQUE NULLS NOT DISTINCT (owner_id, parent_id, name),
	FOREIGN KEY (tenant_id, owner_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
	FOREIGN KEY (tenant_id, parent_id) REFERENCES drive_folders (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE drive_files (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	tenant_id uuid NOT NULL,
	owner_id uuid NOT NULL,
	folder_id uuid,
	name text NOT NULL
		CONSTRAINT drive_files_name_format CHECK (
			octet_length(name) BETWEEN 1 AND 255 AND name !~ '[/\\[:cntrl:]]' AND name NOT IN ('.', '..')),
	-- The current version: its number, size and media type.
	current_version integer NOT NULL DEFAULT 1
		CONSTRAINT drive_files_current_version_positive CHECK (current_version >= 1),
	size bigint NOT NULL
		CONSTRAINT drive_files_size_positive CHECK (size >= 0),
	content_type text NOT NULL DEFAULT 'application/octet-stream',
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (tenant_id, id),
	UNIQUE NULLS NOT DISTINCT (owner_id, folder_id, name),
	FOREIGN KEY (tenant_id, owner_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
	FOREIGN KEY (tenant_id, folder_id) REFERENCES drive_folders (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE drive_file_versions (
	-- The id of the upload that produced the version; part of storage_key.
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	tenant_id uuid NOT NULL,
	file_id uuid NOT NULL,
	version integer NOT NULL
		CONSTRAINT drive_file_versions_version_positive CHECK (version >= 1),
	size bigint NOT NULL
		CONSTRAINT drive_file_versions_size_positive CHECK (size >= 0),
	content_type text NOT NULL DEFAULT 'application/octet-stream',
	storage_key text NOT NULL
		CONSTRAINT drive_file_versions_storage_key_not_empty CHECK (storage_key <> ''),
	created_by uuid NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (tenant_id, id),
	UNIQUE (file_id, version),
	FOREIGN KEY (tenant_id, file_id) REFERENCES drive_files (tenant_id, id) ON DELETE CASCADE
);

CREATE TYPE drive_upload_state AS ENUM ('uploading', 'completed');

CREATE TABLE drive_uploads (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	tenant_id uuid NOT NULL,
	owner_id uuid NOT NULL,
	folder_id uuid,
	filename text NOT NULL
		CONSTRAINT drive_uploads_filename_format CHECK (
			octet_length(filename) BETWEEN 1 AND 255 AND filename !~ '[/\\[:cntrl:]]'),
	filetype text NOT NULL DEFAULT 'application/octet-stream',
	-- The Upload-Metadata header as received, echoed by HEAD.
	metadata text NOT NULL DEFAULT '',
	-- NULL until a client that deferred the length sends it.
	upload_length bigint
		CONSTRAINT drive_uploads_upload_length_positive CHECK (upload_length >= 0),
	-- Bytes stored durably in the upload file.
	upload_offset bigint NOT NULL DEFAULT 0
		CONSTRAINT drive_uploads_upload_offset_within_length CHECK (
			upload_offset >= 0 AND (upload_length IS NULL OR upload_offset <= upload_length)),
	state drive_upload_state NOT NULL DEFAULT 'uploading',
	expires_at timestamptz NOT NULL,
	-- Set on completion: the file and version the upload became.
	file_id uuid,
	version integer,
	created_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (tenant_id, id),
	FOREIGN KEY (tenant_id, owner_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
	FOREIGN KEY (tenant_id, folder_id) REFERENCES drive_folders (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX drive_files_folder_idx ON drive_files (tenant_id, owner_id, folder_id);
CREATE INDEX drive_folders_parent_idx ON drive_folders (tenant_id, owner_id, parent_id);
CREATE INDEX drive_uploads_expires_idx ON drive_uploads (tenant_id, expires_at) WHERE state = 'uploading';

COMMENT ON TABLE drive_uploads IS 'tus uploads; rows in state uploading past expires_at are purged with their upload file.';

GRANT SELECT, INSERT, UPDATE, DELETE ON drive_folders, drive_files, drive_file_versions, drive_uploads
	TO expresso_app;

ALTER TABLE drive_folders ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON drive_folders FOR ALL
	USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
	WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE drive_files ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON drive_files FOR ALL
	USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
	WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE drive_file_versions ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON drive_file_versions FOR ALL
	USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
	WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE drive_uploads ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON drive_uploads FOR ALL
	USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
	WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
