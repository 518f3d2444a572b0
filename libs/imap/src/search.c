/*
 * SEARCH program parsing by recursive descent over the argument tree. The
 * depth counter bounds the recursion, so a hostile program of nested NOT
 * or OR keys cannot exhaust the stack.
 */
#include "expresso/imap_search.h"

#include <string.h>

#include "imap_chars.h"

typedef struct {
	ex_imap_arena *arena;
	unsigned max_depth;
	ex_imap_search_error *error;
} search_parser;

typedef enum { VALUE_NONE, VALUE_STRING, VALUE_DATE, VALUE_NUMBER, VALUE_SET, VALUE_HEADER } value_kind;

static const struct {
	const char *name;
	ex_imap_search_kind kind;
	value_kind value;
} key_table[] = {
	{ "ALL", EX_IMAP_SEARCH_ALL, VALUE_NONE },
	{ "ANSWERED", EX_IMAP_SEARCH_ANSWERED, VALUE_NONE },
	{ "DELETED", EX_IMAP_SEARCH_DELETED, VALUE_NONE },
	{ "DRAFT", EX_IMAP_SEARCH_DRAFT, VALUE_NONE },
	{ "FLAGGED", EX_IMAP_SEARCH_FLAGGED, VALUE_NONE },
	{ "NEW", EX_IMAP_SEARCH_NEW, VALUE_NONE },
	{ "OLD", EX_IMAP_SEARCH_OLD, VALUE_NONE },
	{ "RECENT", EX_IMAP_SEARCH_RECENT, VALUE_NONE },
	{ "SEEN", EX_IMAP_SEARCH_SEEN, VALUE_NONE },
	{ "UNANSWERED", EX_IMAP_SEARCH_UNANSWERED, VALUE_NONE },
	{ "UNDELETED", EX_IMAP_SEARCH_UNDELETED, VALUE_NONE },
	{ "UNDRAFT", EX_IMAP_SEARCH_UNDRAFT, VALUE_NONE },
	{ "UNFLAGGED", EX_IMAP_SEARCH_UNFLAGGED, VALUE_NONE },
	{ "UNSEEN", EX_IMAP_SEARCH_UNSEEN, VALUE_NONE },
	{ "KEYWORD", EX_IMAP_SEARCH_KEYWORD, VALUE_STRING },
	{ "UNKEYWORD", EX_IMAP_SEARCH_UNKEYWORD, VALUE_STRING },
	{ "BCC", EX_IMAP_SEARCH_BCC, VALUE_STRING },
	{ "BODY", EX_IMAP_SEARCH_BODY, VALUE_STRING },
	{ "CC", EX_IMAP_SEARCH_CC, VALUE_STRING },
	{ "FROM", EX_IMAP_SEARCH_FROM, VALUE_STRING },
	{ "SUBJECT", EX_IMAP_SEARCH_SUBJECT, VALUE_STRING },
	{ "TEXT", EX_IMAP_SEARCH_TEXT, VALUE_STRING },
	{ "TO", EX_IMAP_SEARCH_TO, VALUE_STRING },
	{ "HEADER", EX_IMAP_SEARCH_HEADER, VALUE_HEADER },
	{ "BEFORE", EX_IMAP_SEARCH_BEFORE, VALUE_DATE },
	{ "ON", EX_IMAP_SEARCH_ON, VALUE_DATE },
	{ "SINCE", EX_IMAP_SEARCH_SINCE, VALUE_DATE },
	{ "SENTBEFORE", EX_IMAP_SEARCH_SENTBEFORE, VALUE_DATE },
	{ "SENTON", EX_IMAP_SEARCH_SENTON, VALUE_DATE },
	{ "SENTSINCE", EX_IMAP_SEARCH_SENTSINCE, VALUE_DATE },
	{ "LARGER", EX_IMAP_SEARCH_LARGER, VALUE_NUMBER },
	{ "SMALLER", EX_IMAP_SEARCH_SMALLER, VALUE_NUMBER },
	{ "UID", EX_IMAP_SEARCH_UID, VALUE_SET },
};

static bool fail(search_parser *parser, const char *code, const char *text)
{
	parser->error->text = text;
	parser->error->code = code;
	return false;
}

/* Parses number64 (RFC 9051): up to 2^63 - 1. */
static bool parse_number64(const ex_imap_arg *arg, uint64_t *value)
{
	if (arg == NULL || arg->type != EX_IMAP_ARG_ATOM || arg->length == 0 || arg->length > 19)
		return false;
	uint64_t number = 0;
	for (size_t i = 0; i < arg->length; i++) {
		char c = arg->str[i];
		if (c < '0' || c > '9')
			return false;
		number = number * 10 + (uint64_t)(c - '0');
	}
	if (number > INT64_MAX)
		return false;
	*value = number;
	return true;
}

static bool parse_key(search_parser *parser, const ex_imap_arg **cursor, unsigned depth,
		      ex_imap_search_key **result);

/* Parses keys from *CURSOR until the end of the sibling chain into the children of GROUP. */
static bool parse_group(search_parser *parser, const ex_imap_arg *first, unsigned depth,
			ex_imap_search_key *group)
{
	ex_imap_search_key *tail = NULL;
	const ex_imap_arg *cursor = first;
	while (cursor != NULL) {
		ex_imap_search_key *key;
		if (!parse_key(parser, &cursor, depth, &key))
			return false;
		if (tail != NULL)
			tail->next = key;
		else
			group->children = key;
		tail = key;
		group->child_count++;
	}
	if (group->child_count == 0)
		return fail(parser, NULL, "Invalid SEARCH: empty group '()'");
	return true;
}

static ex_imap_search_key *new_key(search_parser *parser, ex_imap_search_kind kind)
{
	ex_imap_search_key *key = ex_imap_arena_alloc(parser->arena, sizeof(*key));
	if (key != NULL)
		key->kind = kind;
	return key;
}

static bool parse_value(search_parser *parser, const ex_imap_arg **cursor, value_kind value,
			ex_imap_search_key *key)
{
	const ex_imap_arg *arg = *cursor;
	if (value == VALUE_NONE)
		return true;
	if (arg == NULL)
		return fail(parser, NULL, "Invalid SEARCH: missing the value of a search key");
	*cursor = arg->next;

	switch (value) {
	case VALUE_STRING:
		if (!ex_imap_arg_is_astring(arg))
			return fail(parser, NULL, "Invalid SEARCH: expected a string value");
		key->value = arg->str;
		key->value_length = arg->length;
		if (key->kind == EX_IMAP_SEARCH_KEYWORD || key->kind == EX_IMAP_SEARCH_UNKEYWORD) {
			for (size_t i = 0; i < arg->length; i++) {
				if (!ex_imap_is_strict_atom_char((unsigned char)arg->str[i]))
					return fail(parser, NULL, "Invalid SEARCH: invalid character in keyword");
			}
		}
		return true;
	case VALUE_HEADER:
		if (!ex_imap_arg_is_astring(arg))
			return fail(parser, NULL, "Invalid SEARCH: HEADER needs a header name");
		key->header_name = arg->str;
		arg = *cursor;
		if (arg == NULL || !ex_imap_arg_is_astring(arg))
			return fail(parser, NULL, "Invalid SEARCH: HEADER needs a header name and a value");
		*cursor = arg->next;
		key->value = arg->str;
		key->value_length = arg->length;
		return true;
	case VALUE_DATE: {
		if (!ex_imap_arg_is_astring(arg))
			return fail(parser, NULL, "Invalid SEARCH: expected a date such as 5-Dec-2026");
		const char *error = ex_imap_date_parse(arg->str, arg->length, &key->date);
		return error == NULL ? true : fail(parser, NULL, error);
	}
	case VALUE_NUMBER:
		if (!parse_number64(arg, &key->number))
			return fail(parser, NULL, "Invalid SEARCH: expected a size in octets");
		return true;
	case VALUE_SET: {
		if (arg->type != EX_IMAP_ARG_ATOM)
			return fail(parser, NULL, "Invalid SEARCH: expected a UID set");
		const char *error = ex_imap_seqset_parse(parser->arena, arg->str, arg->length, &key->set);
		return error == NULL ? true : fail(parser, NULL, error);
	}
	case VALUE_NONE:
		break;
	}
	return true;
}

/* MODSEQ [entry-name entry-type-req] mod-sequence-valzer (RFC 7162 section 3.1.5). */
static bool parse_modseq(search_parser *parser, const ex_imap_arg **cursor, ex_imap_search_key *key)
{
	const ex_imap_arg *arg = *cursor;
	if (arg != NULL && arg->type == EX_IMAP_ARG_QUOTED) {
		key->modseq_entry = arg->str;
		arg = arg->next;
		if (!ex_imap_arg_atom_equals(arg, "priv") && !ex_imap_arg_atom_equals(arg, "shared") &&
		    !ex_imap_arg_atom_equals(arg, "all"))
			return fail(parser, NULL, "Invalid SEARCH: MODSEQ entry type must be priv, shared or all");
		key->modseq_entry_type = arg->str;
		arg = arg->next;
	}
	if (arg == NULL || !parse_number64(arg, &key->number))
		return fail(parser, NULL, "Invalid SEARCH: MODSEQ needs a mod-sequence number");
	*cursor = arg->next;
	return true;
}

static bool parse_key(search_parser *parser, const ex_imap_arg **cursor, unsigned depth,
		      ex_imap_search_key **result)
{
	const ex_imap_arg *arg = *cursor;
	*cursor = arg->next;

	if (arg->type == EX_IMAP_ARG_LIST) {
		if (depth + 1 > parser->max_depth)
			return fail(parser, "LIMIT", "SEARCH nested too deep");
		ex_imap_search_key *group = new_key(parser, EX_IMAP_SEARCH_AND);
		if (group == NULL)
			return fail(parser, NULL, "SEARCH too large");
		*result = group;
		return parse_group(parser, arg->list, depth + 1, group);
	}
	if (arg->type != EX_IMAP_ARG_ATOM)
		return fail(parser, NULL, "Invalid SEARCH: expected a search key");

	if (ex_imap_seqset_looks_like(arg->str, arg->length)) {
		ex_imap_search_key *key = new_key(parser, EX_IMAP_SEARCH_SEQSET);
		if (key == NULL)
			return fail(parser, NULL, "SEARCH too large");
		*result = key;
		const char *error = ex_imap_seqset_parse(parser->arena, arg->str, arg->length, &key->set);
		return error == NULL ? true : fail(parser, NULL, error);
	}

	bool is_or = ex_imap_arg_atom_equals(arg, "OR");
	if (is_or || ex_imap_arg_atom_equals(arg, "NOT")) {
		if (depth + 1 > parser->max_depth)
			return fail(parser, "LIMIT", "SEARCH nested too deep");
		ex_imap_search_key *key = new_key(parser, is_or ? EX_IMAP_SEARCH_OR : EX_IMAP_SEARCH_NOT);
		if (key == NULL)
			return fail(parser, NULL, "SEARCH too large");
		*result = key;
		size_t operands = is_or ? 2 : 1;
		ex_imap_search_key *tail = NULL;
		for (size_t i = 0; i < operands; i++) {
			if (*cursor == NULL)
				return fail(parser, NULL, is_or ? "Invalid SEARCH: OR needs two search keys"
								: "Invalid SEARCH: NOT needs a search key");
			ex_imap_search_key *child;
			if (!parse_key(parser, cursor, depth + 1, &child))
				return false;
			if (tail != NULL)
				tail->next = child;
			else
				key->children = child;
			tail = child;
			key->child_count++;
		}
		return true;
	}

	if (ex_imap_arg_atom_equals(arg, "MODSEQ")) {
		ex_imap_search_key *key = new_key(parser, EX_IMAP_SEARCH_MODSEQ);
		if (key == NULL)
			return fail(parser, NULL, "SEARCH too large");
		*result = key;
		return parse_modseq(parser, cursor, key);
	}

	for (size_t i = 0; i < sizeof(key_table) / sizeof(key_table[0]); i++) {
		if (!ex_imap_arg_atom_equals(arg, key_table[i].name))
			continue;
		ex_imap_search_key *key = new_key(parser, key_table[i].kind);
		if (key == NULL)
			return fail(parser, NULL, "SEARCH too large");
		*result = key;
		return parse_value(parser, cursor, key_table[i].value, key);
	}
	return fail(parser, NULL, "Invalid SEARCH: unknown search key");
}

static bool parse_return(search_parser *parser, const ex_imap_arg *list, ex_imap_search *search)
{
	static const struct {
		const char *name;
		unsigned bit;
	} options[] = {
		{ "MIN", EX_IMAP_SEARCH_RETURN_MIN },     { "MAX", EX_IMAP_SEARCH_RETURN_MAX },
		{ "ALL", EX_IMAP_SEARCH_RETURN_ALL },     { "COUNT", EX_IMAP_SEARCH_RETURN_COUNT },
		{ "SAVE", EX_IMAP_SEARCH_RETURN_SAVE },
	};

	if (list == NULL || list->type != EX_IMAP_ARG_LIST)
		return fail(parser, NULL, "Invalid SEARCH: RETURN needs a list of options");
	search->has_return = true;
	for (const ex_imap_arg *arg = list->list; arg != NULL; arg = arg->next) {
		bool known = false;
		for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++) {
			if (ex_imap_arg_atom_equals(arg, options[i].name)) {
				search->return_options |= options[i].bit;
				known = true;
			}
		}
		if (!known)
			return fail(parser, NULL, "Invalid SEARCH: unknown RETURN option");
	}
	if (search->return_options == 0)
		search->return_options = EX_IMAP_SEARCH_RETURN_ALL;
	return true;
}

bool ex_imap_search_parse(ex_imap_arena *arena, const ex_imap_arg *first, unsigned max_depth,
			  ex_imap_search *search, ex_imap_search_error *error)
{
	search_parser parser = { arena, max_depth == 0 ? EX_IMAP_DEFAULT_MAX_SEARCH_DEPTH : max_depth, error };
	const ex_imap_arg *cursor = first;

	memset(search, 0, sizeof(*search));
	error->text = NULL;
	error->code = NULL;

	if (ex_imap_arg_atom_equals(cursor, "RETURN")) {
		if (!parse_return(&parser, cursor->next, search))
			return false;
		cursor = cursor->next->next;
	}
	if (ex_imap_arg_atom_equals(cursor, "CHARSET")) {
		const ex_imap_arg *charset = cursor->next;
		if (!ex_imap_arg_is_astring(charset))
			return fail(&parser, NULL, "Invalid SEARCH: CHARSET needs a charset name");
		if (charset->length == 5 && ex_imap_ascii_casecmp_n(charset->str, "UTF-8", 5))
			search->charset = "UTF-8";
		else if (charset->length == 8 && ex_imap_ascii_casecmp_n(charset->str, "US-ASCII", 8))
			search->charset = "US-ASCII";
		else
			return fail(&parser, "BADCHARSET (US-ASCII UTF-8)",
				    "Unsupported charset: use UTF-8 or US-ASCII");
		cursor = charset->next;
	}
	if (cursor == NULL)
		return fail(&parser, NULL, "Invalid SEARCH: missing search keys");

	search->root = new_key(&parser, EX_IMAP_SEARCH_AND);
	if (search->root == NULL)
		return fail(&parser, NULL, "SEARCH too large");
	return parse_group(&parser, cursor, 0, search->root);
}
