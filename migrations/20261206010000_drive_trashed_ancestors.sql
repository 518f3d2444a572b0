-- A file or folder inside a trashed folder is hidden like the folder
-- itself, though only the folder's own row carries trashed_at.
-- drive_folder_in_trash(folder) returns true when FOLDER or one of its
-- ancestors is in the trash, and false for NULL (the root folder). It runs
-- with the caller's rights, so row-level security limits it to the
-- caller's tenant. The walk stops after 1000 levels, because a move that
-- would make a cycle is rejected and no real tree is that deep.
CREATE FUNCTION drive_folder_in_trash(folder uuid) RETURNS boolean
LANGUAGE sql STABLE SECURITY INVOKER AS $$
	WITH RECURSIVE up(id, parent_id, trashed, depth) AS (
		SELECT id, parent_id, trashed_at IS NOT NULL, 1 FROM drive_folders WHERE id = folder
		UNION ALL
		SELECT d.id, d.parent_id, d.trashed_at IS NOT NULL, up.depth + 1
		  FROM drive_folders d JOIN up ON d.id = up.parent_id
		 WHERE up.depth < 1000
	)
	SELECT COALESCE(bool_or(trashed), false) FROM up
$$;

REVOKE ALL ON FUNCTION drive_folder_in_trash(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drive_folder_in_trash(uuid) TO expresso_app;
