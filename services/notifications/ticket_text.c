/*
 * Ticket generation and the formats around it. The Redis calls that store
 * and redeem tickets live in ticket_store.c.
 */
#include "ticket_text.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

static const char base64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int ex_notify_ticket_generate(char out[EX_NOTIFY_TICKET_LENGTH + 1])
{
	unsigned char bytes[EX_NOTIFY_TICKET_BYTES + 1] = { 0 };
	size_t length = 0;

	if (RAND_bytes(bytes, EX_NOTIFY_TICKET_BYTES) != 1)
		return -1;
	/* 32 bytes are 256 bits: 42 full sextets and 4 bits padded with zeros. */
	for (size_t bit = 0; bit < EX_NOTIFY_TICKET_BYTES * 8; bit += 6) {
		size_t byte = bit / 8, shift = bit % 8;
		unsigned value = ((unsigned)bytes[byte] << 8 | bytes[byte + 1]) >> (10 - shift);
		out[length++] = base64url[value & 0x3F];
	}
	out[length] = '\0';
	return length == EX_NOTIFY_TICKET_LENGTH ? 0 : -1;
}

int ex_notify_ticket_valid(const char *text)
{
	if (text == NULL || strlen(text) != EX_NOTIFY_TICKET_LENGTH)
		return 0;
	return strspn(text, base64url) == EX_NOTIFY_TICKET_LENGTH;
}

int ex_notify_ticket_key(const char *ticket, char out[EX_NOTIFY_TICKET_KEY_MAX])
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int digest_length = 0;
	static const char prefix[] = "expresso:notify:ticket:";

	if (!ex_notify_ticket_valid(ticket) ||
	    EVP_Digest(ticket, strlen(ticket), digest, &digest_length, EVP_sha256(), NULL) != 1)
		return -1;
	if (sizeof(prefix) - 1 + 2 * digest_length >= EX_NOTIFY_TICKET_KEY_MAX)
		return -1;
	memcpy(out, prefix, sizeof(prefix) - 1);
	char *hex = out + sizeof(prefix) - 1;
	for (unsigned i = 0; i < digest_length; i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
	return 0;
}

/* Parses 1 to 18 decimal digits (always within int64_t). */
static int parse_seconds(const char *text, size_t length, int64_t *out)
{
	int64_t value = 0;
	if (length == 0 || length > 18)
		return -1;
	for (size_t i = 0; i < length; i++) {
		if (text[i] < '0' || text[i] > '9')
			return -1;
		value = value * 10 + (text[i] - '0');
	}
	*out = value;
	return 0;
}

int ex_notify_ticket_owner_parse(const char *value, size_t length, char tenant[EX_NOTIFY_MAX_TOKEN + 1],
				 char user[EX_NOTIFY_MAX_TOKEN + 1], int64_t *expires_at)
{
	const char *newline = memchr(value, '\n', length);
	if (newline == NULL)
		return -1;
	const char *last = memchr(newline + 1, '\n', length - (size_t)(newline + 1 - value));
	if (last == NULL || parse_seconds(last + 1, length - (size_t)(last + 1 - value), expires_at) != 0)
		return -1;
	size_t tenant_length = (size_t)(newline - value);
	size_t user_length = (size_t)(last - newline - 1);
	if (tenant_length == 0 || tenant_length > EX_NOTIFY_MAX_TOKEN || user_length == 0 ||
	    user_length > EX_NOTIFY_MAX_TOKEN)
		return -1;
	memcpy(tenant, value, tenant_length);
	tenant[tenant_length] = '\0';
	memcpy(user, newline + 1, user_length);
	user[user_length] = '\0';
	return ex_notify_token_valid(tenant) && ex_notify_token_valid(user) ? 0 : -1;
}
