/*
 * Tests of the JSON to MIME path of POST /send. Requests are parsed with
 * small limits, tested at the limit and one past. The built message is
 * read back with GMime to check the encoded Portuguese text, CRLF line
 * ends, 7-bit content, Bcc only in the sender's copy and attachment names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <gmime/gmime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail_api_mime.h"
#include "mail_compose.h"

static const ex_mail_compose_limits limits = {
	.max_recipients = 3,
	.max_attachment_bytes = 10,
	.max_message_bytes = 64,
};

static ex_mail_compose_status parse(const char *body, ex_mail_compose_mode mode, ex_mail_compose *compose,
				    char *field)
{
	char err[512];
	ex_mail_compose_status status =
		ex_mail_compose_parse(body, strlen(body), mode, &limits, compose, err, sizeof(err), field, 32);
	print_message("%s -> %d %s\n", body, (int)status, status == EX_MAIL_COMPOSE_OK ? "" : err);
	return status;
}

static void parse_statuses(void **state)
{
	static const struct {
		const char *body;
		ex_mail_compose_mode mode;
		ex_mail_compose_status status;
	} cases[] = {
		{ "{\"to\": [\"a@b.example\"]}", EX_MAIL_COMPOSE_SEND, EX_MAIL_COMPOSE_OK },
		{ "{\"to\": [{\"name\": \"Jos\xc3\xa9\", \"address\": \"a@b.example\"}]}", EX_MAIL_COMPOSE_SEND,
		  EX_MAIL_COMPOSE_OK },
		{ "{\"to\": [\"Jos\xc3\xa9 <a@b.example>\"], \"cc\": [\"c@d.example\"], \"bcc\": [\"e@f.example\"]}",
		  EX_MAIL_COMPOSE_SEND, EX_MAIL_COMPOSE_OK },
		{ "{}", EX_MAIL_COMPOSE_SEND, EX_MAIL_COMPOSE_INVALID_RECIPIENT },
		{ "{}", EX_MAIL_COMPOSE_DRAFT, EX_MAIL_COMPOSE_OK },
		{ "not json", EX_MAIL_COMPOSE_SEND, EX_MAIL_COMPOSE_INVALID_REQUEST },
		{ "[]", EX_MAIL_COMPOSE_SEND, EX_MAIL_COMPOSE_INVALID_REQUEST },
		{ "{\"to\": \"a@b.example\"}", EX_MAIL_COMPOSE_SEND, EX_MAIL_COMPOSE_INVALID_REQUEST },
		{ "{\"to\": [\"not an address\"]}", EX_MAIL_COMPOSE_SEND, EX_MAIL_COMPOSE_INVALID_RECIPIENT },
		{ "{\"to\": [\"a@b.example, c@d.example\"]}", EX_MAIL_COMPOSE_SEND, EX_MAIL_COMPOSE_INVALID_RECIPIENT },
		{ "{\"to\": [{\"address\": \"a@@b\"}]}", EX_MAIL_COMPOSE_SEND, EX_MAIL_COMPOSE_INVALID_RECIPIENT },
		{ "{\"to\": [\"a@b.example\", \"b@b.example\", \"c@b.example\"]}", EX_MAIL_COMPOSE_SEND, EX_MAIL_COMPOSE_OK },
		{ "{\"to\": [\"a@b.example\", \"b@b.example\"], \"bcc\": [\"c@b.example\", \"d@b.example\"]}",
		  EX_MAIL_COMPOSE_SEND, EX_MAIL_COMPOSE_TOO_MANY_RECIPIENTS },
		{ "{\"to\": [\"a@b.example\"], \"subject\": \"a\\r\\nBcc: x@y.example\"}", EX_MAIL_COMPOSE_SEND,
		  EX_MAIL_COMPOSE_INVALID_REQUEST },
		{ "{\"to\": [\"a@b.example\"], \"in_reply_to\": \"<x@y>\", \"references\": [\"<w@y>\", \"<x@y>\"]}",
		  EX_MAIL_COMPOSE_SEND, EX_MAIL_COMPOSE_OK },
		{ "{\"to\": [\"a@b.example\"], \"in_reply_to\": \"x@y\"}", EX_MAIL_COMPOSE_SEND,
		  EX_MAIL_COMPOSE_INVALID_REQUEST },
		{ "{\"to\": [\"a@b.example\"], \"references\": \"<a@b>\\r\\nX: y\"}", EX_MAIL_COMPOSE_SEND,
		  EX_MAIL_COMPOSE_INVALID_REQUEST },
		/* Attachments: 10 bytes decoded is the limit. */
		{ "{\"to\": [\"a@b.example\"], \"attachments\": [{\"filename\": \"a.bin\", \"content\": \"MDEyMzQ1Njc4OQ==\"}]}",
		  EX_MAIL_COMPOSE_SEND, EX_MAIL_COMPOSE_OK },
		{ "{\"to\": [\"a@b.example\"], \"attachments\": [{\"filename\": \"a.bin\", \"content\": \"MDEyMzQ1Njc4OTA=\"}]}",
		  EX_MAIL_COMPOSE_SEND, EX_MAIL_COMPOSE_ATTACHMENT_TOO_LARGE },
		{ "{\"to\": [\"a@b.example\"], \"attachments\": [{\"filename\": \"a.bin\", \"content\": \"MDEy*zQ1\"}]}",
		  EX_MAIL_COMPOSE_SEND, EX_MAIL_COMPOSE_INVALID_REQUEST },
		{ "{\"to\": [\"a@b.example\"], \"attachments\": [{\"content\": \"MDEy\"}]}", EX_MAIL_COMPOSE_SEND,
		  EX_MAIL_COMPOSE_INVALID_REQUEST },
		{ "{\"to\": [\"a@b.example\"], \"attachments\": [{\"filename\": \"a\", \"content_type\": \"text\", "
		  "\"content\": \"MDEy\"}]}",
		  EX_MAIL_COMPOSE_SEND, EX_MAIL_COMPOSE_INVALID_REQUEST },
		{ "{\"to\": [\"a@b.example\"], \"attachments\": [{\"drive_file_id\": \"x\"}]}", EX_MAIL_COMPOSE_SEND,
		  EX_MAIL_COMPOSE_INVALID_REQUEST },
		{ "{\"to\": [\"a@b.example\"], \"attachments\": [{\"drive_file_id\": 7}]}", EX_MAIL_COMPOSE_SEND,
		  EX_MAIL_COMPOSE_INVALID_REQUEST },
		{ "{\"to\": [\"a@b.example\"], \"attachments\": [{\"drive_file_id\": "
		  "\"0b7c3c1e-5f7a-4c55-9d63-2f0f6c1b8e21\"}]}",
		  EX_MAIL_COMPOSE_SEND, EX_MAIL_COMPOSE_OK },
		{ "{\"to\": [\"a@b.example\"], \"attachments\": [{\"drive_file_id\": "
		  "\"0b7c3c1e-5f7a-4c55-9d63-2f0f6c1b8e21\", \"content\": \"MDEy\"}]}",
		  EX_MAIL_COMPOSE_SEND, EX_MAIL_COMPOSE_INVALID_REQUEST },
		{ "{\"to\": [\"a@b.example\"], \"attachments\": [{\"drive_file_id\": "
		  "\"0b7c3c1e-5f7a-4c55-9d63-2f0f6c1b8e21\", \"content_type\": \"pdf\"}]}",
		  EX_MAIL_COMPOSE_SEND, EX_MAIL_COMPOSE_INVALID_REQUEST },
		{ "{\"to\": [\"a@b.example\"], \"attachments\": [{\"drive_file_id\": "
		  "\"0b7c3c1e-5f7a-4c55-9d63-2f0f6c1b8e21\", \"filename\": \"\"}]}",
		  EX_MAIL_COMPOSE_SEND, EX_MAIL_COMPOSE_INVALID_REQUEST },
		/* The message: 64 bytes of text, HTML and attachments is the limit. */
		{ "{\"to\": [\"a@b.example\"], \"text\": \"0123456789012345678901234567890123456789012345678901234567890123\"}",
		  EX_MAIL_COMPOSE_SEND, EX_MAIL_COMPOSE_OK },
		{ "{\"to\": [\"a@b.example\"], \"text\": \"0123456789012345678901234567890123456789012345678901234567890123\", "
		  "\"html\": \"x\"}",
		  EX_MAIL_COMPOSE_SEND, EX_MAIL_COMPOSE_MESSAGE_TOO_LARGE },
		{ "{\"to\": [\"a@b.example\"], \"method\": \"REQUEST\", \"calendar\": \"BEGIN:VCALENDAR\\r\\nEND:VCALENDAR\"}",
		  EX_MAIL_COMPOSE_ITIP, EX_MAIL_COMPOSE_OK },
		{ "{\"to\": [\"a@b.example\"], \"draft_id\": \"0b7c3c1e-5f7a-4c55-9d63-2f0f6c1b8e21\"}", EX_MAIL_COMPOSE_SEND,
		  EX_MAIL_COMPOSE_OK },
		{ "{\"to\": [\"a@b.example\"], \"draft_id\": \"0b7c3c1e\"}", EX_MAIL_COMPOSE_SEND, EX_MAIL_COMPOSE_INVALID_REQUEST },
		{ "{\"draft_id\": \"0b7c3c1e-5f7a-4c55-9d63-2f0f6c1b8e21\"}", EX_MAIL_COMPOSE_DRAFT,
		  EX_MAIL_COMPOSE_INVALID_REQUEST },
		{ "{\"to\": [\"a@b.example\"], \"method\": \"PUBLISH\", \"calendar\": \"BEGIN:VCALENDAR\\r\\nEND:VCALENDAR\"}",
		  EX_MAIL_COMPOSE_ITIP, EX_MAIL_COMPOSE_INVALID_REQUEST },
		{ "{\"to\": [\"a@b.example\"], \"method\": \"REPLY\", \"calendar\": \"hello\"}", EX_MAIL_COMPOSE_ITIP,
		  EX_MAIL_COMPOSE_INVALID_REQUEST },
	};
	char field[32];
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ex_mail_compose compose;
		assert_int_equal(parse(cases[i].body, cases[i].mode, &compose, field), cases[i].status);
		ex_mail_compose_clear(&compose);
	}
}

static void invalid_recipient_field(void **state)
{
	ex_mail_compose compose;
	char field[32];
	(void)state;
	assert_int_equal(parse("{\"to\": [\"a@b.example\"], \"cc\": [\"c@d.example\", \"oops\"]}", EX_MAIL_COMPOSE_SEND,
			       &compose, field),
			 EX_MAIL_COMPOSE_INVALID_RECIPIENT);
	assert_string_equal(field, "cc[1]");
}

static void envelope_deduplicates(void **state)
{
	ex_mail_compose compose;
	char field[32];
	const char *addresses[8];
	(void)state;
	assert_int_equal(parse("{\"to\": [\"A@b.example\"], \"cc\": [\"a@B.example\"], \"bcc\": [\"c@b.example\"]}",
			       EX_MAIL_COMPOSE_SEND, &compose, field),
			 EX_MAIL_COMPOSE_OK);
	assert_int_equal(ex_mail_compose_envelope(&compose, addresses, 8), 2);
	assert_string_equal(addresses[0], "A@b.example");
	assert_string_equal(addresses[1], "c@b.example");
	ex_mail_compose_clear(&compose);
}

static bool has_bare_line_feed_or_8bit(const char *text, size_t length)
{
	for (size_t i = 0; i < length; i++) {
		if ((unsigned char)text[i] >= 0x80)
			return true;
		if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r'))
			return true;
	}
	return false;
}

static void drive_reference_waits_for_content(void **state)
{
	static const char body[] = "{\"to\": [\"a@b.example\"], \"text\": \"0123456789\", \"attachments\": [{\"drive_file_id\": "
				   "\"0B7C3C1E-5F7A-4C55-9D63-2F0F6C1B8E21\", \"filename\": \"Relat\xc3\xb3rio.pdf\"}]}";
	const ex_mail_compose_origin origin = { .from_address = "me@b.example", .message_id = "1@b.example", .date = 0 };
	ex_mail_compose compose;
	char field[32];
	char *built = NULL;
	size_t length = 0;
	(void)state;

	assert_int_equal(parse(body, EX_MAIL_COMPOSE_SEND, &compose, field), EX_MAIL_COMPOSE_OK);
	assert_int_equal(compose.attachment_count, 1);
	assert_string_equal(compose.attachments[0].drive_file_id, "0b7c3c1e-5f7a-4c55-9d63-2f0f6c1b8e21");
	assert_string_equal(compose.attachments[0].filename, "Relat\xc3\xb3rio.pdf");
	assert_null(compose.attachments[0].content_type);
	assert_null(compose.attachments[0].data);
	assert_int_equal(ex_mail_compose_size(&compose), 10);

	/* The file is not fetched yet, so the build fails. */
	assert_int_equal(ex_mail_compose_build(&compose, &origin, &built, &length, NULL, NULL), -1);
	assert_null(built);

	compose.attachments[0].content_type = g_strdup("application/pdf");
	compose.attachments[0].data = (unsigned char *)strdup("%PDF");
	compose.attachments[0].length = 4;
	assert_int_equal(ex_mail_compose_size(&compose), 14);
	assert_int_equal(ex_mail_compose_build(&compose, &origin, &built, &length, NULL, NULL), 0);
	assert_non_null(strstr(built, "application/pdf"));
	free(built);
	ex_mail_compose_clear(&compose);
}

static void build_and_read_back(void **state)
{
	static const ex_mail_compose_limits big = { 10, 1024, 4096 };
	static const char body[] =
		"{\"to\": [\"Jo\xc3\xa3o <joao@b.example>\"], \"bcc\": [\"hidden@b.example\"], "
		"\"subject\": \"Reuni\xc3\xa3o de or\xc3\xa7" "amento\", \"text\": \"Ol\xc3\xa1,\\na\xc3\xa7\xc3\xa3o \xc3\xa0s 10h.\", "
		"\"html\": \"<p>Ol\xc3\xa1</p>\", \"in_reply_to\": \"<x@y>\", "
		"\"attachments\": [{\"filename\": \"relat\xc3\xb3rio \\\"final\\\".txt\", \"content_type\": \"text/plain\", "
		"\"content\": \"SGVsbG8=\"}]}";
	ex_mail_compose compose;
	char err[256];
	char field[32];
	char *with_bcc = NULL;
	char *without_bcc = NULL;
	size_t with_length = 0;
	size_t without_length = 0;
	(void)state;

	assert_int_equal(ex_mail_compose_parse(body, strlen(body), EX_MAIL_COMPOSE_SEND, &big, &compose, err,
					       sizeof(err), field, sizeof(field)),
			 EX_MAIL_COMPOSE_OK);
	const ex_mail_compose_origin origin = { "Maria da Silva", "maria@b.example", "id-1@b.example", 1764928800 };
	assert_int_equal(ex_mail_compose_build(&compose, &origin, &with_bcc, &with_length, &without_bcc, &without_length),
			 0);
	assert_false(has_bare_line_feed_or_8bit(with_bcc, with_length));
	assert_false(has_bare_line_feed_or_8bit(without_bcc, without_length));
	assert_non_null(strstr(with_bcc, "hidden@b.example"));
	assert_null(strstr(without_bcc, "hidden@b.example"));
	assert_non_null(strstr(without_bcc, "Message-Id: <id-1@b.example>"));
	assert_non_null(strstr(without_bcc, "In-Reply-To: <x@y>"));

	GMimeStream *stream = g_mime_stream_mem_new_with_buffer(without_bcc, without_length);
	GMimeParser *parser = g_mime_parser_new_with_stream(stream);
	GMimeMessage *message = g_mime_parser_construct_message(parser, NULL);
	assert_non_null(message);
	assert_string_equal(g_mime_message_get_subject(message), "Reuni\xc3\xa3o de or\xc3\xa7" "amento");
	InternetAddressList *from = g_mime_message_get_from(message);
	assert_string_equal(internet_address_get_name(internet_address_list_get_address(from, 0)), "Maria da Silva");
	g_object_unref(message);
	g_object_unref(parser);
	g_object_unref(stream);

	json_t *read = ex_mail_api_message_body_json(without_bcc, without_length);
	assert_non_null(read);
	assert_string_equal(json_string_value(json_object_get(read, "text")), "Ol\xc3\xa1,\na\xc3\xa7\xc3\xa3o \xc3\xa0s 10h.");
	assert_string_equal(json_string_value(json_object_get(read, "html")), "<p>Ol\xc3\xa1</p>");
	json_t *attachment = json_array_get(json_object_get(read, "attachments"), 0);
	assert_string_equal(json_string_value(json_object_get(attachment, "filename")), "relat\xc3\xb3rio \"final\".txt");
	assert_string_equal(json_string_value(json_object_get(attachment, "part_id")), "2");
	assert_int_equal(json_integer_value(json_object_get(attachment, "size")), 5);
	json_decref(read);

	ex_mail_api_part part;
	assert_int_equal(ex_mail_api_find_part(without_bcc, without_length, "2", &part), 0);
	assert_int_equal(part.length, 5);
	assert_memory_equal(part.data, "Hello", 5);
	ex_mail_api_part_clear(&part);
	assert_int_equal(ex_mail_api_find_part(without_bcc, without_length, "3", &part), 1);
	assert_int_equal(ex_mail_api_find_part(without_bcc, without_length, "1.1", &part), 0);
	ex_mail_api_part_clear(&part);

	free(with_bcc);
	free(without_bcc);
	ex_mail_compose_clear(&compose);
}

static void build_itip(void **state)
{
	static const ex_mail_compose_limits big = { 10, 1024, 4096 };
	static const char body[] = "{\"to\": [\"a@b.example\"], \"method\": \"CANCEL\", \"text\": \"Cancelada\", "
				   "\"calendar\": \"BEGIN:VCALENDAR\\nMETHOD:CANCEL\\nEND:VCALENDAR\\n\"}";
	ex_mail_compose compose;
	char err[256];
	char field[32];
	char *message = NULL;
	size_t length = 0;
	(void)state;
	assert_int_equal(ex_mail_compose_parse(body, strlen(body), EX_MAIL_COMPOSE_ITIP, &big, &compose, err,
					       sizeof(err), field, sizeof(field)),
			 EX_MAIL_COMPOSE_OK);
	const ex_mail_compose_origin origin = { NULL, "maria@b.example", "id-2@b.example", 1764928800 };
	assert_int_equal(ex_mail_compose_build(&compose, &origin, NULL, NULL, &message, &length), 0);
	assert_non_null(strstr(message, "multipart/alternative"));
	assert_non_null(strstr(message, "Content-Type: text/calendar; charset=utf-8; method=CANCEL"));
	assert_non_null(strstr(message, "BEGIN:VCALENDAR\r\nMETHOD:CANCEL\r\nEND:VCALENDAR\r\n"));
	free(message);
	ex_mail_compose_clear(&compose);
}

static void part_ids(void **state)
{
	(void)state;
	assert_true(ex_mail_api_part_id_is_valid("1"));
	assert_true(ex_mail_api_part_id_is_valid("2.10.3"));
	assert_false(ex_mail_api_part_id_is_valid(""));
	assert_false(ex_mail_api_part_id_is_valid(".1"));
	assert_false(ex_mail_api_part_id_is_valid("1."));
	assert_false(ex_mail_api_part_id_is_valid("1..2"));
	assert_false(ex_mail_api_part_id_is_valid("1a"));
}

static int setup(void **state)
{
	(void)state;
	g_mime_init();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	g_mime_shutdown();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_statuses),      cmocka_unit_test(invalid_recipient_field),
		cmocka_unit_test(envelope_deduplicates), cmocka_unit_test(build_and_read_back),
		cmocka_unit_test(build_itip),          cmocka_unit_test(part_ids),
		cmocka_unit_test(drive_reference_waits_for_content),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
