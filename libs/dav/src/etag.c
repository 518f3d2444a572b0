/* Strong ETags of stored resources: the quoted hex of the SHA-256 of their bytes. */
#include "expresso/dav_http.h"

#include <openssl/evp.h>

void ex_dav_compute_etag(const char *data, size_t length, char *out)
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int digest_length = 0;
	static const char hex[] = "0123456789abcdef";

	EVP_Digest(data, length, digest, &digest_length, EVP_sha256(), NULL);
	if (digest_length > 32)
		digest_length = 32;
	out[0] = '"';
	for (unsigned int i = 0; i < digest_length; i++) {
		out[1 + 2 * i] = hex[digest[i] >> 4];
		out[2 + 2 * i] = hex[digest[i] & 0x0f];
	}
	out[1 + 2 * digest_length] = '"';
	out[2 + 2 * digest_length] = '\0';
}
