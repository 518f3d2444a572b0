-- S3 multipart uploads that receive a tus upload's bytes as they arrive.
-- drive_uploads.storage_upload_id is the multipart UploadId, set when the
-- first part is sent. Each row of drive_upload_parts is a part that S3
-- stored: its number, the upload offset where it ends (parts are
-- contiguous from offset 0) and the ETag that CompleteMultipartUpload
-- needs. Rows go with their upload.
ALTER TABLE drive_uploads ADD COLUMN storage_upload_id text;

CREATE TABLE drive_upload_parts (
	tenant_id uuid NOT NULL,
	upload_id uuid NOT NULL,
	part_number integer NOT NULL, -- 1 to 10000 in S3, checked by libs/storage
	end_offset bigint NOT NULL
		CONSTRAINT drive_upload_parts_end_positive CHECK (end_offset > 0),
	etag text NOT NULL,
	PRIMARY KEY (upload_id, part_number),
	FOREIGN KEY (tenant_id, upload_id) REFERENCES drive_uploads (tenant_id, id) ON DELETE CASCADE
);

GRANT SELECT, INSERT, UPDATE, DELETE ON drive_upload_parts TO expresso_app;

ALTER TABLE drive_upload_parts ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON drive_upload_parts FOR ALL
	USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
	WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
