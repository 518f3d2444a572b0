/*
 * Feeds arbitrary bytes to the vCard parser, runs a text-match over every
 * property value and parameter it returns, as addressbook-query does with
 * stored vCards, and converts each card to vCard 3.0 and 4.0.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "card_filter.h"
#include "vcard.h"
#include "vcard_convert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	ex_vcard_list *list = ex_vcard_parse((const char *)data, size, err, sizeof(err));
	if (list == NULL)
		return 0;

	ex_card_text_match match = { .text = "ção", .collation = EX_COLLATION_UNICODE_CASEMAP, .match_type = EX_MATCH_CONTAINS };
	for (size_t i = 0; i < ex_vcard_count(list); i++) {
		const ex_vcard *card = ex_vcard_at(list, i);
		size_t length;
		free(ex_vcard_convert(card, "3.0", &length));
		free(ex_vcard_convert(card, "4.0", &length));
		for (size_t k = 0; k < card->property_count; k++) {
			const ex_vcard_property *property = &card->properties[k];
			ex_card_text_matches(&match, property->value, property->value_length);
			for (size_t p = 0; p < property->parameter_count; p++)
				ex_card_text_matches(&match, property->parameters[p].value, strlen(property->parameters[p].value));
		}
	}
	ex_vcard_list_free(list);
	return 0;
}
