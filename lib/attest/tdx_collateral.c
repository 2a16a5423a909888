/* TDX collateral: Intel PCS TCB info (v3, id "TDX") and QE identity (v2,
 * id "TD_QE"), their signatures by the Intel SGX TCB Signing certificate,
 * and the TCB status of the platform and of the quoting enclave.
 *
 * References: Intel PCS API v4 "Get TDX TCB Info" / "Get TDX QE Identity"
 * (response body {"tcbInfo": {...}, "signature": hex}: the signature is
 * ECDSA P-256/SHA-256, r||s in hex, over the exact bytes of the tcbInfo
 * value as served), Intel SGX PCK Certificate and CRL Profile §1.3.5 (SGX
 * extensions) and the TCB evaluation rules of Intel's Quote Verification
 * Library for TDX. */
#include <stdio.h>
#include <time.h>
#include <openssl/x509v3.h>
#include "tdx_internal.h"

#define COLLATERAL_MAX (1024 * 1024)
#define JSON_MAX_DEPTH 64

/* ---- PCK certificate SGX extensions ------------------------------------ */

#define SGX_EXT "1.2.840.113741.1.13.1"

VEIL_DEFINE_CLEANUP (ASN1_OBJECT *, ASN1_OBJECT_free)
static inline void
asn1_seq_free (STACK_OF (ASN1_TYPE) * s)
{
  sk_ASN1_TYPE_pop_free (s, ASN1_TYPE_free);
}
VEIL_DEFINE_CLEANUP (STACK_OF (ASN1_TYPE) *, asn1_seq_free)
#define _cleanup_asn1_seq_ _cleanup_ (asn1_seq_freep)

/* A SEQUENCE held whole (tag and length included) by an ASN1_TYPE. */
static STACK_OF (ASN1_TYPE) * asn1_seq (const ASN1_TYPE *t)
{
  if (!t || t->type != V_ASN1_SEQUENCE)
    return NULL;
  const unsigned char *p = t->value.sequence->data;
  return d2i_ASN1_SEQUENCE_ANY (NULL, &p, t->value.sequence->length);
}

/* Each member is SEQUENCE { OID, value }; returns the OID's last arc under
 * prefix, or -1. */
static long
member_arc (const ASN1_TYPE *oid, const char *prefix)
{
  char txt[80];
  if (!oid || oid->type != V_ASN1_OBJECT || OBJ_obj2txt (txt, sizeof (txt), oid->value.object, 1) <= 0)
    return -1;
  size_t n = strlen (prefix);
  if (strncmp (txt, prefix, n) != 0 || txt[n] != '.')
    return -1;
  char *end;
  long arc = strtol (txt + n + 1, &end, 10);
  return *end ? -1 : arc;
}

static bool
octets (const ASN1_TYPE *v, uint8_t *out, int n)
{
  if (!v || v->type != V_ASN1_OCTET_STRING || v->value.octet_string->length != n)
    return false;
  memcpy (out, v->value.octet_string->data, (size_t) n);
  return true;
}

static bool
small_int (const ASN1_TYPE *v, int64_t max, int64_t *out)
{
  return v && v->type == V_ASN1_INTEGER && ASN1_INTEGER_get_int64 (out, v->value.integer) == 1 && *out >= 0
         && *out <= max;
}

/* TCB: SEQUENCE of { OID .2.N, value }: N = 1..16 SGX TCB components,
 * 17 PCESVN, 18 CPUSVN. */
static int
pck_tcb (const ASN1_TYPE *tcb, tdx_pck_info_t *out, veil_error_t **err)
{
  _cleanup_asn1_seq_ STACK_OF (ASN1_TYPE) *seq = asn1_seq (tcb);
  uint32_t seen = 0;
  for (int i = 0; seq && i < sk_ASN1_TYPE_num (seq); i++)
    {
      _cleanup_asn1_seq_ STACK_OF (ASN1_TYPE) *m = asn1_seq (sk_ASN1_TYPE_value (seq, i));
      if (!m || sk_ASN1_TYPE_num (m) != 2)
        continue;
      long arc = member_arc (sk_ASN1_TYPE_value (m, 0), SGX_EXT ".2");
      const ASN1_TYPE *v = sk_ASN1_TYPE_value (m, 1);
      int64_t x;
      if (arc >= 1 && arc <= 16 && small_int (v, 255, &x))
        out->comp_svn[arc - 1] = (uint8_t) x;
      else if (arc == 17 && small_int (v, 65535, &x))
        out->pcesvn = (uint16_t) x;
      else if (arc == 18 && octets (v, out->cpusvn, 16))
        ;
      else
        continue;
      seen |= 1u << arc;
    }
  if (seen != 0x7fffeu)
    return veil_error_set (err, EBADMSG, "tdx: PCK certificate: SGX TCB extension incomplete");
  return 0;
}

int
tdx_pck_info (X509 *pck, tdx_pck_info_t *out, veil_error_t **err)
{
  memset (out, 0, sizeof (*out));
  _cleanup_ (ASN1_OBJECT_freep) ASN1_OBJECT *obj = OBJ_txt2obj (SGX_EXT, 1);
  int idx = obj ? X509_get_ext_by_OBJ (pck, obj, -1) : -1;
  if (idx < 0)
    return veil_error_set (err, EBADMSG, "tdx: PCK certificate has no SGX extension (" SGX_EXT ")");
  ASN1_OCTET_STRING *os = X509_EXTENSION_get_data (X509_get_ext (pck, idx));
  const unsigned char *p = os->data;
  _cleanup_asn1_seq_ STACK_OF (ASN1_TYPE) *seq = d2i_ASN1_SEQUENCE_ANY (NULL, &p, os->length);
  if (!seq)
    return veil_error_set (err, EBADMSG, "tdx: PCK certificate: SGX extension is not a DER SEQUENCE");
  bool fmspc = false, pceid = false, tcb = false;
  for (int i = 0; i < sk_ASN1_TYPE_num (seq); i++)
    {
      _cleanup_asn1_seq_ STACK_OF (ASN1_TYPE) *m = asn1_seq (sk_ASN1_TYPE_value (seq, i));
      if (!m || sk_ASN1_TYPE_num (m) != 2)
        continue;
      long arc = member_arc (sk_ASN1_TYPE_value (m, 0), SGX_EXT);
      const ASN1_TYPE *v = sk_ASN1_TYPE_value (m, 1);
      if (arc == 2)
        {
          if (pck_tcb (v, out, err) < 0)
            return -EBADMSG;
          tcb = true;
        }
      else if (arc == 3)
        pceid = octets (v, out->pceid, 2);
      else if (arc == 4)
        fmspc = octets (v, out->fmspc, 6);
    }
  if (!fmspc || !pceid || !tcb)
    return veil_error_set (err, EBADMSG, "tdx: PCK certificate: SGX extension lacks %s",
                           !fmspc ? "FMSPC" : !pceid ? "PCE-ID"
                                                     : "TCB");
  return 0;
}

/* ---- the signed bytes of a PCS document ---------------------------------- */

static size_t
skip_ws (const char *t, size_t len, size_t i)
{
  while (i < len && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r'))
    i++;
  return i;
}

/* t[i] == '"'; returns the index after the closing quote, or 0. */
static size_t
skip_string (const char *t, size_t len, size_t i)
{
  for (i++; i < len; i++)
    {
      if (t[i] == '\\')
        i++;
      else if (t[i] == '"')
        return i + 1;
    }
  return 0;
}

/* Returns the index after the value starting at i, or 0.  Only finds the
 * extent: the whole document is validated by the JSON parser as well. */
static size_t
skip_value (const char *t, size_t len, size_t i)
{
  if (i >= len)
    return 0;
  if (t[i] == '"')
    return skip_string (t, len, i);
  if (t[i] != '{' && t[i] != '[')
    {
      size_t s = i;
      while (i < len && !strchr (",}] \t\r\n", t[i]) && t[i])
        i++;
      return i > s ? i : 0;
    }
  int depth = 0;
  while (i < len)
    {
      if (t[i] == '"')
        {
          if (!(i = skip_string (t, len, i)))
            return 0;
          continue;
        }
      if (t[i] == '{' || t[i] == '[')
        {
          if (++depth > JSON_MAX_DEPTH)
            return 0;
        }
      else if ((t[i] == '}' || t[i] == ']') && --depth == 0)
        return i + 1;
      i++;
    }
  return 0;
}

int
tdx_json_member_span (const char *t, size_t len, const char *member, const char **start, size_t *n,
                      veil_error_t **err)
{
  size_t i = skip_ws (t, len, 0), mlen = strlen (member);
  *start = NULL;
  if (i >= len || t[i] != '{')
    return veil_error_set (err, EBADMSG, "tdx: collateral: not a JSON object");
  for (i = skip_ws (t, len, i + 1); i < len && t[i] != '}';)
    {
      size_t k = i, v, e;
      if (t[k] != '"' || !(i = skip_string (t, len, k)))
        return veil_error_set (err, EBADMSG, "tdx: collateral: malformed member name");
      bool match = i - k - 2 == mlen && !memcmp (t + k + 1, member, mlen);
      i = skip_ws (t, len, i);
      if (i >= len || t[i] != ':')
        return veil_error_set (err, EBADMSG, "tdx: collateral: missing ':'");
      v = skip_ws (t, len, i + 1);
      if (!(e = skip_value (t, len, v)))
        return veil_error_set (err, EBADMSG, "tdx: collateral: malformed value");
      if (match && *start)
        return veil_error_set (err, EBADMSG, "tdx: collateral: member '%s' appears twice", member);
      if (match)
        {
          *start = t + v;
          *n = e - v;
        }
      i = skip_ws (t, len, e);
      if (i < len && t[i] == ',')
        i = skip_ws (t, len, i + 1);
    }
  if (!*start)
    return veil_error_set (err, EBADMSG, "tdx: collateral: no '%s' member", member);
  return 0;
}

/* ---- TCB evaluation -------------------------------------------------- */

/* Worst last (Intel QVL's order when statuses are combined). */
static const char *const statuses[] = {
  "UpToDate",
  "SWHardeningNeeded",
  "ConfigurationNeeded",
  "ConfigurationAndSWHardeningNeeded",
  "OutOfDate",
  "OutOfDateConfigurationNeeded",
  "Revoked",
};

static int
status_rank (const char *s)
{
  for (size_t i = 0; s && i < VEIL_ARRAY_SIZE (statuses); i++)
    if (!strcmp (s, statuses[i]))
      return (int) i;
  return -1;
}

static const char *
status_worse (const char *a, const char *b)
{
  return status_rank (a) >= status_rank (b) ? a : b;
}

static bool
json_uint (const json_t *o, const char *key, int64_t max, int64_t *out)
{
  json_t *v = json_object_get (o, key);
  if (!json_is_integer (v) || json_integer_value (v) < 0 || json_integer_value (v) > max)
    return false;
  *out = json_integer_value (v);
  return true;
}

static int
json_hex (const json_t *o, const char *key, uint8_t *out, size_t n, const char *what, veil_error_t **err)
{
  const char *s = veil_json_str (o, key);
  if (!s || strlen (s) != 2 * n || veil_hex_decode_exact (s, out, n, NULL) < 0)
    return veil_error_set (err, EBADMSG, "tdx: collateral: %s: '%s' is not %zu bytes of hex", what, key, n);
  return 0;
}

/* A tcbLevel's 16 components each <= the platform's value. */
static int
components_le (const json_t *comps, const uint8_t *have, size_t from, bool *le, veil_error_t **err)
{
  if (!json_is_array (comps) || json_array_size (comps) != 16)
    return veil_error_set (err, EBADMSG, "tdx: collateral: tcbInfo: a TCB level lacks 16 components");
  *le = true;
  for (size_t i = 0; i < 16; i++)
    {
      int64_t svn;
      if (!json_uint (json_array_get (comps, i), "svn", 255, &svn))
        return veil_error_set (err, EBADMSG, "tdx: collateral: tcbInfo: component svn out of range");
      if (i >= from && svn > have[i])
        *le = false;
    }
  return 0;
}

/* First level (PCS sorts them newest first) whose isvsvn <= svn. */
static const char *
isvsvn_level (const json_t *levels, int64_t svn)
{
  size_t i;
  json_t *l;
  json_array_foreach (levels, i, l)
  {
    int64_t x;
    if (json_uint (json_object_get (l, "tcb"), "isvsvn", 65535, &x) && x <= svn)
      return veil_json_str (l, "tcbStatus");
  }
  return NULL;
}

/* The TDX module's signer and attributes against a module identity
 * (tcbInfo "tdxModule" or one of "tdxModuleIdentities"). */
static int
module_identity_check (const json_t *m, const uint8_t *body, const char *id, veil_error_t **err)
{
  uint8_t signer[48], attr[8], mask[8];
  if (json_hex (m, "mrsigner", signer, 48, id, err) < 0 || json_hex (m, "attributes", attr, 8, id, err) < 0
      || json_hex (m, "attributesMask", mask, 8, id, err) < 0)
    return -EBADMSG;
  if (memcmp (signer, body + TDX_B_MRSIGNERSEAM, 48) != 0)
    return veil_error_set (err, EACCES, "tdx: collateral: TDX module %s: mrsignerseam mismatch", id);
  for (int k = 0; k < 8; k++)
    if ((body[TDX_B_SEAM_ATTRIBUTES + k] & mask[k]) != attr[k])
      return veil_error_set (err, EACCES, "tdx: collateral: TDX module %s: seam_attributes mismatch", id);
  return 0;
}

/* TDX 1.5: the module's own identity is evaluated separately, selected by
 * its major version tee_tcb_svn[1] ("TDX_%02X"); TDX 1.0 modules (major
 * version 0) are only checked against "tdxModule". */
static int
tdx_module_eval (const json_t *tcbinfo, const uint8_t *body, const char **status, veil_error_t **err)
{
  const uint8_t *svn = body + TDX_B_TEE_TCB_SVN;
  *status = NULL;
  if (svn[1] == 0)
    {
      json_t *m = json_object_get (tcbinfo, "tdxModule");
      return m ? module_identity_check (m, body, "tdxModule", err) : 0;
    }
  char id[16];
  snprintf (id, sizeof (id), "TDX_%02X", svn[1]);
  json_t *ids = json_object_get (tcbinfo, "tdxModuleIdentities"), *m = NULL, *it;
  size_t i;
  json_array_foreach (ids, i, it) if (!strcmp (veil_json_str (it, "id") ?: "", id)) m = it;
  if (!m)
    return veil_error_set (err, EACCES, "tdx: collateral: tcbInfo has no TDX module identity %s", id);
  if (module_identity_check (m, body, id, err) < 0)
    return -EACCES;
  if (!(*status = isvsvn_level (json_object_get (m, "tcbLevels"), svn[0])) || status_rank (*status) < 0)
    return veil_error_set (err, EACCES, "tdx: collateral: TDX module %s: no TCB level for isvsvn %u", id, svn[0]);
  return 0;
}

int
tdx_tcb_eval (const json_t *tcbinfo, const tdx_pck_info_t *pck, const uint8_t *body, json_t *claims,
              veil_error_t **err)
{
  uint8_t fmspc[6], pceid[2];
  if (!json_is_object (tcbinfo) || strcmp (veil_json_str (tcbinfo, "id") ?: "", "TDX") != 0)
    return veil_error_set (err, EBADMSG, "tdx: collateral: tcbInfo id is not \"TDX\"");
  if (json_hex (tcbinfo, "fmspc", fmspc, 6, "tcbInfo", err) < 0 || json_hex (tcbinfo, "pceId", pceid, 2, "tcbInfo", err) < 0)
    return -EBADMSG;
  if (memcmp (fmspc, pck->fmspc, 6) != 0)
    {
      _cleanup_free_ char *have = veil_hex_encode (pck->fmspc, 6);
      return veil_error_set (err, EACCES, "tdx: collateral: FMSPC mismatch: PCK certificate has %s, tcbInfo is for %s",
                             have, veil_json_str (tcbinfo, "fmspc"));
    }
  if (memcmp (pceid, pck->pceid, 2) != 0)
    return veil_error_set (err, EACCES, "tdx: collateral: PCE ID mismatch between the PCK certificate and tcbInfo");

  const uint8_t *tee_svn = body + TDX_B_TEE_TCB_SVN;
  const char *module_status = NULL;
  if (tdx_module_eval (tcbinfo, body, &module_status, err) < 0)
    return -EACCES;

  json_t *levels = json_object_get (tcbinfo, "tcbLevels"), *l;
  size_t i;
  json_array_foreach (levels, i, l)
  {
    json_t *tcb = json_object_get (l, "tcb");
    int64_t pcesvn;
    bool sgx_le, tdx_le;
    if (!json_uint (tcb, "pcesvn", 65535, &pcesvn))
      return veil_error_set (err, EBADMSG, "tdx: collateral: tcbInfo: TCB level without pcesvn");
    if (components_le (json_object_get (tcb, "sgxtcbcomponents"), pck->comp_svn, 0, &sgx_le, err) < 0
        /* with a TDX module identity, tee_tcb_svn[0..1] were judged above */
        || components_le (json_object_get (tcb, "tdxtcbcomponents"), tee_svn, tee_svn[1] ? 2 : 0, &tdx_le, err) < 0)
      return -EBADMSG;
    if (!sgx_le || pcesvn > pck->pcesvn || !tdx_le)
      continue;
    const char *status = veil_json_str (l, "tcbStatus");
    if (status_rank (status) < 0)
      return veil_error_set (err, EBADMSG, "tdx: collateral: tcbInfo: unknown tcbStatus");
    if (module_status)
      {
        json_object_set_new (claims, "tdx_module_tcb_status", json_string (module_status));
        status = status_worse (status, module_status);
      }
    json_object_set_new (claims, "tcb_status", json_string (status));
    if (veil_json_str (l, "tcbDate"))
      json_object_set_new (claims, "tcb_date", json_string (veil_json_str (l, "tcbDate")));
    if (json_is_array (json_object_get (l, "advisoryIDs")))
      json_object_set (claims, "advisory_ids", json_object_get (l, "advisoryIDs"));
    return 0;
  }
  return veil_error_set (err, EACCES, "tdx: collateral: no tcbInfo TCB level matches the platform (TCB not supported)");
}

int
tdx_qe_identity_eval (const json_t *id, const uint8_t *qe, json_t *claims, veil_error_t **err)
{
  uint8_t signer[32], attr[16], mask[16], misc[4], misc_mask[4];
  int64_t prodid;
  if (!json_is_object (id) || strcmp (veil_json_str (id, "id") ?: "", "TD_QE") != 0)
    return veil_error_set (err, EBADMSG, "tdx: collateral: enclaveIdentity id is not \"TD_QE\"");
  if (json_hex (id, "mrsigner", signer, 32, "QE identity", err) < 0
      || json_hex (id, "attributes", attr, 16, "QE identity", err) < 0
      || json_hex (id, "attributesMask", mask, 16, "QE identity", err) < 0
      || json_hex (id, "miscselect", misc, 4, "QE identity", err) < 0
      || json_hex (id, "miscselectMask", misc_mask, 4, "QE identity", err) < 0)
    return -EBADMSG;
  if (!json_uint (id, "isvprodid", 65535, &prodid))
    return veil_error_set (err, EBADMSG, "tdx: collateral: QE identity: bad isvprodid");
  if (memcmp (signer, qe + SGX_R_MRSIGNER, 32) != 0)
    return veil_error_set (err, EACCES, "tdx: collateral: QE identity: mrsigner mismatch");
  if (prodid != (qe[SGX_R_ISVPRODID] | qe[SGX_R_ISVPRODID + 1] << 8))
    return veil_error_set (err, EACCES, "tdx: collateral: QE identity: isvprodid mismatch");
  for (int k = 0; k < 16; k++)
    if ((qe[SGX_R_ATTRIBUTES + k] & mask[k]) != attr[k])
      return veil_error_set (err, EACCES, "tdx: collateral: QE identity: attributes mismatch");
  /* miscselect is a u32: the hex text is big-endian, the report little-endian. */
  for (int k = 0; k < 4; k++)
    if ((qe[SGX_R_MISCSELECT + k] & misc_mask[3 - k]) != misc[3 - k])
      return veil_error_set (err, EACCES, "tdx: collateral: QE identity: miscselect mismatch");
  unsigned isvsvn = qe[SGX_R_ISVSVN] | qe[SGX_R_ISVSVN + 1] << 8;
  const char *status = isvsvn_level (json_object_get (id, "tcbLevels"), isvsvn);
  if (!status || status_rank (status) < 0)
    return veil_error_set (err, EACCES, "tdx: collateral: QE identity: no TCB level for QE isvsvn %u", isvsvn);
  json_object_set_new (claims, "qe_tcb_status", json_string (status));
  return 0;
}

/* ---- documents and their signatures ------------------------------------ */

static int64_t
parse_utc (const char *s)
{
  struct tm tm = { 0 };
  const char *end = s ? strptime (s, "%Y-%m-%dT%H:%M:%SZ", &tm) : NULL;
  if (!end || *end)
    return -1;
  return (int64_t) timegm (&tm);
}

/* Loads DIR/file, checks the signature of member's exact text with signer,
 * returns the member parsed; ENOENT when the file does not exist. */
static json_t *
load_signed (const char *dir, const char *file, const char *member, EVP_PKEY *signer, int64_t now,
             bool *expired, veil_error_t **err)
{
  _cleanup_free_ char *path = xasprintf ("%s/%s", dir, file);
  _cleanup_free_ uint8_t *text = NULL;
  size_t len = 0;
  if (veil_file_read (path, COLLATERAL_MAX, &text, &len, err) < 0)
    return NULL;
  const char *span;
  size_t span_len;
  uint8_t sig[64];
  _cleanup_json_ json_t *doc = veil_json_parse (text, len, COLLATERAL_MAX, err);
  if (!doc || tdx_json_member_span ((char *) text, len, member, &span, &span_len, err) < 0
      || json_hex (doc, "signature", sig, 64, file, err) < 0)
    {
      veil_error_wrap (err, "%s", path);
      return NULL;
    }
  if (veil_ecdsa_verify_rs (signer, EVP_sha256 (), span, span_len, sig, sig + 32, 32, NULL) < 0)
    {
      veil_error_set (err, EKEYREJECTED, "tdx: collateral: %s signature does not verify with the TCB Signing certificate", member);
      return NULL;
    }
  /* Evaluate exactly the bytes that were signed. */
  json_t *obj = veil_json_parse (span, span_len, COLLATERAL_MAX, err);
  if (!obj)
    return NULL;
  int64_t next = parse_utc (veil_json_str (obj, "nextUpdate"));
  if (next < 0)
    {
      json_decref (obj);
      veil_error_set (err, EBADMSG, "tdx: collateral: %s: bad nextUpdate", member);
      return NULL;
    }
  if (next < now)
    *expired = true;
  return obj;
}

static EVP_PKEY *
load_signer (const char *dir, int64_t now, veil_error_t **err)
{
  _cleanup_free_ char *path = xasprintf ("%s/tcb_signing_chain.pem", dir);
  _cleanup_free_ uint8_t *pem = NULL;
  size_t len = 0;
  if (veil_file_read (path, COLLATERAL_MAX, &pem, &len, err) < 0)
    {
      veil_error_wrap (err, "tdx: collateral: TCB Signing chain");
      return NULL;
    }
  _cleanup_x509_stack_ STACK_OF (X509) *chain = veil_x509_stack_from_pem ((char *) pem, len, err);
  if (!chain)
    {
      veil_error_wrap (err, "tdx: collateral: %s", path);
      return NULL;
    }
  X509 *leaf = sk_X509_value (chain, 0);
  char cn[64] = "";
  X509_NAME_get_text_by_NID (X509_get_subject_name (leaf), NID_commonName, cn, sizeof (cn));
  if (strcmp (cn, "Intel SGX TCB Signing") != 0)
    {
      veil_error_set (err, EKEYREJECTED, "tdx: collateral: TCB Signing chain: leaf CN is '%s', not 'Intel SGX TCB Signing'", cn);
      return NULL;
    }
  if (tdx_chain_verify (chain, now, "TCB Signing chain", err) < 0)
    return NULL;
  EVP_PKEY *pk = X509_get_pubkey (leaf);
  if (!pk)
    veil_error_set (err, EKEYREJECTED, "tdx: collateral: TCB Signing certificate has no usable key");
  return pk;
}

static bool
exists (const char *dir, const char *file)
{
  _cleanup_free_ char *path = xasprintf ("%s/%s", dir, file);
  return access (path, F_OK) == 0;
}

int
tdx_collateral_check (const char *dir, const veil_tdx_quote_t *q, const tdx_pck_info_t *pck, int64_t now,
                      json_t *claims, veil_error_t **err)
{
  if (!dir)
    return 0;
  bool has_tcb = exists (dir, "tcbInfo.json"), has_qe = exists (dir, "enclaveIdentity.json");
  if (!has_tcb && !has_qe)
    return 0;
  _cleanup_pkey_ EVP_PKEY *signer = load_signer (dir, now, err);
  if (!signer)
    return -EKEYREJECTED;
  bool expired = false;
  _cleanup_json_ json_t *tcb = NULL, *qe = NULL;
  if (has_tcb && !(tcb = load_signed (dir, "tcbInfo.json", "tcbInfo", signer, now, &expired, err)))
    return -EKEYREJECTED;
  if (has_qe && !(qe = load_signed (dir, "enclaveIdentity.json", "enclaveIdentity", signer, now, &expired, err)))
    return -EKEYREJECTED;
  if (tcb && tdx_tcb_eval (tcb, pck, q->body, claims, err) < 0)
    return -EACCES;
  if (qe && tdx_qe_identity_eval (qe, q->qe_report, claims, err) < 0)
    return -EACCES;
  const char *status = veil_json_str (claims, "tcb_status");
  const char *qe_status = veil_json_str (claims, "qe_tcb_status");
  _cleanup_free_ char *final = xstrdup (status && qe_status ? status_worse (status, qe_status) : status ? status
                                                                                                        : qe_status);
  /* Stale collateral must not read as a plain status to a policy that
   * compares tcb_status with "UpToDate". */
  json_object_set_new (claims, "collateral_expired", json_boolean (expired));
  if (expired)
    {
      char *marked = xasprintf ("%s (collateral expired)", final);
      free (final);
      final = marked;
    }
  json_object_set_new (claims, "tcb_status", json_string (final));
  return 0;
}
