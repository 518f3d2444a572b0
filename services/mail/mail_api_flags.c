/*
 * Flag requests and their merge into stored flags, without I/O. The
 * message's row is updated by mail_api_messages.c, whose trigger gives
 * the message a new modseq when the set changed.
 */
#include "mail_api_flags.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const struct {
	const char *field;
	const char *flag;
} system_flags[] = {
	{ "seen", "\\Seen" },
	{ "flagged", "\\Flagged" },
	{ "answered", "\\Answered" },
	{ "draft", "\\Draft" },
	{ "deleted", "\\Deleted" },
};

enum { SYSTEM_FLAG_COUNT = sizeof(system_flags) / sizeof(system_flags[0]) };

bool ex_mail_keyword_is_valid(const char *keyword)
{
	size_t length = strlen(keyword);
	if (length == 0 || length > EX_MAIL_KEYWORD_MAX || keyword[0] == '\\')
		return false;
	for (size_t i = 0; i < length; i++) {
		unsigned char c = (unsigned char)keyword[i];
		/* RFC 9051 atom-specials plus "]" (resp-specials). */
		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\]", c) != NULL)
			return false;
	}
	return true;
}

static int add_to(const char **list, size_t *count, const char *flag, char *err, size_t errlen)
{
	if (*count >= EX_MAIL_FLAGS_MAX_CHANGES) {
		snprintf(err, errlen, "too many flag changes in one request; the maximum is %d", EX_MAIL_FLAGS_MAX_CHANGES);
		return -1;
	}
	list[(*count)++] = flag;
	return 0;
}

static int parse_keywords(const json_t *keywords, ex_mail_flag_change *change, char *err, size_t errlen)
{
	const char *key;
	json_t *value;

	if (!json_is_object(keywords)) {
		snprintf(err, errlen, "keywords must be an object with \"add\" and \"remove\" arrays");
		return -1;
	}
	json_object_foreach((json_t *)keywords, key, value) {
		bool adding = strcmp(key, "add") == 0;
		if (!adding && strcmp(key, "remove") != 0) {
			snprintf(err, errlen, "unknown member keywords.%.64s; use add or remove", key);
			return -1;
		}
		if (!json_is_array(value)) {
			snprintf(err, errlen, "keywords.%s must be an array of strings", key);
			return -1;
		}
		size_t index;
		json_t *item;
		json_array_foreach(value, index, item) {
			const char *keyword = json_string_value(item);
			if (keyword == NULL || !ex_mail_keyword_is_valid(keyword)) {
				snprintf(err, errlen,
					 "keywords.%s[%zu] is not a valid keyword: 1 to %d printable ASCII characters without "
					 "spaces, ( ) { %% * \" \\ ] and not starting with \\",
					 key, index, EX_MAIL_KEYWORD_MAX);
				return -1;
			}
			int status = adding ? add_to(change->add, &change->add_count, keyword, err, errlen)
					    : add_to(change->remove, &change->remove_count, keyword, err, errlen);
			if (status != 0)
				return -1;
		}
	}
	return 0;
}

int ex_mail_flag_change_parse(const json_t *body, ex_mail_flag_change *change, char *err, size_t errlen)
{
	const char *key;
	json_t *value;

	memset(change, 0, sizeof(*change));
	if (!json_is_object(body)) {
		snprintf(err, errlen, "the body must be a JSON object such as {\"seen\": true}");
		return -1;
	}
	json_object_foreach((json_t *)body, key, value) {
		if (strcmp(key, "keywords") == 0) {
			if (parse_keywords(value, change, err, errlen) != 0)
				return -1;
			continue;
		}
		size_t i = 0;
		while (i < SYSTEM_FLAG_COUNT && strcmp(system_flags[i].field, key) != 0)
			i++;
		if (i == SYSTEM_FLAG_COUNT) {
			snprintf(err, errlen,
				 "unknown member %.64s; use seen, flagged, answered, draft, deleted or keywords", key);
			return -1;
		}
		if (!json_is_boolean(value)) {
			snprintf(err, errlen, "%s must be true or false", key);
			return -1;
		}
		int status = json_is_true(value)
				     ? add_to(change->add, &change->add_count, system_flags[i].flag, err, errlen)
				     : add_to(change->remove, &change->remove_count, system_flags[i].flag, err, errlen);
		if (status != 0)
			return -1;
	}
	if (change->add_count == 0 && change->remove_count == 0) {
		snprintf(err, errlen, "the body changes no flag; send e.g. {\"seen\": true}");
		return -1;
	}
	return 0;
}

/* Flags compare case-insensitively (RFC 9051 section 2.3.2). */
static bool in_list(const char *const *list, size_t count, const char *flag)
{
	for (size_t i = 0; i < count; i++) {
		if (strcasecmp(list[i], flag) == 0)
			return true;
	}
	return false;
}

static bool in_array(const json_t *array, const char *flag)
{
	size_t index;
	json_t *item;
	json_array_foreach((json_t *)array, index, item) {
		const char *text = json_string_value(item);
		if (text != NULL && strcasecmp(text, flag) == 0)
			return true;
	}
	return false;
}

json_t *ex_mail_flags_apply(const json_t *current, const ex_mail_flag_change *change, bool *changed)
{
	json_t *result = json_array();
	size_t index;
	json_t *item;

	*changed = false;
	if (result == NULL)
		return NULL;
	json_array_foreach((json_t *)current, index, item) {
		const char *flag = json_string_value(item);
		if (flag == NULL)
			continue;
		if (in_list(change->remove, change->remove_count, flag) && !in_list(change->add, change->add_count, flag)) {
			*changed = true;
			continue;
		}
		json_array_append(result, item);
	}
	for (size_t i = 0; i < change->add_count; i++) {
		if (in_array(result, change->add[i]))
			continue;
		json_array_append_new(result, json_string(change->add[i]));
		*changed = true;
	}
	if (json_array_size(result) > EX_MAIL_FLAGS_MAX_STORED) {
		json_decref(result);
		return NULL;
	}
	return result;
}

json_t *ex_mail_flags_json(const json_t *flags)
{
	json_t *object = json_object();
	json_t *keywords = json_array();
	size_t index;
	json_t *item;

	for (size_t i = 0; i < SYSTEM_FLAG_COUNT; i++)
		json_object_set_new(object, system_flags[i].field, json_boolean(in_array(flags, system_flags[i].flag)));
	json_array_foreach((json_t *)flags, index, item) {
		const char *flag = json_string_value(item);
		if (flag != NULL && flag[0] != '\\')
			json_array_append(keywords, item);
	}
	json_object_set_new(object, "keywords", keywords);
	return object;
}
