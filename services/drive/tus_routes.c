/*
 * tus 1.0.0 under /api/v1/drive/uploads: OPTIONS, creation (POST, with
 * creation-with-upload and creation-defer-length), HEAD, PATCH,
 * termination (DELETE), checksum (sha1, sha256, md5), expiration and
 * concatenation (partial uploads joined by a final upload).
 * X-HTTP-Method-Override on POST to an upload URL is honoured.
 *
 * Each command first runs its checks in a fixed order. A failed check
 * sends one precise response and changes nothing. Only then does the
 * command do its work. An upload's state lives in upload_store.c, and this
 * file is the protocol. One PATCH at a time may work on an upload. A
 * second one gets 423 while the first holds the upload's lock (in this
 * process, then on the upload file). One that comes after it gets 409
 * from the offset check.
 *
 * PATCH (also through X-HTTP-Method-Override) and creation (POST) are
 * streaming routes: their checks run on the headers, then the body goes
 * piece by piece into the upload file (upload_chunk.c) and is acknowledged
 * once fsynced. A chunk whose checksum fails or whose client goes away is
 * discarded, and so is an upload whose creation-with-upload chunk fails.
 *
 * Every response carries Tus-Resumable, including the 412 for a wrong
 * version and the 413 that the HTTP server sends by itself for a body
 * over the route limit.
 */
#include <inttypes.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "drive_parse.h"
#include "drive_service.h"
#include "expresso/log.h"
#include "upload_chunk.h"
#include "upload_parts.h"
#include "upload_store.h"

#define TUS_VERSION "1.0.0"
#define TUS_EXTENSIONS \
	"creation,creation-with-upload,creation-defer-length,termination,checksum,expiration,concatenation"
#define TUS_CHUNK_CONTENT_TYPE "application/offset+octet-stream"
#define UPLOADS_PATH "/api/v1/drive/uploads"
#define DEFAULT_FILETYPE "application/octet-stream"

enum {
	HTTP_LOCKED = 423,
	HTTP_FORBIDDEN = 403,
	HTTP_CHECKSUM_MISMATCH = 460, /* tus checksum extension */
};

static void add_tus_resumable(ex_http_request *request)
{
	ex_http_add_header(request, "Tus-Resumable", TUS_VERSION);
}

/* Adds Tus-Resumable to the responses the HTTP server makes by itself on the streaming routes. */
static void decorate_server_response(ex_http_request *request, void *context)
{
	(void)context;
	add_tus_resumable(request);
}

/* On a finished upload, adds Drive-File-Id: the id of the file it created or gave a new version. */
static void add_file_id(ex_http_request *request, const ex_drive_upload *upload)
{
	if (upload->completed && upload->file_id[0] != '\0')
		ex_http_add_header(request, "Drive-File-Id", upload->file_id);
}

static void add_expires(ex_http_request *request, int64_t expires_at)
{
	char date[64];
	ex_drive_http_date(date, sizeof(date), expires_at);
	ex_http_add_header(request, "Upload-Expires", date);
}

static void add_offset(ex_http_request *request, int64_t offset)
{
	char text[24];
	snprintf(text, sizeof(text), "%" PRId64, offset);
	ex_http_add_header(request, "Upload-Offset", text);
}

static void respond_empty(ex_http_request *request, unsigned status)
{
	ex_http_respond_bytes(request, status, NULL, "", 0);
}

/*
 * Parses a non-negative decimal header value of digits only. Returns 0,
 * -1 when malformed, 1 when it exceeds INT64_MAX (too large for anything).
 */
static int parse_length(const char *text, int64_t *out)
{
	uint64_t value = 0;

	if (text == NULL || text[0] == '\0')
		return -1;
	for (const char *p = text; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		unsigned digit = (unsigned)(*p - '0');
		if (value > ((uint64_t)INT64_MAX - digit) / 10)
			return 1;
		value = value * 10 + digit;
	}
	*out = (int64_t)value;
	return 0;
}

/* Check: the client speaks tus 1.0.0. */
static bool check_version(ex_http_request *request)
{
	const char *version = ex_http_header(request, "Tus-Resumable");

	if (version != NULL && strcmp(version, TUS_VERSION) == 0)
		return true;
	ex_http_respond_error(request, 412, "unsupported_tus_version",
			      "Tus-Resumable must be %s; this server supports tus version %s only", TUS_VERSION,
			      TUS_VERSION);
	ex_http_add_header(request, "Tus-Version", TUS_VERSION);
	return false;
}

static bool check_chunk_content_type(ex_http_request *request)
{
	const char *type = ex_http_header(request, MHD_HTTP_HEADER_CONTENT_TYPE);

	if (type != NULL && strcasecmp(type, TUS_CHUNK_CONTENT_TYPE) == 0)
		return true;
	ex_http_respond_error(request, 415, "unsupported_media_type",
			      "a chunk must be sent with Content-Type: " TUS_CHUNK_CONTENT_TYPE);
	return false;
}

/* Check: Upload-Checksum, when present, is well formed. Sets *present when the header was sent. */
static bool check_checksum_header(ex_http_request *request, ex_tus_checksum *checksum, bool *present)
{
	const char *header = ex_http_header(request, "Upload-Checksum");

	*present = header != NULL;
	if (header == NULL)
		return true;
	switch (ex_tus_checksum_parse(header, checksum)) {
	case EX_TUS_CHECKSUM_OK:
		return true;
	case EX_TUS_CHECKSUM_UNSUPPORTED_ALGORITHM:
		ex_http_respond_error(request, 400, "unsupported_checksum_algorithm",
				      "Upload-Checksum names an algorithm this server does not support; use one of "
				      EX_TUS_CHECKSUM_ALGORITHMS);
		return false;
	case EX_TUS_CHECKSUM_INVALID_DIGEST:
		ex_http_respond_error(request, 400, "invalid_checksum",
				      "the Upload-Checksum digest is not base64 of the algorithm's digest size");
		return false;
	case EX_TUS_CHECKSUM_MALFORMED:
		break;
	}
	ex_http_respond_error(request, 400, "invalid_checksum",
			      "Upload-Checksum must be \"<algorithm> <base64 digest>\", e.g. \"sha256 47DEQpj8...\"");
	return false;
}

static void respond_checksum_mismatch(ex_drive_service *service, ex_http_request *request, const char *upload_id,
				      uint64_t length)
{
	ex_counter_add(service->checksum_mismatches, 1);
	ex_log(EX_LOG_INFO, "chunk_checksum_mismatch", "{s:s, s:I}", "upload", upload_id ? upload_id : "new", "bytes",
	       (json_int_t)length);
	ex_http_respond_error(request, HTTP_CHECKSUM_MISMATCH, "checksum_mismatch",
			      "the chunk does not match Upload-Checksum and was discarded; send it again");
}

/* Check: a length is within Tus-Max-Size. */
static bool check_max_size(ex_drive_service *service, ex_http_request *request, int parsed, int64_t length)
{
	if (parsed < 0) {
		ex_http_respond_error(request, 400, "invalid_upload_length",
				      "Upload-Length must be a non-negative decimal number of bytes");
		return false;
	}
	if (parsed > 0 || (uint64_t)length > service->max_upload_size) {
		ex_http_respond_error(request, 413, "upload_too_large",
				      "Upload-Length exceeds the maximum upload size of %" PRIu64 " bytes",
				      service->max_upload_size);
		return false;
	}
	return true;
}

/* Check: the user's quota has room for LENGTH more bytes, else sends 413 naming the quota. */
static bool check_quota(ex_drive_service *service, ex_http_request *request, const ex_drive_caller *caller,
			uint64_t length)
{
	ex_drive_usage usage;
	ex_db_error error;

	if (ex_drive_usage_read(service, caller->tenant_id, caller->user_id, &usage, &error) != 0) {
		ex_drive_respond_database_error(request, "read the quota", &error);
		return false;
	}
	uint64_t committed = usage.used_bytes + usage.reserved_bytes;
	if (usage.quota_bytes == 0 || (committed <= usage.quota_bytes && length <= usage.quota_bytes - committed))
		return true;

	char message[256];
	snprintf(message, sizeof(message),
		 "the upload of %" PRIu64 " bytes exceeds the drive quota of %" PRIu64 " bytes (%" PRIu64
		 " bytes used, %" PRIu64 " reserved by unfinished uploads); delete files or ask for a larger quota",
		 length, usage.quota_bytes, usage.used_bytes, usage.reserved_bytes);
	json_t *detail = json_pack("{s:I, s:I, s:I, s:I}", "quota_bytes", (json_int_t)usage.quota_bytes, "used_bytes",
				   (json_int_t)usage.used_bytes, "reserved_bytes", (json_int_t)usage.reserved_bytes,
				   "upload_length", (json_int_t)length);
	ex_http_respond_error_detail(request, 413, "quota_exceeded", message, detail);
	return false;
}

/*
 * Check: Upload-Metadata names a valid file and, optionally, a media type
 * and a folder of the user. A partial upload (upload->concat) needs no
 * filename, because only the final upload becomes a file.
 */
static bool check_metadata(ex_drive_service *service, ex_http_request *request, const ex_drive_caller *caller,
			   ex_drive_upload *upload)
{
	static ex_tus_metadata empty;
	const char *header = ex_http_header(request, "Upload-Metadata");
	ex_tus_metadata *metadata = malloc(sizeof(*metadata));
	size_t length = 0;
	bool valid = false;

	if (metadata == NULL) {
		ex_http_respond_error(request, 500, "internal_error", "out of memory");
		return false;
	}
	*metadata = empty;
	ex_tus_metadata_status status = ex_tus_metadata_parse(header, metadata);
	if (status != EX_TUS_METADATA_OK) {
		ex_http_respond_error(request, 400, "invalid_metadata", "%s", ex_tus_metadata_status_message(status));
		goto done;
	}
	snprintf(upload->metadata, sizeof(upload->metadata), "%s", header ? header : "");

	const char *filename = ex_tus_metadata_get(metadata, "filename", &length);
	if (filename == NULL && upload->concat == EX_TUS_CONCAT_PARTIAL) {
		upload->filename[0] = '\0';
	} else if (filename == NULL) {
		ex_http_respond_error(request, 400, "missing_filename",
				      "Upload-Metadata must have a filename (base64 of the UTF-8 file name)");
		goto done;
	} else {
		ex_drive_name_status name_status = ex_drive_name_check(filename, length);
		if (name_status != EX_DRIVE_NAME_OK) {
			ex_http_respond_error(request, 400, "invalid_filename",
					      "invalid filename in Upload-Metadata: %s",
					      ex_drive_name_status_message(name_status));
			goto done;
		}
		memcpy(upload->filename, filename, length + 1);
	}

	const char *filetype = ex_tus_metadata_get(metadata, "filetype", &length);
	if (filetype != NULL && !ex_drive_media_type_is_valid(filetype, length)) {
		ex_http_respond_error(request, 400, "invalid_filetype",
				      "filetype in Upload-Metadata must be a media type such as text/plain, "
				      "at most 255 bytes");
		goto done;
	}
	snprintf(upload->filetype, sizeof(upload->filetype), "%s", filetype ? filetype : DEFAULT_FILETYPE);

	const char *folder = ex_tus_metadata_get(metadata, "folder", &length);
	upload->folder_id[0] = '\0';
	if (folder != NULL) {
		if (length != EX_DRIVE_UUID_TEXT || !ex_drive_is_uuid(folder)) {
			ex_http_respond_error(request, 400, "invalid_folder",
					      "folder in Upload-Metadata must be a folder id (a UUID)");
			goto done;
		}
		ex_db_error error;
		int exists = ex_drive_folder_exists(service, caller->tenant_id, caller->user_id, folder, &error);
		if (exists < 0) {
			ex_drive_respond_database_error(request, "look up the folder", &error);
			goto done;
		}
		if (exists == 0) {
			ex_http_respond_error(request, 404, "folder_not_found", "folder %s does not exist", folder);
			goto done;
		}
		snprintf(upload->folder_id, sizeof(upload->folder_id), "%s", folder);
	}
	valid = true;
done:
	free(metadata);
	return valid;
}

/*
 * Finishes an upload whose last byte has arrived. On failure it sends 500
 * and returns false, and a later HEAD retries the completion.
 */
static bool finish_if_complete(ex_drive_service *service, ex_http_request *request, const ex_drive_caller *caller,
			       ex_drive_upload *upload)
{
	if (upload->completed || upload->concat == EX_TUS_CONCAT_PARTIAL || upload->length < 0 ||
	    upload->offset != upload->length)
		return true;
	if (ex_drive_upload_complete(service, caller->tenant_id, caller->user_id, upload) == EX_UPLOAD_OK)
		return true;
	ex_http_respond_error(request, 500, "completion_failed",
			      "every byte was stored but the file could not be created yet; send HEAD to retry");
	return false;
}

/* Sends the response for a failed chunk write or offset move. */
static void respond_chunk_failure(ex_http_request *request, ex_upload_result result)
{
	switch (result) {
	case EX_UPLOAD_CONFLICT:
		ex_http_respond_error(request, 409, "offset_mismatch",
				      "the upload changed while this chunk was written; send HEAD and resume");
		return;
	case EX_UPLOAD_LOCKED:
		ex_http_respond_error(request, HTTP_LOCKED, "upload_locked",
				      "another request is writing to this upload; wait for it, then send HEAD");
		return;
	default:
		ex_http_respond_error(request, 500, "storage_error", "the chunk could not be stored; send it again");
		return;
	}
}

/*
 * Sends the upload's newly acknowledged bytes to object storage as a part
 * when the backend takes parts (upload_parts.h). On failure it sends 500
 * and returns false. The bytes are stored in the upload file either way,
 * and the next chunk or the completion sends them again.
 */
static bool send_parts(ex_drive_service *service, ex_http_request *request, const ex_drive_caller *caller,
		       ex_drive_upload *upload)
{
	if (ex_drive_upload_send_parts(service, caller->tenant_id, upload, false) == 0)
		return true;
	ex_http_respond_error(request, 500, "storage_error",
			      "the chunk was stored but could not be sent to object storage yet; send HEAD and resume "
			      "from its Upload-Offset");
	return false;
}

/* Loads the caller's upload named in the path, or sends 404 or 410 when it cannot be used. */
static bool load_upload(ex_drive_service *service, ex_http_request *request, const ex_drive_caller *caller,
			ex_drive_upload *upload)
{
	const char *id = ex_http_param(request, "id");

	switch (ex_drive_upload_load(service, caller->tenant_id, caller->user_id, id, upload)) {
	case EX_UPLOAD_OK:
		break;
	case EX_UPLOAD_NOT_FOUND:
	case EX_UPLOAD_CONFLICT:
		ex_http_respond_error(request, 404, "upload_not_found", "no upload with this URL exists");
		return false;
	default:
		ex_http_respond_error(request, 500, "database_error", "the upload could not be read; try again");
		return false;
	}
	if (upload->expired) {
		ex_http_respond_error(request, 410, "upload_expired",
				      "the upload expired and its bytes are being removed; start a new upload");
		return false;
	}
	return true;
}

/* ---- commands ---- */

static void tus_options(ex_drive_service *service, ex_http_request *request)
{
	char max_size[24];

	snprintf(max_size, sizeof(max_size), "%" PRIu64, service->max_upload_size);
	respond_empty(request, 204);
	ex_http_add_header(request, "Tus-Version", TUS_VERSION);
	ex_http_add_header(request, "Tus-Extension", TUS_EXTENSIONS);
	ex_http_add_header(request, "Tus-Max-Size", max_size);
	ex_http_add_header(request, "Tus-Checksum-Algorithm", EX_TUS_CHECKSUM_ALGORITHMS);
}

/* Reads Upload-Length or Upload-Defer-Length of a creation request into upload->length (-1: deferred). */
static bool check_creation_length(ex_drive_service *service, ex_http_request *request, ex_drive_upload *upload)
{
	const char *length_header = ex_http_header(request, "Upload-Length");
	const char *defer_header = ex_http_header(request, "Upload-Defer-Length");

	if (length_header != NULL && defer_header != NULL) {
		ex_http_respond_error(request, 400, "invalid_upload_length",
				      "send either Upload-Length or Upload-Defer-Length, not both");
		return false;
	}
	if (defer_header != NULL) {
		if (strcmp(defer_header, "1") != 0) {
			ex_http_respond_error(request, 400, "invalid_upload_length", "Upload-Defer-Length must be 1");
			return false;
		}
		upload->length = -1;
		return true;
	}
	if (length_header == NULL) {
		ex_http_respond_error(request, 400, "missing_upload_length",
				      "a creation request needs Upload-Length, or Upload-Defer-Length: 1");
		return false;
	}
	int64_t length = 0;
	int parsed = parse_length(length_header, &length);
	if (!check_max_size(service, request, parsed, length))
		return false;
	upload->length = length;
	return true;
}

static void respond_created(ex_http_request *request, const ex_drive_upload *upload)
{
	char location[128];

	snprintf(location, sizeof(location), UPLOADS_PATH "/%s", upload->id);
	respond_empty(request, 201);
	ex_http_add_header(request, MHD_HTTP_HEADER_LOCATION, location);
	if (!upload->completed)
		add_expires(request, upload->expires_at);
	add_file_id(request, upload);
}

/* Check: Upload-Concat, when present, is "partial" or "final;<upload URLs>". */
static bool check_concat_header(ex_http_request *request, ex_tus_concat *concat)
{
	ex_tus_concat_status status = ex_tus_concat_parse(ex_http_header(request, "Upload-Concat"), concat);

	if (status == EX_TUS_CONCAT_OK)
		return true;
	ex_http_respond_error(request, 400, "invalid_concat", "%s", ex_tus_concat_status_message(status));
	return false;
}

/*
 * Creates a final upload from the partial uploads that CONCAT names. It
 * has no Upload-Length and no body: its length is the sum of the parts,
 * all of which must be finished. The file is created at once.
 */
static void tus_create_final(ex_drive_service *service, ex_http_request *request, const ex_drive_caller *caller,
			     ex_drive_upload *upload, const ex_tus_concat *concat)
{
	size_t bad_part = 0;

	if (!check_metadata(service, request, caller, upload))
		return;
	snprintf(upload->concat_header, sizeof(upload->concat_header), "%s", ex_http_header(request, "Upload-Concat"));

	switch (ex_drive_upload_concatenate(service, caller->tenant_id, caller->user_id, upload, concat, &bad_part)) {
	case EX_UPLOAD_OK:
		break;
	case EX_UPLOAD_NOT_FOUND:
		ex_http_respond_error(request, 404, "upload_not_found", "partial upload %s does not exist",
				      concat->part_ids[bad_part]);
		return;
	case EX_UPLOAD_CONFLICT:
		ex_http_respond_error(request, 400, "partial_upload_not_ready",
				      "upload %s is not a finished, unexpired partial upload; finish it with PATCH "
				      "(created with Upload-Concat: partial) before the final upload",
				      concat->part_ids[bad_part]);
		return;
	case EX_UPLOAD_LOCKED:
		ex_http_respond_error(request, HTTP_LOCKED, "upload_locked",
				      "another request is using partial upload %s; wait for it and try again",
				      concat->part_ids[bad_part]);
		return;
	case EX_UPLOAD_TOO_LARGE:
		ex_http_respond_error(request, 413, "upload_too_large",
				      "the partial uploads together exceed the maximum upload size of %" PRIu64 " bytes",
				      service->max_upload_size);
		return;
	default:
		ex_http_respond_error(request, 500, "storage_error",
				      "the partial uploads could not be joined; try the final upload again");
		return;
	}
	if (!finish_if_complete(service, request, caller, upload))
		return;
	respond_created(request, upload);
	add_offset(request, upload->offset);
}

static void tus_head(ex_drive_service *service, ex_http_request *request, const ex_drive_caller *caller)
{
	ex_drive_upload *upload = calloc(1, sizeof(*upload));
	char length[24];

	if (upload == NULL) {
		ex_http_respond_error(request, 500, "internal_error", "out of memory");
		return;
	}
	if (!load_upload(service, request, caller, upload))
		goto done;
	/* Completes an upload whose last PATCH stored every byte but crashed before the file was created. */
	if (!upload->completed && upload->length >= 0 && upload->offset == upload->length &&
	    ex_drive_upload_lock(&service->locks, upload->id)) {
		bool finished = finish_if_complete(service, request, caller, upload);
		ex_drive_upload_unlock(&service->locks, upload->id);
		if (!finished)
			goto done;
	}

	respond_empty(request, 200);
	add_offset(request, upload->offset);
	if (upload->length >= 0) {
		snprintf(length, sizeof(length), "%" PRId64, upload->length);
		ex_http_add_header(request, "Upload-Length", length);
	} else {
		ex_http_add_header(request, "Upload-Defer-Length", "1");
	}
	if (upload->metadata[0] != '\0')
		ex_http_add_header(request, "Upload-Metadata", upload->metadata);
	if (upload->concat == EX_TUS_CONCAT_PARTIAL)
		ex_http_add_header(request, "Upload-Concat", "partial");
	else if (upload->concat == EX_TUS_CONCAT_FINAL)
		ex_http_add_header(request, "Upload-Concat", upload->concat_header);
	if (!upload->completed)
		add_expires(request, upload->expires_at);
	add_file_id(request, upload);
	ex_http_add_header(request, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
done:
	free(upload);
}

/* Reads Upload-Length sent on a PATCH: required to match, or sets a deferred length (-1: not sent). */
static bool check_patch_length(ex_drive_service *service, ex_http_request *request, const ex_drive_caller *caller,
			       const ex_drive_upload *upload, int64_t *new_length)
{
	const char *header = ex_http_header(request, "Upload-Length");
	int64_t length = 0;

	*new_length = -1;
	if (header == NULL)
		return true;
	int parsed = parse_length(header, &length);
	if (!check_max_size(service, request, parsed, length))
		return false;
	if (upload->length >= 0) {
		if (length == upload->length)
			return true;
		ex_http_respond_error(request, 400, "invalid_upload_length",
				      "Upload-Length %" PRId64 " differs from the upload's length %" PRId64, length,
				      upload->length);
		return false;
	}
	if (length < upload->offset) {
		ex_http_respond_error(request, 400, "invalid_upload_length",
				      "Upload-Length %" PRId64 " is below the bytes already received (%" PRId64 ")",
				      length, upload->offset);
		return false;
	}
	if (!check_quota(service, request, caller, (uint64_t)(length - upload->offset)))
		return false;
	*new_length = length;
	return true;
}

/*
 * A PATCH, or a creation POST, whose checks passed and whose body is being
 * written to the upload file.
 */
typedef struct {
	ex_drive_caller caller;
	bool authenticated;
	char id[EX_DRIVE_UUID_TEXT + 1]; /* set while the upload's in-process lock is held */
	ex_drive_upload upload;
	bool loaded;
	int64_t new_length; /* Upload-Length sent to end a deferred length; -1: none */
	int64_t room;       /* bytes the chunk may have before it passes Upload-Length; -1: no length yet */
	ex_upload_chunk *chunk;
	ex_tus_concat *concat; /* creation only: the parsed Upload-Concat */
	bool created;          /* creation only: the upload row and file exist */
} patch_stream;

/* Discards the chunk unless it was committed, and unlocks the upload. Safe to call twice. */
static void release_upload(ex_drive_service *service, patch_stream *stream)
{
	ex_upload_chunk_free(stream->chunk);
	stream->chunk = NULL;
	if (stream->id[0] != '\0')
		ex_drive_upload_unlock(&service->locks, stream->id);
	stream->id[0] = '\0';
}

/*
 * Discards the chunk, then removes the upload when this request is a
 * creation that made it, so that a failed creation-with-upload leaves
 * nothing. Does only the first on a PATCH.
 */
static void discard_created_upload(ex_drive_service *service, patch_stream *stream)
{
	release_upload(service, stream);
	if (stream->created &&
	    ex_drive_upload_terminate(service, stream->caller.tenant_id, stream->caller.user_id, &stream->upload) !=
		    EX_UPLOAD_OK)
		ex_log(EX_LOG_WARN, "upload_discard_failed", "{s:s}", "upload", stream->upload.id);
	stream->created = false;
}

/*
 * Adds the headers every PATCH response carries (Tus-Resumable, and
 * Upload-Expires for an unfinished upload or Drive-File-Id for a finished
 * one), then releases the upload
 * before the response goes out, so that a client's next PATCH never finds
 * it still locked by this one.
 */
static void finish_patch_response(ex_drive_service *service, ex_http_request *request, patch_stream *stream)
{
	if (stream->loaded && !stream->upload.completed)
		add_expires(request, stream->upload.expires_at);
	if (stream->loaded)
		add_file_id(request, &stream->upload);
	add_tus_resumable(request);
	release_upload(service, stream);
}

/* Check: the chunk the headers announce starts at the upload's offset and fits within its length. */
static bool check_patch_range(ex_http_request *request, patch_stream *stream, int64_t client_offset)
{
	const ex_drive_upload *upload = &stream->upload;
	int64_t length = upload->length >= 0 ? upload->length : stream->new_length;

	if (client_offset != upload->offset) {
		ex_http_respond_error(request, 409, "offset_mismatch",
				      "Upload-Offset %" PRId64 " does not match the upload's offset %" PRId64
				      "; send HEAD and resume from its Upload-Offset",
				      client_offset, upload->offset);
		return false;
	}
	stream->room = length >= 0 ? length - upload->offset : -1;
	int64_t declared = ex_http_declared_body_length(request);
	if (stream->room >= 0 && declared > stream->room) {
		ex_http_respond_error(request, 413, "chunk_past_upload_length",
				      "the chunk of %" PRId64 " bytes at offset %" PRId64 " ends past Upload-Length %" PRId64,
				      declared, upload->offset, length);
		return false;
	}
	return true;
}

/*
 * Runs every PATCH check from the headers, before the body is read, then
 * opens the chunk. Sends the error response and returns false when one fails.
 */
static bool begin_patch(ex_drive_service *service, ex_http_request *request, patch_stream *stream)
{
	ex_tus_checksum checksum;
	bool has_checksum = false;
	int64_t client_offset = 0;
	const char *id = ex_http_param(request, "id");

	if (!check_version(request) || !ex_drive_authenticate(service, request, &stream->caller))
		return false;
	stream->authenticated = true;
	if (!check_chunk_content_type(request))
		return false;
	if (parse_length(ex_http_header(request, "Upload-Offset"), &client_offset) != 0) {
		ex_http_respond_error(request, 400, "invalid_upload_offset",
				      "PATCH needs Upload-Offset: the decimal offset the chunk starts at");
		return false;
	}
	if (!check_checksum_header(request, &checksum, &has_checksum))
		return false;
	if (!ex_drive_is_uuid(id)) {
		ex_http_respond_error(request, 404, "upload_not_found", "no upload with this URL exists");
		return false;
	}
	if (!ex_drive_upload_lock(&service->locks, id)) {
		ex_http_respond_error(request, HTTP_LOCKED, "upload_locked",
				      "another request is writing to this upload; wait for it, then send HEAD");
		return false;
	}
	snprintf(stream->id, sizeof(stream->id), "%s", id);

	if (!load_upload(service, request, &stream->caller, &stream->upload))
		return false;
	stream->loaded = true;
	if (stream->upload.concat == EX_TUS_CONCAT_FINAL) {
		ex_http_respond_error(request, HTTP_FORBIDDEN, "final_upload_not_patchable",
				      "a final upload gets its bytes from its partial uploads and takes no PATCH");
		return false;
	}
	if (!check_patch_length(service, request, &stream->caller, &stream->upload, &stream->new_length) ||
	    !check_patch_range(request, stream, client_offset))
		return false;

	ex_upload_result result = ex_upload_chunk_begin(service, stream->caller.tenant_id, &stream->upload,
							has_checksum ? &checksum : NULL, &stream->chunk);
	if (result != EX_UPLOAD_OK) {
		respond_chunk_failure(request, result);
		return false;
	}
	return true;
}

static void patch_stream_begin(ex_http_request *request, void *context, void **state)
{
	patch_stream *stream = calloc(1, sizeof(*stream));

	*state = stream;
	if (stream == NULL) {
		ex_http_respond_error(request, 500, "internal_error", "out of memory");
		add_tus_resumable(request);
		return;
	}
	stream->new_length = -1;
	if (!begin_patch(context, request, stream))
		finish_patch_response(context, request, stream);
}

static void patch_stream_body(ex_http_request *request, void *context, void **state, const void *data,
			      size_t length)
{
	patch_stream *stream = *state;

	if (stream->chunk == NULL) {
		/* A creation request whose headers announced no body (a final upload, or no Content-Length). */
		ex_http_respond_error(request, 400, "unexpected_body",
				      "this creation request takes no body: a final upload gets its bytes from its "
				      "partial uploads, and a body needs Content-Length or Transfer-Encoding");
		finish_patch_response(context, request, stream);
		return;
	}
	if (stream->room >= 0 && ex_upload_chunk_size(stream->chunk) + length > (uint64_t)stream->room) {
		ex_http_respond_error(request, 413, "chunk_past_upload_length",
				      "the chunk at offset %" PRId64 " ends past Upload-Length %" PRId64,
				      stream->upload.offset, stream->upload.offset + stream->room);
		discard_created_upload(context, stream);
		finish_patch_response(context, request, stream);
		return;
	}
	if (ex_upload_chunk_write(stream->chunk, data, length) != 0) {
		respond_chunk_failure(request, EX_UPLOAD_FAILED);
		discard_created_upload(context, stream);
		finish_patch_response(context, request, stream);
	}
}

/* The whole chunk arrived: checks its checksum, makes it durable, then responds 204. */
static void patch_stream_end(ex_http_request *request, void *context, void **state)
{
	ex_drive_service *service = context;
	patch_stream *stream = *state;
	uint64_t size = ex_upload_chunk_size(stream->chunk);

	if (!ex_upload_chunk_checksum_matches(stream->chunk)) {
		respond_checksum_mismatch(service, request, stream->id, size);
	} else {
		ex_upload_result result = ex_upload_chunk_commit(stream->chunk, stream->new_length);
		if (result != EX_UPLOAD_OK) {
			respond_chunk_failure(request, result);
		} else if (!send_parts(service, request, &stream->caller, &stream->upload)) {
			/* The offset moved, so the client learns it from HEAD. */
		} else if (finish_if_complete(service, request, &stream->caller, &stream->upload)) {
			respond_empty(request, 204);
			add_offset(request, stream->upload.offset);
		}
	}
	finish_patch_response(service, request, stream);
}

/* Discards a chunk that was not committed (client gone, body too large) and unlocks the upload. */
static void patch_stream_release(ex_http_request *request, void *context, void **state)
{
	patch_stream *stream = *state;
	(void)request;

	if (stream == NULL)
		return;
	release_upload(context, stream);
	if (stream->authenticated)
		ex_drive_caller_clear(&stream->caller);
	free(stream->concat);
	free(stream);
	*state = NULL;
}

/* ---- creation (POST), streamed like PATCH ---- */

/* Returns true when the creation request carries a body: a Content-Length above 0, or a chunked body. */
static bool creation_has_body(ex_http_request *request)
{
	int64_t declared = ex_http_declared_body_length(request);

	if (declared >= 0)
		return declared > 0;
	return ex_http_header(request, "Transfer-Encoding") != NULL;
}

/*
 * Creates the upload from the headers and, for creation-with-upload, opens
 * its first chunk. The checks are those of a creation without a body, and
 * with a body those of a PATCH at offset 0, all run before any body byte
 * is read. Sends the error response and returns false when one fails.
 */
static bool create_upload(ex_drive_service *service, ex_http_request *request, patch_stream *stream)
{
	ex_drive_upload *upload = &stream->upload;
	ex_tus_checksum checksum;
	bool has_checksum = false;
	bool has_body = creation_has_body(request);
	int64_t declared = ex_http_declared_body_length(request);

	if (!check_creation_length(service, request, upload) ||
	    !check_metadata(service, request, &stream->caller, upload))
		return false;
	if (has_body && (!check_chunk_content_type(request) || !check_checksum_header(request, &checksum, &has_checksum)))
		return false;
	if (upload->length >= 0 && declared > upload->length) {
		ex_http_respond_error(request, 413, "chunk_past_upload_length",
				      "the body of %" PRId64 " bytes is longer than Upload-Length %" PRId64, declared,
				      upload->length);
		return false;
	}
	uint64_t reserved = upload->length >= 0 ? (uint64_t)upload->length : (uint64_t)(declared > 0 ? declared : 0);
	if (!check_quota(service, request, &stream->caller, reserved))
		return false;

	if (ex_drive_upload_create(service, stream->caller.tenant_id, stream->caller.user_id, upload) !=
	    EX_UPLOAD_OK) {
		ex_http_respond_error(request, 500, "storage_error", "the upload could not be created; try again");
		return false;
	}
	stream->created = true;
	stream->room = upload->length;
	if (!has_body)
		return true;

	/* No client has the new upload's URL yet, so its locks are free. */
	if (!ex_drive_upload_lock(&service->locks, upload->id)) {
		ex_http_respond_error(request, 500, "internal_error", "the new upload could not be locked; try again");
		return false;
	}
	snprintf(stream->id, sizeof(stream->id), "%s", upload->id);
	ex_upload_result result = ex_upload_chunk_begin(service, stream->caller.tenant_id, upload,
							has_checksum ? &checksum : NULL, &stream->chunk);
	if (result != EX_UPLOAD_OK) {
		respond_chunk_failure(request, result);
		return false;
	}
	return true;
}

static void creation_stream_begin(ex_http_request *request, void *context, void **state)
{
	ex_drive_service *service = context;
	patch_stream *stream = calloc(1, sizeof(*stream));

	*state = stream;
	if (stream == NULL || (stream->concat = malloc(sizeof(*stream->concat))) == NULL) {
		ex_http_respond_error(request, 500, "internal_error", "out of memory");
		add_tus_resumable(request);
		return;
	}
	stream->new_length = -1;
	if (!check_version(request) || !ex_drive_authenticate(service, request, &stream->caller)) {
		add_tus_resumable(request);
		return;
	}
	stream->authenticated = true;
	if (!check_concat_header(request, stream->concat)) {
		add_tus_resumable(request);
		return;
	}
	stream->upload.concat = stream->concat->kind;
	if (stream->concat->kind == EX_TUS_CONCAT_FINAL) {
		/* A final upload is created at the end of the request, which must have no body. */
		if (ex_http_header(request, "Upload-Length") != NULL ||
		    ex_http_header(request, "Upload-Defer-Length") != NULL)
			ex_http_respond_error(request, 400, "invalid_upload_length",
					      "a final upload must not send Upload-Length: its length is the sum of "
					      "its parts");
		else if (creation_has_body(request))
			ex_http_respond_error(request, 400, "invalid_concat",
					      "a final upload takes no body; send the bytes to the partial uploads");
		else
			return;
		add_tus_resumable(request);
		return;
	}
	if (!create_upload(service, request, stream)) {
		discard_created_upload(service, stream);
		add_tus_resumable(request);
	}
}

/*
 * Stores the first chunk of a creation-with-upload: checks its checksum,
 * makes it durable and moves the offset. Sends the error response and
 * returns false when that fails, after removing the upload unless the
 * chunk was stored.
 */
static bool store_creation_chunk(ex_drive_service *service, ex_http_request *request, patch_stream *stream)
{
	uint64_t size = ex_upload_chunk_size(stream->chunk);

	if (stream->upload.length < 0 && ex_http_declared_body_length(request) < 0 &&
	    !check_quota(service, request, &stream->caller, size)) {
		discard_created_upload(service, stream);
		return false;
	}
	if (!ex_upload_chunk_checksum_matches(stream->chunk)) {
		respond_checksum_mismatch(service, request, stream->upload.id, size);
		discard_created_upload(service, stream);
		return false;
	}
	ex_upload_result result = ex_upload_chunk_commit(stream->chunk, -1);
	if (result != EX_UPLOAD_OK) {
		respond_chunk_failure(request, result);
		discard_created_upload(service, stream);
		return false;
	}
	release_upload(service, stream);
	return send_parts(service, request, &stream->caller, &stream->upload);
}

/* The whole body arrived: stores it as the first chunk, completes an upload that is full, responds 201. */
static void creation_stream_end(ex_http_request *request, void *context, void **state)
{
	ex_drive_service *service = context;
	patch_stream *stream = *state;
	bool had_chunk = stream->chunk != NULL;

	if (stream->concat->kind == EX_TUS_CONCAT_FINAL) {
		tus_create_final(service, request, &stream->caller, &stream->upload, stream->concat);
	} else if ((!had_chunk || store_creation_chunk(service, request, stream)) &&
		   finish_if_complete(service, request, &stream->caller, &stream->upload)) {
		respond_created(request, &stream->upload);
		if (had_chunk)
			add_offset(request, stream->upload.offset);
	}
	add_tus_resumable(request);
	release_upload(service, stream);
	/* The response now carries the URL (or an error sent after a stored chunk), so the release keeps the upload. */
	stream->created = false;
}

/*
 * Removes the upload this creation made when the request ends before its
 * end handler ran, because no client received its URL. That happens when
 * the client goes away mid-body or the server rejects the body. Then
 * releases like a PATCH.
 */
static void creation_stream_release(ex_http_request *request, void *context, void **state)
{
	patch_stream *stream = *state;

	if (stream != NULL && stream->created) {
		ex_log(EX_LOG_INFO, "upload_creation_abandoned", "{s:s, s:I}", "upload", stream->upload.id, "received",
		       (json_int_t)(stream->chunk != NULL ? ex_upload_chunk_size(stream->chunk) : 0));
		discard_created_upload(context, stream);
	}
	patch_stream_release(request, context, state);
}

static void tus_delete(ex_drive_service *service, ex_http_request *request, const ex_drive_caller *caller)
{
	ex_drive_upload *upload = NULL;
	const char *id = ex_http_param(request, "id");

	if (!ex_drive_is_uuid(id)) {
		ex_http_respond_error(request, 404, "upload_not_found", "no upload with this URL exists");
		return;
	}
	if (!ex_drive_upload_lock(&service->locks, id)) {
		ex_http_respond_error(request, HTTP_LOCKED, "upload_locked",
				      "another request is writing to this upload; try again when it ends");
		return;
	}
	upload = calloc(1, sizeof(*upload));
	if (upload == NULL) {
		ex_http_respond_error(request, 500, "internal_error", "out of memory");
		goto done;
	}
	if (!load_upload(service, request, caller, upload))
		goto done;
	switch (ex_drive_upload_terminate(service, caller->tenant_id, caller->user_id, upload)) {
	case EX_UPLOAD_OK:
		respond_empty(request, 204);
		break;
	case EX_UPLOAD_NOT_FOUND:
		ex_http_respond_error(request, 404, "upload_not_found", "no upload with this URL exists");
		break;
	default:
		ex_http_respond_error(request, 500, "database_error", "the upload could not be terminated; try again");
		break;
	}
done:
	ex_drive_upload_unlock(&service->locks, id);
	free(upload);
}

/* ---- route handlers ---- */

typedef void (*tus_command)(ex_drive_service *service, ex_http_request *request, const ex_drive_caller *caller);

/* Runs the checks every command shares (version, token), then COMMAND, and adds Tus-Resumable. */
static void run_command(ex_http_request *request, void *context, tus_command command)
{
	ex_drive_service *service = context;
	ex_drive_caller caller;

	if (check_version(request) && ex_drive_authenticate(service, request, &caller)) {
		command(service, request, &caller);
		ex_drive_caller_clear(&caller);
	}
	add_tus_resumable(request);
}

static void handle_options(ex_http_request *request, void *context)
{
	tus_options(context, request);
	add_tus_resumable(request);
}

static void handle_head(ex_http_request *request, void *context) { run_command(request, context, tus_head); }
static void handle_delete(ex_http_request *request, void *context) { run_command(request, context, tus_delete); }

/*
 * POST to an upload URL: X-HTTP-Method-Override names the method meant
 * (PATCH, DELETE or HEAD). Only a PATCH goes on to read the body.
 */
static void override_stream_begin(ex_http_request *request, void *context, void **state)
{
	const char *method = ex_http_header(request, "X-HTTP-Method-Override");

	if (method != NULL && strcasecmp(method, "PATCH") == 0)
		patch_stream_begin(request, context, state);
	else if (method != NULL && strcasecmp(method, "DELETE") == 0)
		run_command(request, context, tus_delete);
	else if (method != NULL && strcasecmp(method, "HEAD") == 0)
		run_command(request, context, tus_head);
	else {
		ex_http_respond_error(request, 405, "method_not_allowed",
				      "POST to an upload URL needs X-HTTP-Method-Override: PATCH, DELETE or HEAD");
		ex_http_add_header(request, "Allow", "OPTIONS, HEAD, PATCH, DELETE, POST");
		add_tus_resumable(request);
	}
}

static const ex_http_stream_handler patch_handler = {
	.begin = patch_stream_begin,
	.body = patch_stream_body,
	.end = patch_stream_end,
	.release = patch_stream_release,
	.decorate = decorate_server_response,
};

static const ex_http_stream_handler creation_handler = {
	.begin = creation_stream_begin,
	.body = patch_stream_body,
	.end = creation_stream_end,
	.release = creation_stream_release,
	.decorate = decorate_server_response,
};

static const ex_http_stream_handler override_handler = {
	.begin = override_stream_begin,
	.body = patch_stream_body,
	.end = patch_stream_end,
	.release = patch_stream_release,
	.decorate = decorate_server_response,
};

int ex_drive_add_tus_routes(ex_drive_service *service, ex_http_server *http)
{
	size_t chunk = (size_t)service->max_chunk_size;

	if (ex_http_route(http, "OPTIONS", UPLOADS_PATH, handle_options, service) != 0 ||
	    ex_http_route(http, "OPTIONS", UPLOADS_PATH "/{id}", handle_options, service) != 0 ||
	    ex_http_route_streaming(http, "POST", UPLOADS_PATH, &creation_handler, service, chunk) != 0 ||
	    /* The router serves HEAD through the GET route; a GET gets the same headers. */
	    ex_http_route(http, "GET", UPLOADS_PATH "/{id}", handle_head, service) != 0 ||
	    ex_http_route_streaming(http, "PATCH", UPLOADS_PATH "/{id}", &patch_handler, service, chunk) != 0 ||
	    ex_http_route(http, "DELETE", UPLOADS_PATH "/{id}", handle_delete, service) != 0 ||
	    ex_http_route_streaming(http, "POST", UPLOADS_PATH "/{id}", &override_handler, service, chunk) != 0)
		return -1;
	return 0;
}
