/* Fuzzes the JOSE and JCS parsers: JWE decryption (flattened, general and
 * compact), JWS/JWT verification, JWK import and thumbprints, and JCS over
 * any JSON.  The keys are fixed test keys so that seeds made for them reach
 * the paths after key unwrapping and signature checks. */
#include "veil/crypto.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* Test-only keys (no secret value): P-256, RSA-2048, Ed25519. */
static const char ec_jwk[] = "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"e5YLLNbeUyeaQsIyhNXWTXA51WXvp0yhfpvNIQfvhRU\","
                             "\"y\":\"a90ZyeiJ8wfVqbslnIO5rnzxw6xc7CXcTW4k-Qs4-38\",\"d\":\"m29NF9fvXkWxp6kg24kUx1d92q"
                             "EyhePfSUihjXFWYwU\"}";
static const char rsa_jwk[] = "{\"kty\":\"RSA\",\"n\":\"yfHMWpetVf1FvQDg_NFYw_-vHdD4HTaJwIC2a_BbLGreRpniAmiiklXdMPIKyQo"
                              "NlQWps4JHZWGVtqYuR9igiNlfyNro3hm2eZmp2WeSQX2Ifekp5Qm6UlvySgnPCdOCYxlJHAV3uCuemXNGf0ro_nV"
                              "c_1splf2vvMlmaaSZalyQriSlpijsApXIzzG4sf5XymeZ_AlmM6rtmpFnXv6HF4QDL-PNU9N1AfM6o7KgDrDEUUt"
                              "d44fcC5GFfauCLuy_quKMZZn_89dniPJwPHnmPbUAzTJc78jaVfdg0yr9DZfB3qvNUvLjFxDnzGV8apk120AKf42"
                              "0P8Ug6dxEFMwjyw\",\"e\":\"AQAB\",\"d\":\"FpZIbz41dtTgEXlBMOswvKS4T03vCm7DWTgsRIYQNIzJdWf"
                              "DIIDX5M_cxcY0uvK4Z9lydy-pplG-tJIBbYDHHTdZoCC4A2t905EChIdck52jqsLtsClL4T1ZLBB3y0IQfIljT30"
                              "0ZvGIs4zHWaJ6d_I5kh1-A8GUVTnI43peZx0Q0LEJB_glPOEMafD3hmh4SZXheC3_dJ3LYuVTDgCMIyqfHBbiSrO"
                              "T1rOOYSo_WNKLI7A6OweAL0Os_YuvPz95XqG3Sr60guBZbNyMTJnDVUfkR8R6mXkebbHjg-SY57WIT5PrdwmOY1D"
                              "dV20h8UdxysTu_KYNmQl_LSqdHRw0uQ\",\"p\":\"5c6OmKcJjbcIJilmcQjZsETmyh0WFMlbkFVi9a7a4HJZtD"
                              "K8Sqp5rb8LshOVvts5udB3E_yX95j9Ls0ttR2Wv2iCCvvq9MpntvnLpyibBg02THOxbBKKth2cIUqXQOtEYkbDJ_"
                              "DfcR8UAzogyvs6XKo8OCrGLgg-X6fVWh0mTgk\",\"q\":\"4PZB1ESWG-65-RXXPh0ClzXA9z1u4X8sntnniz84"
                              "U7dRGYM6e_P-eTmlukgK10e2lMENuunf0F_XeLEnmRRiUzxEoIabXdSR0UmT4gmSVf4yP12Uq_7VCOj95-8QX-rx"
                              "pije9vesQ6tm588kXpqTXbWnpdQ-0o1a5PNWqkZ72DM\",\"dp\":\"239ouivJtz9cnD6s50hBzNhy7BfOEHqnZ"
                              "3v3Mp0Z2InAXpqbOGIOKMMyo5uLSynPwEh6hG-eo1LQeVRm1Ph3FUn39A_cwoVVfPKo73ecYrJZ67oRfB1Vuk8b4"
                              "ryBLfPJdGkMXGj4su6xScfKrLY7b2j2bduFQVCEaw8-fH0dKik\",\"dq\":\"cJQsO2sbZ90fKnz4m3fvHPbkm5"
                              "Yd0DFRhilsS24W5SY_KrJWaUOgnM_xlPiKnFOiFm1KTrjNrbzY2uhk9aGS1y649VCHnfxMAN1-aUb6-ZfdU4KkbT"
                              "J5MB1RO2mS2z17MvkPI66sgazcMbOi8skOaH4I6N7_lWTyENOKEmp1fas\",\"qi\":\"cYZDK9R6_x4C0sLXQLi"
                              "P7j5fTmyRdQ-F98H5fGamrZ78k5sFZdM4Ryzf_5Tc5G6N_bswaFCzZ2KFlWvsLq-OdRumbvoTUd3EAZ-Ot0HsyOv"
                              "AbYDeFJdKy6hqP-OY3BWKRY1d3Lgkz3qLFvnewlqdVgqdXBaKvg5RUxZEqj-UGYc\"}";
static const char ed_jwk[] = "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"uqSDuWynAmMF8JydG6eAVqjEUpKnp4vL75PS9XImYuU"
                             "\",\"d\":\"3LD6Aj362koVus3ocIU3Xv-32J0BlTbBz1uf5vm70NA\"}";

static EVP_PKEY *ec_key, *rsa_key, *ed_key;

static EVP_PKEY *
load (const char *text)
{
  json_t *j = json_loads (text, 0, NULL);
  EVP_PKEY *pk = veil_jwk_to_pkey (j, NULL);
  json_decref (j);
  if (!pk)
    abort ();
  return pk;
}

static void
try_jwe (const json_t *j)
{
  EVP_PKEY *ks[] = { ec_key, rsa_key };
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (ks); i++)
    {
      veil_error_t *err = NULL;
      uint8_t *pt = NULL;
      size_t n = 0;
      if (veil_jwe_decrypt (j, ks[i], &pt, &n, &err) == 0)
        veil_secret_free (pt);
      veil_error_free (err);
    }
}

static void
try_json (const uint8_t *data, size_t size)
{
  json_t *j = veil_json_parse (data, size, 1 << 20, NULL);
  if (!j)
    return;
  veil_error_t *err = NULL;
  free (veil_jcs (j, &err));
  veil_error_free (err);
  err = NULL;
  EVP_PKEY *pk = veil_jwk_to_pkey (j, &err);
  veil_error_free (err);
  if (pk)
    {
      json_t *back = veil_jwk_from_pkey (pk, true, NULL);
      json_decref (back);
      EVP_PKEY_free (pk);
    }
  free (veil_jwk_thumbprint (j, NULL));
  try_jwe (j);
  json_decref (j);
}

static void
try_compact (const uint8_t *data, size_t size)
{
  char *s = xmemdup (data, size);
  if (strlen (s) != size)
    {
      free (s);
      return;
    }
  EVP_PKEY *ks[] = { ec_key, rsa_key, ed_key };
  for (size_t i = 0; i < VEIL_ARRAY_SIZE (ks); i++)
    {
      veil_error_t *err = NULL;
      json_t *hdr = NULL;
      uint8_t *payload = NULL;
      size_t n = 0;
      if (veil_jws_verify (s, ks[i], &hdr, &payload, &n, &err) == 0)
        {
          json_decref (hdr);
          free (payload);
        }
      veil_error_free (err);
      err = NULL;
      json_decref (veil_jwt_verify (s, ks[i], 1700000000, 60, &err));
      veil_error_free (err);
    }
  json_t *str = json_stringn_nocheck (s, size);
  try_jwe (str);
  json_decref (str);
  free (s);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (!ec_key)
    {
      ec_key = load (ec_jwk);
      rsa_key = load (rsa_jwk);
      ed_key = load (ed_jwk);
    }
  try_json (data, size);
  try_compact (data, size);
  return 0;
}
