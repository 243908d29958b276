/* SPDX-License-Identifier: MIT */
#include "sw_test.h"
#include "common/common.h"
#include "server/server.h"

#include <string.h>

SW_TEST(server_hmac__rfc4231_case_2)
{
  char hex[65];

  /* RFC 4231 4.3: key "Jefe", data "what do ya want for nothing?" */
  sw_hmac_sha256_hex(hex, "Jefe", 4, "what do ya want for nothing?", 28);
  SW_ASSERT_STR_EQ(hex, "5bdcc146bf60754e6a042426089575c75a003f089d27"
                        "39839dec58b964ec3843");
}

SW_TEST(server_signature__controlshift_header)
{
  const char *body = "{\"type\":\"data.full_table_exported\"}";
  char hex[65], header[80], upper[80];
  size_t i;

  sw_hmac_sha256_hex(hex, "s3cr3t", 6, body, strlen(body));
  snprintf(header, sizeof(header), "sha256:%s", hex);
  SW_ASSERT(sw_server_signature_ok("s3cr3t", body, strlen(body), header));
  /* hex digits in upper case are the same signature */
  snprintf(upper, sizeof(upper), "%s", header);
  for (i = 7; upper[i]; i++)
    if (upper[i] >= 'a' && upper[i] <= 'f')
      upper[i] = (char)(upper[i] - 'a' + 'A');
  SW_ASSERT(sw_server_signature_ok("s3cr3t", body, strlen(body), upper));
  /* the wrong secret, a changed body, no prefix, a cut or missing header */
  SW_ASSERT(!sw_server_signature_ok("secret", body, strlen(body), header));
  SW_ASSERT(!sw_server_signature_ok("s3cr3t", body, strlen(body) - 1,
                                    header));
  SW_ASSERT(!sw_server_signature_ok("s3cr3t", body, strlen(body), hex));
  header[70] = '\0';
  SW_ASSERT(!sw_server_signature_ok("s3cr3t", body, strlen(body), header));
  SW_ASSERT(!sw_server_signature_ok("s3cr3t", body, strlen(body), NULL));
}

SW_TEST(server_event_name__stable_and_separated)
{
  const char *a[] = {"data.full_table_exported", "petitions", "j1",
                     "https://b.s3.amazonaws.com/x.csv"};
  const char *b[] = {"data.full_table_exported", "petition", "sj1",
                     "https://b.s3.amazonaws.com/x.csv"};
  char n1[80], n2[80], n3[80];

  sw_server_event_name(n1, "cs", a, 4);
  sw_server_event_name(n2, "cs", a, 4);
  sw_server_event_name(n3, "cs", b, 4);
  SW_ASSERT_STR_EQ(n1, n2);
  /* moving a character between parts is another event */
  SW_ASSERT(strcmp(n1, n3) != 0);
  SW_ASSERT_EQ(strlen(n1), 35);
  SW_ASSERT(!strncmp(n1, "cs-", 3));
}
