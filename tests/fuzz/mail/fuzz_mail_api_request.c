/*
 * Fuzzes the request bodies the mail API parses itself: the flags body
 * and the JSON of /send, /send-itip and the drafts routes. A body that
 * parses is built into a message, which must have CRLF line ends, be
 * 7-bit unless an address is non-ASCII (RFC 6532), and parse back with
 * GMime.
 */
#include <gmime/gmime.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mail_api_flags.h"
#include "mail_api_mime.h"
#include "mail_compose.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_flags(const char *body, size_t size)
{
	ex_mail_flag_change change;
	char err[256];
	bool changed;

	json_t *object = json_loadb(body, size, 0, NULL);
	if (object == NULL)
		return;
	if (ex_mail_flag_change_parse(object, &change, err, sizeof(err)) == 0) {
		json_t *current = json_pack("[s, s]", "\\Seen", "$Label1");
		json_t *result = ex_mail_flags_apply(current, &change, &changed);
		if (result != NULL) {
			for (size_t i = 0; i < change.add_count; i++) {
				bool present = false;
				for (size_t j = 0; j < json_array_size(result); j++)
					present = present || strcasecmp(json_string_value(json_array_get(result, j)), change.add[i]) == 0;
				if (!present)
					abort();
			}
		}
		json_decref(result);
		json_decref(current);
	}
	json_decref(object);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool initialized;
	static const ex_mail_compose_limits limits = { 20, 4096, 16384 };
	ex_mail_compose compose;
	char err[512];
	char field[32];

	if (!initialized) {
		g_mime_init();
		initialized = true;
	}
	if (size < 1 || size > 65536)
		return 0;
	check_flags((const char *)data + 1, size - 1);

	ex_mail_compose_mode mode = (ex_mail_compose_mode)(data[0] % 3);
	if (ex_mail_compose_parse((const char *)data + 1, size - 1, mode, &limits, &compose, err, sizeof(err), field,
				  sizeof(field)) != EX_MAIL_COMPOSE_OK)
		return 0;

	/* Stand in for expresso-drive: give each drive_file_id attachment what the API would fetch. */
	for (size_t i = 0; i < compose.attachment_count; i++) {
		ex_mail_compose_attachment *attachment = &compose.attachments[i];
		if (attachment->drive_file_id == NULL)
			continue;
		if (attachment->filename == NULL)
			attachment->filename = strdup("drive.bin");
		if (attachment->content_type == NULL)
			attachment->content_type = g_strdup("application/octet-stream");
		attachment->data = (unsigned char *)strdup("drive");
		attachment->length = 5;
	}

	const ex_mail_compose_origin origin = { "Fuzz", "fuzz@example.org", "id@example.org", 1764928800 };
	char *message = NULL;
	size_t length = 0;
	if (ex_mail_compose_build(&compose, &origin, NULL, NULL, &message, &length) != 0)
		abort();
	bool ascii_addresses = true;
	for (int kind = 0; kind < EX_MAIL_RECIPIENT_KINDS; kind++) {
		for (size_t i = 0; i < compose.recipient_count[kind]; i++) {
			for (const char *p = compose.recipients[kind][i].address; *p != '\0'; p++)
				ascii_addresses = ascii_addresses && (unsigned char)*p < 0x80;
		}
	}
	for (size_t i = 0; i < length; i++) {
		if ((ascii_addresses && (unsigned char)message[i] >= 0x80) ||
		    (message[i] == '\n' && (i == 0 || message[i - 1] != '\r')))
			abort();
	}
	json_t *read = ex_mail_api_message_body_json(message, length);
	if (read == NULL)
		abort();
	json_decref(read);
	free(message);
	ex_mail_compose_clear(&compose);
	return 0;
}
