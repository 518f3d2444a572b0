-- The time until which the object store keeps the parts of an upload's
-- multipart upload, set when the first part is sent. MinIO removes
-- multipart uploads 24 hours after they start, whatever their activity, so
-- an upload's expires_at never passes this deadline: a client is never told
-- it may resume an upload whose parts the store may already have removed.
ALTER TABLE drive_uploads ADD COLUMN storage_upload_deadline timestamptz;

COMMENT ON COLUMN drive_uploads.storage_upload_deadline IS
	'Until when the object store keeps the parts of storage_upload_id; expires_at stays at or before it.';
