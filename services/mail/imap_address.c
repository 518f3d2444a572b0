/*
 * Address lists for ENVELOPE. The parser follows RFC 5322 3.4 with the
 * obsolete forms of section 4.4 (phrases with dots, routes, comments
 * anywhere). It recovers from malformed input the way Dovecot 2.3 does,
 * so both servers show a broken header alike. A mailbox that does not
 * parse as name-addr is read again as addr-spec, and the list stops at
 * the first octet that cannot continue it.
 */
#include "imap_address.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "imap_structure.h"

typedef struct {
	const char *p;
	const char *end;
	/* Contents of the last comment skipped, kept while an addr-spec is read. */
	const char *comment;
	size_t comment_length;
} cursor;

/* A growing string for one token; a failed allocation leaves it truncated. */
typedef struct {
	char *data;
	size_t length;
	size_t capacity;
	bool present;
} token;

static void token_add(token *t, const char *data, size_t length)
{
	if (t->length + length + 1 > t->capacity) {
		size_t capacity = (t->length + length + 1) * 2;
		char *grown = realloc(t->data, capacity);
		if (grown == NULL)
			return;
		t->data = grown;
		t->capacity = capacity;
	}
	if (t->data == NULL)
		return;
	if (length > 0)
		memcpy(t->data + t->length, data, length);
	t->length += length;
	t->data[t->length] = '\0';
	t->present = true;
}

static void token_reset(token *t)
{
	t->length = 0;
	t->present = false;
}

static bool is_atext(unsigned char c)
{
	if (c >= 0x80)
		return true;
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static bool at_end(const cursor *c)
{
	return c->p >= c->end;
}

/* Skips white space, line ends and comments. Returns false at the end of the value. */
static bool skip_cfws(cursor *c)
{
	while (!at_end(c)) {
		char ch = *c->p;
		if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n') {
			c->p++;
			continue;
		}
		if (ch != '(')
			return true;
		int depth = 0;
		const char *start = c->p + 1;
		while (!at_end(c)) {
			if (*c->p == '\\' && c->p + 1 < c->end) {
				c->p += 2;
				continue;
			}
			if (*c->p == '(')
				depth++;
			else if (*c->p == ')' && --depth == 0)
				break;
			c->p++;
		}
		c->comment = start;
		c->comment_length = (size_t)(c->p - start);
		if (!at_end(c))
			c->p++;
	}
	return false;
}

/* Reads a quoted-string into T without its quotes and backslashes. Returns false when it is not closed. */
static bool read_quoted(cursor *c, token *t)
{
	c->p++;
	while (!at_end(c) && *c->p != '"') {
		if (*c->p == '\\' && c->p + 1 < c->end)
			c->p++;
		if (*c->p != '\r' && *c->p != '\n')
			token_add(t, c->p, 1);
		c->p++;
	}
	if (at_end(c))
		return false;
	c->p++;
	if (!t->present)
		token_add(t, "", 0);
	return true;
}

static void read_atom(cursor *c, token *t, bool dots)
{
	const char *start = c->p;
	while (!at_end(c) && (is_atext((unsigned char)*c->p) || (dots && *c->p == '.')))
		c->p++;
	token_add(t, start, (size_t)(c->p - start));
}

/* Reads a phrase: words joined by one space. Returns the number of words. */
static int read_phrase(cursor *c, token *t)
{
	int words = 0;
	while (skip_cfws(c)) {
		unsigned char ch = (unsigned char)*c->p;
		if (ch != '"' && !is_atext(ch) && ch != '.')
			break;
		if (words > 0)
			token_add(t, " ", 1);
		if (ch == '"') {
			if (!read_quoted(c, t))
				return -1;
		} else {
			read_atom(c, t, true);
		}
		words++;
	}
	return words;
}

/* Reads a dot-atom or the obsolete word *("." word) form. Returns false when there is none. */
static bool read_local_part(cursor *c, token *t)
{
	bool any = false;
	for (;;) {
		if (!skip_cfws(c))
			return any;
		if (*c->p == '"') {
			if (!read_quoted(c, t))
				return false;
		} else if (is_atext((unsigned char)*c->p)) {
			read_atom(c, t, false);
		} else {
			return any;
		}
		any = true;
		if (!skip_cfws(c) || *c->p != '.')
			return true;
		token_add(t, ".", 1);
		c->p++;
	}
}

/* Reads "@" domain, with a domain-literal kept in its brackets. */
static bool read_domain(cursor *c, token *t)
{
	c->p++;
	if (!skip_cfws(c))
		return false;
	if (*c->p == '[') {
		const char *start = c->p;
		while (!at_end(c) && *c->p != ']')
			c->p += (*c->p == '\\' && c->p + 1 < c->end) ? 2 : 1;
		if (at_end(c))
			return false;
		c->p++;
		token_add(t, start, (size_t)(c->p - start));
		return true;
	}
	for (;;) {
		if (!skip_cfws(c) || !is_atext((unsigned char)*c->p))
			return t->present;
		read_atom(c, t, false);
		if (!skip_cfws(c) || *c->p != '.')
			return true;
		token_add(t, ".", 1);
		c->p++;
	}
}

typedef struct {
	token name;
	token route;
	token mailbox;
	token domain;
	const char *placeholder_domain;
} address;

static void address_reset(address *a)
{
	token_reset(&a->name);
	token_reset(&a->route);
	token_reset(&a->mailbox);
	token_reset(&a->domain);
	a->placeholder_domain = NULL;
}

/* "<" [obs-route ":"] local-part ["@" domain] ">" */
static bool read_angle_addr(cursor *c, address *a)
{
	c->p++;
	if (!skip_cfws(c))
		return false;
	if (*c->p == '@') {
		while (!at_end(c) && *c->p == '@') {
			if (a->route.present)
				token_add(&a->route, ",", 1);
			token_add(&a->route, "@", 1);
			if (!read_domain(c, &a->route))
				return false;
			while (skip_cfws(c) && *c->p == ',')
				c->p++;
		}
		if (at_end(c) || *c->p != ':')
			return false;
		c->p++;
	}
	if (!read_local_part(c, &a->mailbox))
		return false;
	if (skip_cfws(c) && *c->p == '@' && !read_domain(c, &a->domain))
		return false;
	if (!skip_cfws(c) || *c->p != '>')
		return false;
	c->p++;
	skip_cfws(c);
	return true;
}

static bool read_mailbox(cursor *c, address *a)
{
	const char *start = c->p;
	int words = read_phrase(c, &a->name);
	if (words >= 0 && !at_end(c) && *c->p == '<') {
		if (!read_angle_addr(c, a))
			a->placeholder_domain = "SYNTAX_ERROR";
		return true;
	}

	/* Not name-addr: read it again as addr-spec, whose trailing comment is used as the name. */
	c->p = start;
	address_reset(a);
	c->comment = NULL;
	bool valid = read_local_part(c, &a->mailbox);
	if (valid && skip_cfws(c) && *c->p == '@')
		valid = read_domain(c, &a->domain);
	skip_cfws(c);
	if (c->comment != NULL)
		token_add(&a->name, c->comment, c->comment_length);
	return valid;
}

/* Writes the name as Dovecot shows phrases: white space runs made one space, trimmed; NIL when empty. */
static void put_name(ex_imap_writer *out, const token *name)
{
	if (!name->present) {
		ex_imap_write_text(out, "NIL");
		return;
	}
	char *clean = malloc(name->length + 1);
	if (clean == NULL) {
		ex_imap_write_text(out, "NIL");
		return;
	}
	size_t length = 0;
	bool space = false;
	for (size_t i = 0; i < name->length; i++) {
		char ch = name->data[i];
		if (ch == '\r' || ch == '\n')
			continue;
		if (ch == ' ' || ch == '\t') {
			space = length > 0;
			continue;
		}
		if (space)
			clean[length++] = ' ';
		space = false;
		clean[length++] = ch;
	}
	if (length == 0)
		ex_imap_write_text(out, "NIL");
	else
		imap_structure_put_string(out, clean, length);
	free(clean);
}

static void put_token(ex_imap_writer *out, const token *t, const char *missing)
{
	if (t->present && t->length > 0)
		imap_structure_put_string(out, t->data, t->length);
	else if (missing != NULL)
		imap_structure_put_string(out, missing, strlen(missing));
	else
		ex_imap_write_text(out, "NIL");
}

static void put_address(ex_imap_writer *out, const address *a)
{
	ex_imap_write_text(out, "(");
	put_name(out, &a->name);
	ex_imap_write_text(out, " ");
	put_token(out, &a->route, NULL);
	ex_imap_write_text(out, " ");
	put_token(out, &a->mailbox, "MISSING_MAILBOX");
	ex_imap_write_text(out, " ");
	if (a->placeholder_domain != NULL)
		imap_structure_put_string(out, a->placeholder_domain, strlen(a->placeholder_domain));
	else
		put_token(out, &a->domain, "MISSING_DOMAIN");
	ex_imap_write_text(out, ")");
}

/* Reads "phrase :" of a group. Returns false (cursor unchanged) when the address is not a group. */
static bool read_group_start(cursor *c, token *name)
{
	const char *start = c->p;
	token_reset(name);
	if (read_phrase(c, name) <= 0 || at_end(c) || *c->p != ':') {
		c->p = start;
		return false;
	}
	c->p++;
	return true;
}

void imap_address_list_put(ex_imap_writer *out, const char *value, size_t length)
{
	cursor c = { .p = value, .end = value + length };
	address a = { 0 };
	token group = { 0 };
	int count = 0;

	if (!skip_cfws(&c)) {
		ex_imap_write_text(out, "NIL");
		return;
	}
	ex_imap_write_text(out, "(");
	while (!at_end(&c) && count < IMAP_ADDRESS_MAX_COUNT) {
		if (read_group_start(&c, &group)) {
			ex_imap_write_text(out, "(NIL NIL ");
			imap_structure_put_string(out, group.data != NULL ? group.data : "", group.length);
			ex_imap_write_text(out, " NIL)");
			while (skip_cfws(&c) && *c.p != ';' && count < IMAP_ADDRESS_MAX_COUNT) {
				address_reset(&a);
				const char *before = c.p;
				read_mailbox(&c, &a);
				put_address(out, &a);
				count++;
				if (!skip_cfws(&c) || *c.p != ',') {
					if (c.p == before)
						c.p = c.end;
					break;
				}
				c.p++;
			}
			if (!at_end(&c) && *c.p == ';')
				c.p++;
			ex_imap_write_text(out, "(NIL NIL NIL NIL)");
			count++;
		} else {
			address_reset(&a);
			read_mailbox(&c, &a);
			put_address(out, &a);
			count++;
		}
		if (!skip_cfws(&c) || *c.p != ',')
			break;
		c.p++;
		if (!skip_cfws(&c))
			break;
	}
	ex_imap_write_text(out, ")");
	free(a.name.data);
	free(a.route.data);
	free(a.mailbox.data);
	free(a.domain.data);
	free(group.data);
}
