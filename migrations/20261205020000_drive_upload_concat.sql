-- tus concatenation: a partial upload is joined with others into a final
-- upload and never becomes a file itself, so it may have no filename.
-- concat_header is the Upload-Concat value of a final upload, which HEAD
-- echoes.
ALTER TABLE drive_uploads
	ADD COLUMN concat text
		CONSTRAINT drive_uploads_concat_kind CHECK (concat IN ('partial', 'final')),
	ADD COLUMN concat_header text NOT NULL DEFAULT ''
		CONSTRAINT drive_uploads_concat_header_length CHECK (octet_length(concat_header) <= 8192),
	ALTER COLUMN filename DROP NOT NULL,
	ADD CONSTRAINT drive_uploads_filename_unless_partial CHECK (filename IS NOT NULL OR concat = 'partial');
