/*
 * JWS signature verification with OpenSSL 3 EVP (RFC 7518 section 3).
 *
 * RS*: RSASSA-PKCS1-v1_5, the signature exactly as long as the modulus.
 * PS256: RSASSA-PSS with SHA-256, MGF1 with SHA-256 and a salt as long as
 * the digest (RFC 7518 section 3.5).
 * ES*: the JWS signature is R||S, each exactly the curve's field size
 * (RFC 7518 section 3.4); it is converted to the DER ECDSA-Sig-Value that
 * EVP expects.
 * The caller has already checked that the key's type fits the algorithm.
 */
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

#include "authclient_internal.h"

/* DER of an ECDSA P-384 signature: at most 2 + 2 * (2 + 1 + 48) bytes. */
#define MAX_ECDSA_DER_BYTES 112

/* Converts raw R||S to DER. Returns the DER length or -1. */
static int ecdsa_raw_to_der(const unsigned char *sig, size_t sig_len,
                            unsigned char *der, size_t der_cap)
{
    size_t half = sig_len / 2;
    BIGNUM *r = BN_bin2bn(sig, (int)half, NULL);
    BIGNUM *s = BN_bin2bn(sig + half, (int)half, NULL);
    ECDSA_SIG *esig = ECDSA_SIG_new();
    if (!r || !s || !esig || !ECDSA_SIG_set0(esig, r, s)) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(esig);
        return -1;
    }
    /* esig owns r and s now. */
    int len = i2d_ECDSA_SIG(esig, NULL);
    if (len <= 0 || (size_t)len > der_cap) {
        ECDSA_SIG_free(esig);
        return -1;
    }
    unsigned char *p = der;
    len = i2d_ECDSA_SIG(esig, &p);
    ECDSA_SIG_free(esig);
    return len;
}

static size_t ecdsa_raw_length(ex_auth_alg alg)
{
    if (alg == EX_AUTH_ALG_ES256)
        return 64;
    if (alg == EX_AUTH_ALG_ES384)
        return 96;
    return 0;
}

/* Sets RSA padding on the verification context. */
static bool set_rsa_padding(EVP_PKEY_CTX *pctx, ex_auth_alg alg, const EVP_MD *md)
{
    if (alg != EX_AUTH_ALG_PS256)
        return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) > 0;
    return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0 &&
           EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) > 0 &&
           EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) > 0;
}

ex_auth_status ex_auth_verify_signature(ex_auth_alg alg, EVP_PKEY *pkey,
                                        const unsigned char *input,
                                        size_t input_len,
                                        const unsigned char *sig,
                                        size_t sig_len)
{
    const EVP_MD *md = ex_auth_alg_digest(alg);
    if (!md)
        return EX_AUTH_ERR_INTERNAL;

    unsigned char der[MAX_ECDSA_DER_BYTES];
    bool is_ec = ex_auth_alg_key_type(alg) != EX_AUTH_KEY_RSA;
    if (is_ec) {
        if (sig_len != ecdsa_raw_length(alg))
            return EX_AUTH_ERR_SIGNATURE;
        int der_len = ecdsa_raw_to_der(sig, sig_len, der, sizeof der);
        if (der_len < 0)
            return EX_AUTH_ERR_INTERNAL;
        sig = der;
        sig_len = (size_t)der_len;
    } else if (sig_len != (size_t)EVP_PKEY_get_size(pkey)) {
        return EX_AUTH_ERR_SIGNATURE;
    }

    ex_auth_status status = EX_AUTH_ERR_INTERNAL;
    EVP_PKEY_CTX *pctx = NULL;
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    if (!mctx || EVP_DigestVerifyInit(mctx, &pctx, md, NULL, pkey) != 1)
        goto done;
    if (!is_ec && !set_rsa_padding(pctx, alg, md))
        goto done;

    /* 1: valid; 0: invalid; negative: malformed signature or an error.
     * The input to this function is attacker-controlled, so anything but
     * 1 is a signature failure. */
    int rc = EVP_DigestVerify(mctx, sig, sig_len, input, input_len);
    status = rc == 1 ? EX_AUTH_OK : EX_AUTH_ERR_SIGNATURE;

done:
    EVP_MD_CTX_free(mctx);
    /* Failed verifications leave entries on this thread's error queue. */
    if (status != EX_AUTH_OK)
        ERR_clear_error();
    return status;
}
