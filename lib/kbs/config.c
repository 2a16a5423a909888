/* veil-trustee's configuration file (JSON; see docs/trustee.md).  Unknown
 * keys are refused so that a typo cannot silently weaken verification. */
#include <libgen.h>
#include "internal.h"

#define CONFIG_MAX (1 << 20)

struct veil_kbs_config_file
{
  json_t *doc;
  char *dir;
  STACK_OF (X509) * sim_roots;
  EVP_PKEY *admin_key;
  char **strings;
  size_t n_strings;
  const char **chip_ids;
  const char **tpm_aks;
};

static const char *
keep (veil_kbs_config_file_t *f, char *s)
{
  f->strings = xrealloc (f->strings, (f->n_strings + 1) * sizeof (char *));
  f->strings[f->n_strings++] = s;
  return s;
}

/* Paths in the file are relative to the file's directory. */
static const char *
path_of (veil_kbs_config_file_t *f, const char *p)
{
  if (p[0] == '/')
    return p;
  return keep (f, xasprintf ("%s/%s", f->dir, p));
}

static int
check_keys (const json_t *obj, const char *where, const char *const *allowed, veil_error_t **err)
{
  if (!json_is_object (obj))
    return veil_error_set (err, EINVAL, "%s: not an object", where);
  const char *k;
  json_t *v;
  json_object_foreach ((json_t *) obj, k, v)
  {
    bool found = false;
    for (size_t i = 0; allowed[i]; i++)
      found |= !strcmp (allowed[i], k);
    if (!found)
      return veil_error_set (err, EINVAL, "%s: unknown key '%s'", where, k);
  }
  return 0;
}

static int
get_bool (const json_t *o, const char *k, bool *out, veil_error_t **err)
{
  json_t *v = json_object_get (o, k);
  if (!v)
    return 0;
  if (!json_is_boolean (v))
    return veil_error_set (err, EINVAL, "%s: must be true or false", k);
  *out = json_is_true (v);
  return 0;
}

static int
get_int (const json_t *o, const char *k, int64_t min, int64_t max, int64_t *out, veil_error_t **err)
{
  json_t *v = json_object_get (o, k);
  if (!v)
    return 0;
  if (!json_is_integer (v) || json_integer_value (v) < min || json_integer_value (v) > max)
    return veil_error_set (err, EINVAL, "%s: must be an integer in [%lld, %lld]", k, (long long) min,
                           (long long) max);
  *out = json_integer_value (v);
  return 0;
}

static int
load_admin (veil_kbs_config_file_t *f, const json_t *admin, veil_error_t **err)
{
  static const char *const keys[] = { "public_key", "public_key_file", NULL };
  if (check_keys (admin, "admin", keys, err) < 0)
    return -EINVAL;
  const char *pem = veil_json_str (admin, "public_key"), *file = veil_json_str (admin, "public_key_file");
  if (pem)
    f->admin_key = veil_pkey_from_pem (pem, strlen (pem), err);
  else if (file)
    f->admin_key = veil_pkey_load_file (path_of (f, file), err);
  else
    return veil_error_set (err, EINVAL, "admin: public_key or public_key_file required");
  if (!f->admin_key)
    return veil_error_wrap (err, "admin");
  if (EVP_PKEY_get_base_id (f->admin_key) != EVP_PKEY_ED25519)
    return veil_error_set (err, EINVAL, "admin: the admin key must be Ed25519");
  return 0;
}

static int
load_sim_roots (veil_kbs_config_file_t *f, const json_t *roots, veil_error_t **err)
{
  if (!json_is_array (roots))
    return veil_error_set (err, EINVAL, "sim_roots: must be an array of PEM file paths");
  f->sim_roots = sk_X509_new_null ();
  size_t i;
  json_t *v;
  json_array_foreach (roots, i, v)
  {
    if (!json_is_string (v))
      return veil_error_set (err, EINVAL, "sim_roots[%zu]: not a string", i);
    X509 *x = veil_x509_load_file (path_of (f, json_string_value (v)), err);
    if (!x)
      return veil_error_wrap (err, "sim_roots[%zu]", i);
    sk_X509_push (f->sim_roots, x);
  }
  return 0;
}

static int
load_snp (veil_kbs_config_file_t *f, const json_t *snp, veil_kbs_config_t *cfg, veil_error_t **err)
{
  static const char *const keys[] = { "vcek_dir", "min_tcb", "chip_ids", NULL };
  static const char *const tcb_keys[] = { "bootloader", "tee", "snp", "microcode", "fmc", NULL };
  if (check_keys (snp, "snp", keys, err) < 0)
    return -EINVAL;
  const char *dir = veil_json_str (snp, "vcek_dir");
  if (dir)
    cfg->attest.snp_vcek_dir = path_of (f, dir);
  json_t *tcb = json_object_get (snp, "min_tcb");
  if (tcb)
    {
      if (check_keys (tcb, "snp.min_tcb", tcb_keys, err) < 0)
        return -EINVAL;
      uint8_t *dst[] = { &cfg->attest.snp_min_tcb.bootloader, &cfg->attest.snp_min_tcb.tee,
                         &cfg->attest.snp_min_tcb.snp, &cfg->attest.snp_min_tcb.microcode,
                         &cfg->attest.snp_min_tcb.fmc };
      for (size_t i = 0; i < VEIL_ARRAY_SIZE (dst); i++)
        {
          int64_t v = 0;
          if (get_int (tcb, tcb_keys[i], 0, 255, &v, err) < 0)
            return veil_error_wrap (err, "snp.min_tcb");
          *dst[i] = (uint8_t) v;
        }
    }
  json_t *ids = json_object_get (snp, "chip_ids");
  if (ids)
    {
      if (!json_is_array (ids))
        return veil_error_set (err, EINVAL, "snp.chip_ids: must be an array of hex strings");
      f->chip_ids = xcalloc (json_array_size (ids) + 1, sizeof (char *));
      size_t i;
      json_t *v;
      json_array_foreach (ids, i, v)
      {
        if (!json_is_string (v) || strlen (json_string_value (v)) != 128)
          return veil_error_set (err, EINVAL, "snp.chip_ids[%zu]: must be 128 hex digits", i);
        f->chip_ids[i] = json_string_value (v);
      }
      cfg->attest.snp_chip_ids = f->chip_ids;
      cfg->attest.n_snp_chip_ids = json_array_size (ids);
    }
  return 0;
}

/* TPM AKs are self-asserted by the evidence: only listed ones are trusted. */
static int
load_tpm (veil_kbs_config_file_t *f, const json_t *tpm, veil_kbs_config_t *cfg, veil_error_t **err)
{
  static const char *const keys[] = { "trusted_aks", NULL };
  if (check_keys (tpm, "tpm", keys, err) < 0)
    return -EINVAL;
  json_t *aks = json_object_get (tpm, "trusted_aks");
  if (!aks)
    return 0;
  if (!json_is_array (aks))
    return veil_error_set (err, EINVAL, "tpm.trusted_aks: must be an array of SHA-256 hex strings");
  f->tpm_aks = xcalloc (json_array_size (aks) + 1, sizeof (char *));
  size_t i;
  json_t *v;
  json_array_foreach (aks, i, v)
  {
    uint8_t h[VEIL_SHA256_LEN];
    if (!json_is_string (v) || veil_hex_decode_exact (json_string_value (v), h, sizeof (h), NULL) < 0)
      return veil_error_set (err, EINVAL, "tpm.trusted_aks[%zu]: must be 64 hex digits", i);
    f->tpm_aks[i] = json_string_value (v);
  }
  cfg->attest.tpm_trusted_aks = f->tpm_aks;
  cfg->attest.n_tpm_trusted_aks = json_array_size (aks);
  return 0;
}

static int
config_apply (veil_kbs_config_file_t *f, veil_kbs_config_t *cfg, veil_error_t **err)
{
  static const char *const keys[] = { "allow_sample", "allow_debug", "session_ttl_seconds",
                                      "token_ttl_seconds", "max_sessions", "admin", "sim_roots",
                                      "snp", "tdx", "tpm", NULL };
  const json_t *d = f->doc;
  if (check_keys (d, "config", keys, err) < 0)
    return -EINVAL;
  int64_t v;
  if (get_bool (d, "allow_sample", &cfg->attest.allow_sample, err) < 0
      || get_bool (d, "allow_debug", &cfg->attest.allow_debug, err) < 0)
    return -EINVAL;
  v = cfg->session_ttl;
  if (get_int (d, "session_ttl_seconds", 1, 86400, &v, err) < 0)
    return -EINVAL;
  cfg->session_ttl = v;
  v = cfg->token_ttl;
  if (get_int (d, "token_ttl_seconds", 1, 7 * 86400, &v, err) < 0)
    return -EINVAL;
  cfg->token_ttl = v;
  v = (int64_t) cfg->max_sessions;
  if (get_int (d, "max_sessions", 1, 10000000, &v, err) < 0)
    return -EINVAL;
  cfg->max_sessions = (size_t) v;
  json_t *admin = json_object_get (d, "admin");
  if (admin && load_admin (f, admin, err) < 0)
    return -EINVAL;
  cfg->admin_key = f->admin_key;
  json_t *roots = json_object_get (d, "sim_roots");
  if (roots && load_sim_roots (f, roots, err) < 0)
    return -EINVAL;
  cfg->attest.sim_roots = f->sim_roots;
  json_t *snp = json_object_get (d, "snp");
  if (snp && load_snp (f, snp, cfg, err) < 0)
    return -EINVAL;
  json_t *tdx = json_object_get (d, "tdx");
  if (tdx)
    {
      static const char *const tkeys[] = { "collateral_dir", NULL };
      if (check_keys (tdx, "tdx", tkeys, err) < 0)
        return -EINVAL;
      const char *dir = veil_json_str (tdx, "collateral_dir");
      if (dir)
        cfg->attest.tdx_collateral_dir = path_of (f, dir);
    }
  json_t *tpm = json_object_get (d, "tpm");
  if (tpm && load_tpm (f, tpm, cfg, err) < 0)
    return -EINVAL;
  return 0;
}

veil_kbs_config_file_t *
veil_kbs_config_load (const char *path, veil_kbs_config_t *cfg, veil_error_t **err)
{
  _cleanup_free_ uint8_t *data = NULL;
  size_t len = 0;
  if (veil_file_read (path, CONFIG_MAX, &data, &len, err) < 0)
    return NULL;
  veil_kbs_config_file_t *f = xcalloc (1, sizeof (*f));
  _cleanup_free_ char *copy = xstrdup (path);
  f->dir = xstrdup (dirname (copy));
  f->doc = veil_json_parse (data, len, CONFIG_MAX, err);
  if (!f->doc || config_apply (f, cfg, err) < 0)
    {
      veil_error_wrap (err, "%s", path);
      veil_kbs_config_file_free (f);
      return NULL;
    }
  return f;
}

void
veil_kbs_config_file_free (veil_kbs_config_file_t *f)
{
  if (!f)
    return;
  json_decref (f->doc);
  free (f->dir);
  if (f->sim_roots)
    sk_X509_pop_free (f->sim_roots, X509_free);
  EVP_PKEY_free (f->admin_key);
  for (size_t i = 0; i < f->n_strings; i++)
    free (f->strings[i]);
  free (f->strings);
  free (f->chip_ids);
  free (f->tpm_aks);
  free (f);
}
