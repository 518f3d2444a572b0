-- Trash for drive files and folders. A trashed item keeps its row, its
-- versions and its place until it is restored or purged; trashed_at is
-- when it was moved to the trash, and the purge removes it after the
-- retention period. A name is unique only among the items that are not in
-- the trash, so a new file may take the name of a trashed one.
ALTER TABLE drive_files ADD COLUMN trashed_at timestamptz;
ALTER TABLE drive_folders ADD COLUMN trashed_at timestamptz;

ALTER TABLE drive_files DROP CONSTRAINT drive_files_owner_id_folder_id_name_key;
CREATE UNIQUE INDEX drive_files_live_name_key ON drive_files (owner_id, folder_id, name) NULLS NOT DISTINCT
	WHERE trashed_at IS NULL;
ALTER TABLE drive_folders DROP CONSTRAINT drive_folders_owner_id_parent_id_name_key;
CREATE UNIQUE INDEX drive_folders_live_name_key ON drive_folders (owner_id, parent_id, name) NULLS NOT DISTINCT
	WHERE trashed_at IS NULL;

CREATE INDEX drive_files_trashed_idx ON drive_files (tenant_id, trashed_at) WHERE trashed_at IS NOT NULL;
CREATE INDEX drive_folders_trashed_idx ON drive_folders (tenant_id, trashed_at) WHERE trashed_at IS NOT NULL;
