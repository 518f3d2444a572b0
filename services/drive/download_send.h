/*
 * The response to a GET of a stored file's content, shared by the owner's
 * download and a share link. It handles If-None-Match (304) and Range
 * with If-Range (206, or 416 when no range fits). It carries a strong ETag
 * from the version id and Content-Disposition with the RFC 6266 filename*.
 */
#ifndef EXPRESSO_DRIVE_DOWNLOAD_SEND_H
#define EXPRESSO_DRIVE_DOWNLOAD_SEND_H

#include <stdint.h>

#include "drive_service.h"
#include "expresso/http.h"

typedef struct {
	const char *tenant_id;
	const char *storage_key;
	uint64_t size;             /* of the version, checked against the stored object */
	const char *content_type;
	const char *filename;      /* for Content-Disposition: attachment */
	const char *version_id;    /* the ETag is this id, quoted */
	const char *cache_control;
} ex_drive_download;

/* Responds to the GET in REQUEST with DOWNLOAD's content, or with 304, 416 or 500. */
void ex_drive_send_download(ex_drive_service *service, ex_http_request *request, const ex_drive_download *download);

#endif
