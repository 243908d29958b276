/* SPDX-License-Identifier: MIT */
/* Ids and digests through OpenSSL's libcrypto (no hand-written hashes). */
#include "common.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sw_uuid_v4(char *out)
{
  unsigned char b[16];

  if (RAND_bytes(b, sizeof(b)) != 1) {
    fprintf(stderr, "stepwise: no randomness for a UUID\n");
    abort();
  }
  b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
  b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
  snprintf(out, 37,
           "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
           b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10],
           b[11], b[12], b[13], b[14], b[15]);
}

void sw_sha256_hex(char out[65], const void *data, size_t len)
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0, i;

  EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
  for (i = 0; i < n && i < 32; i++)
    snprintf(out + 2 * i, 3, "%02x", md[i]);
  out[64] = '\0';
}

void sw_hmac_sha256_hex(char out[65], const void *key, size_t key_len,
                        const void *data, size_t len)
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0, i;

  HMAC(EVP_sha256(), key, (int)key_len, data, len, md, &n);
  for (i = 0; i < n && i < 32; i++)
    snprintf(out + 2 * i, 3, "%02x", md[i]);
  out[64] = '\0';
}

bool sw_const_time_equal(const void *a, const void *b, size_t n)
{
  return CRYPTO_memcmp(a, b, n) == 0;
}
