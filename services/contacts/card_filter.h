/*
 * The CARDDAV:filter of an addressbook-query REPORT (RFC 6352 section
 * 10.5): prop-filter with is-not-defined, text-match and param-filter,
 * combined with the anyof/allof tests, and the collations i;unicode-casemap
 * (the default), i;ascii-casemap and i;octet.
 */
#ifndef EXPRESSO_CONTACTS_CARD_FILTER_H
#define EXPRESSO_CONTACTS_CARD_FILTER_H

#include <libxml/tree.h>
#include <stdbool.h>
#include <stddef.h>

#include "vcard.h"

enum {
	EX_CARD_FILTER_MAX_PROP_FILTERS = 32,
	EX_CARD_FILTER_MAX_TESTS = 8, /* text-match and param-filter elements per prop-filter */
	EX_CARD_FILTER_MAX_TEXT = 1024, /* bytes of one text-match */
};

typedef enum { EX_COLLATION_UNICODE_CASEMAP, EX_COLLATION_ASCII_CASEMAP, EX_COLLATION_OCTET } ex_collation;
typedef enum { EX_MATCH_EQUALS, EX_MATCH_CONTAINS, EX_MATCH_STARTS_WITH, EX_MATCH_ENDS_WITH } ex_match_type;

typedef struct {
	char text[EX_CARD_FILTER_MAX_TEXT];
	ex_collation collation;
	ex_match_type match_type;
	bool negate;
} ex_card_text_match;

typedef struct {
	bool is_param;            /* a param-filter rather than a text-match */
	char parameter[EX_VCARD_MAX_NAME + 1];
	bool is_not_defined;      /* param-filter with is-not-defined */
	bool has_text_match;      /* param-filter with a text-match */
	ex_card_text_match match;
} ex_card_filter_test;

typedef struct {
	char name[EX_VCARD_MAX_NAME + 1]; /* property name, upper case */
	bool is_not_defined;
	bool allof;
	size_t test_count;
	ex_card_filter_test tests[EX_CARD_FILTER_MAX_TESTS];
} ex_card_prop_filter;

typedef struct {
	bool allof;
	size_t count;
	ex_card_prop_filter filters[EX_CARD_FILTER_MAX_PROP_FILTERS];
} ex_card_filter;

typedef enum {
	EX_CARD_FILTER_OK = 0,
	EX_CARD_FILTER_INVALID,               /* 400 */
	EX_CARD_FILTER_UNSUPPORTED_COLLATION, /* 403 CARDDAV:supported-collation */
	EX_CARD_FILTER_UNSUPPORTED,           /* 403 CARDDAV:supported-filter */
} ex_card_filter_status;

/* Reads the CARDDAV:filter element FILTER (NULL: match everything). */
ex_card_filter_status ex_card_filter_parse(const xmlNode *filter, ex_card_filter *out, char *err, size_t errlen);

bool ex_card_filter_matches(const ex_card_filter *filter, const ex_vcard *card);

/* Compares VALUE with MATCH under its collation and match type (negate ignored). */
bool ex_card_text_matches(const ex_card_text_match *match, const char *value, size_t length);

#endif
