/*
 * Flag list parsing for STORE, APPEND and PERMANENTFLAGS-style lists.
 */
#include "expresso/imap_flags.h"

#include <stdio.h>
#include <string.h>

#include "imap_chars.h"

static const struct {
	const char *name;
	unsigned bit;
} system_flags[] = {
	{ "\\Seen", EX_IMAP_FLAG_SEEN },
	{ "\\Answered", EX_IMAP_FLAG_ANSWERED },
	{ "\\Flagged", EX_IMAP_FLAG_FLAGGED },
	{ "\\Deleted", EX_IMAP_FLAG_DELETED },
	{ "\\Draft", EX_IMAP_FLAG_DRAFT },
	{ "\\Recent", EX_IMAP_FLAG_RECENT },
};

const char *ex_imap_flag_name(unsigned flag)
{
	for (size_t i = 0; i < sizeof(system_flags) / sizeof(system_flags[0]); i++) {
		if (system_flags[i].bit == flag)
			return system_flags[i].name;
	}
	return NULL;
}

static const char *parse_system_flag(const ex_imap_arg *arg, unsigned options, ex_imap_flags *flags)
{
	if (arg->length == 2 && arg->str[1] == '*') {
		if ((options & EX_IMAP_FLAGS_ALLOW_STAR) == 0)
			return "Invalid flag \\*: it is only allowed in PERMANENTFLAGS";
		flags->star = true;
		return NULL;
	}
	for (size_t i = 0; i < sizeof(system_flags) / sizeof(system_flags[0]); i++) {
		size_t name_length = strlen(system_flags[i].name);
		if (arg->length != name_length ||
		    !ex_imap_ascii_casecmp_n(arg->str, system_flags[i].name, name_length))
			continue;
		if (system_flags[i].bit == EX_IMAP_FLAG_RECENT &&
		    (options & EX_IMAP_FLAGS_ALLOW_RECENT) == 0)
			return "Invalid flag \\Recent: the server sets it, clients cannot";
		flags->system |= system_flags[i].bit;
		return NULL;
	}
	return "Unknown system flag: only \\Seen \\Answered \\Flagged \\Deleted \\Draft exist";
}

const char *ex_imap_flags_parse(ex_imap_arena *arena, const ex_imap_arg *first, size_t count,
				unsigned options, ex_imap_flags *flags)
{
	memset(flags, 0, sizeof(*flags));
	if (count > 0) {
		flags->keywords = ex_imap_arena_alloc(arena, count * sizeof(*flags->keywords));
		if (flags->keywords == NULL)
			return "Flag list too large";
	}

	const ex_imap_arg *arg = first;
	for (size_t n = 0; n < count && arg != NULL; n++, arg = arg->next) {
		if (arg->type != EX_IMAP_ARG_ATOM)
			return "Invalid flag: flags are atoms such as \\Seen or $Forwarded";
		if (arg->str[0] == '\\') {
			const char *error = parse_system_flag(arg, options, flags);
			if (error != NULL)
				return error;
			continue;
		}
		if (arg->length > EX_IMAP_MAX_KEYWORD_LENGTH)
			return "Keyword too long (the limit is 255 octets)";
		for (size_t i = 0; i < arg->length; i++) {
			if (!ex_imap_is_strict_atom_char((unsigned char)arg->str[i]))
				return "Invalid character in keyword";
		}
		flags->keywords[flags->keyword_count++] = arg->str;
	}
	return NULL;
}
