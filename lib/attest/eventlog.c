/* CCEL: the confidential-computing event log of a TD (ACPI CCEL table data,
 * UEFI 2.10 §38.4) in the TCG2 crypto-agile format of the TCG PC Client
 * Platform Firmware Profile (PFP) 1.05 §10.2, and its replay into RTMRs.
 *
 * The log comes from the guest: every size in it is bounded against what is
 * left of the buffer before use. */
#include <stdio.h>
#include <openssl/evp.h>
#include "veil/attest.h"

#define EV_NO_ACTION 0x00000003u
#define ALG_SHA1 0x0004
#define ALG_SHA256 0x000B
#define ALG_SHA384 0x000C
#define ALG_SHA512 0x000D
#define CCEL_MAX_ALGS 8
#define CCEL_MAX_DIGEST 64
#define CCEL_MAX_EVENTS (1u << 20)
/* UEFI CC MR index: 0 = MRTD, 1..4 = RTMR0..3 (UEFI 2.10 §38.3.4, TDX). */
#define CCEL_MAX_MR_INDEX 4

typedef struct cursor
{
  const uint8_t *p;
  size_t len, off;
} cursor_t;

static bool
rd_bytes (cursor_t *c, size_t n, const uint8_t **out)
{
  if (n > c->len - c->off)
    return false;
  *out = c->p + c->off;
  c->off += n;
  return true;
}

static bool
rd_u32 (cursor_t *c, uint32_t *v)
{
  const uint8_t *b;
  if (!rd_bytes (c, 4, &b))
    return false;
  *v = (uint32_t) b[0] | (uint32_t) b[1] << 8 | (uint32_t) b[2] << 16 | (uint32_t) b[3] << 24;
  return true;
}

static bool
rd_u16 (cursor_t *c, uint16_t *v)
{
  const uint8_t *b;
  if (!rd_bytes (c, 2, &b))
    return false;
  *v = (uint16_t) (b[0] | b[1] << 8);
  return true;
}

typedef struct ccel_alg
{
  uint16_t id, size;
} ccel_alg_t;

typedef struct ccel_event
{
  uint32_t index, type, n_digests, event_size;
  struct
  {
    uint16_t alg, size;
    const uint8_t *d;
  } digests[CCEL_MAX_ALGS];
} ccel_event_t;

typedef int (*ccel_cb_t) (const ccel_event_t *ev, size_t n, void *arg, veil_error_t **err);

/* The first record is a SHA-1-format TCG_PCR_EVENT carrying the
 * TCG_EfiSpecIdEvent (PFP §10.4.5.1) that declares the digest sizes of
 * every algorithm used by the records that follow. */
static int
ccel_spec_id (cursor_t *c, ccel_alg_t *algs, size_t *n_algs, veil_error_t **err)
{
  uint32_t pcr, type, size, n;
  const uint8_t *sha1, *ev;
  if (!rd_u32 (c, &pcr) || !rd_u32 (c, &type) || !rd_bytes (c, 20, &sha1) || !rd_u32 (c, &size))
    return veil_error_set (err, EBADMSG, "eventlog: truncated Spec ID event header");
  if (type != EV_NO_ACTION)
    return veil_error_set (err, EBADMSG, "eventlog: first event is type 0x%x, not EV_NO_ACTION", type);
  if (!rd_bytes (c, size, &ev))
    return veil_error_set (err, EBADMSG, "eventlog: Spec ID event of %u bytes overruns the log", size);
  cursor_t s = { ev, size, 0 };
  const uint8_t *sig, *hdr, *vendor;
  uint8_t vendor_size;
  if (!rd_bytes (&s, 16, &sig) || memcmp (sig, "Spec ID Event03", 16) != 0)
    return veil_error_set (err, EBADMSG, "eventlog: Spec ID event signature is not 'Spec ID Event03'");
  /* platformClass u32, specVersionMinor, specVersionMajor, specErrata, uintnSize */
  if (!rd_bytes (&s, 8, &hdr) || !rd_u32 (&s, &n))
    return veil_error_set (err, EBADMSG, "eventlog: truncated Spec ID event");
  if (n == 0 || n > CCEL_MAX_ALGS)
    return veil_error_set (err, EBADMSG, "eventlog: Spec ID event declares %u algorithms", n);
  for (uint32_t i = 0; i < n; i++)
    {
      if (!rd_u16 (&s, &algs[i].id) || !rd_u16 (&s, &algs[i].size))
        return veil_error_set (err, EBADMSG, "eventlog: truncated Spec ID digest sizes");
      if (algs[i].size == 0 || algs[i].size > CCEL_MAX_DIGEST)
        return veil_error_set (err, EBADMSG, "eventlog: algorithm 0x%04x has digest size %u",
                               algs[i].id, algs[i].size);
      for (uint32_t j = 0; j < i; j++)
        if (algs[j].id == algs[i].id)
          return veil_error_set (err, EBADMSG, "eventlog: algorithm 0x%04x declared twice", algs[i].id);
    }
  if (!rd_bytes (&s, 1, &hdr))
    return veil_error_set (err, EBADMSG, "eventlog: truncated Spec ID vendor info");
  vendor_size = hdr[0];
  if (!rd_bytes (&s, vendor_size, &vendor) || s.off != s.len)
    return veil_error_set (err, EBADMSG, "eventlog: Spec ID event size does not match its content");
  *n_algs = n;
  return 0;
}

/* One TCG_PCR_EVENT2 record (PFP §10.2.2). */
static int
ccel_event (cursor_t *c, const ccel_alg_t *algs, size_t n_algs, size_t n, ccel_event_t *ev,
            veil_error_t **err)
{
  const uint8_t *data;
  if (!rd_u32 (c, &ev->index) || !rd_u32 (c, &ev->type) || !rd_u32 (c, &ev->n_digests))
    return veil_error_set (err, EBADMSG, "eventlog: event %zu: truncated header", n);
  if (ev->n_digests == 0 || ev->n_digests > n_algs)
    return veil_error_set (err, EBADMSG, "eventlog: event %zu: %u digests for %zu algorithms", n,
                           ev->n_digests, n_algs);
  for (uint32_t i = 0; i < ev->n_digests; i++)
    {
      uint16_t alg;
      size_t k;
      if (!rd_u16 (c, &alg))
        return veil_error_set (err, EBADMSG, "eventlog: event %zu: truncated digest", n);
      for (k = 0; k < n_algs && algs[k].id != alg; k++)
        ;
      if (k == n_algs)
        return veil_error_set (err, EBADMSG, "eventlog: event %zu: algorithm 0x%04x not in the Spec ID event", n, alg);
      ev->digests[i].alg = alg;
      ev->digests[i].size = algs[k].size;
      if (!rd_bytes (c, algs[k].size, &ev->digests[i].d))
        return veil_error_set (err, EBADMSG, "eventlog: event %zu: truncated digest", n);
    }
  if (!rd_u32 (c, &ev->event_size) || !rd_bytes (c, ev->event_size, &data))
    return veil_error_set (err, EBADMSG, "eventlog: event %zu: event data overruns the log", n);
  return 0;
}

/* The CCEL area is larger than the log; firmware leaves the tail erased
 * (all 0xff) or zeroed, so 8 such bytes where a record would start end it. */
static bool
ccel_at_end (const cursor_t *c)
{
  size_t left = c->len - c->off;
  if (left < 8)
    return true;
  static const uint8_t ff[8] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
  static const uint8_t zero[8] = { 0 };
  return !memcmp (c->p + c->off, ff, 8) || !memcmp (c->p + c->off, zero, 8);
}

static int
ccel_walk (const uint8_t *log, size_t len, ccel_cb_t cb, void *arg, veil_error_t **err)
{
  if (!log || len == 0)
    return veil_error_set (err, EBADMSG, "eventlog: empty");
  if (len > VEIL_CCEL_MAX)
    return veil_error_set (err, E2BIG, "eventlog: %zu bytes exceeds the %u-byte limit", len, VEIL_CCEL_MAX);
  cursor_t c = { log, len, 0 };
  ccel_alg_t algs[CCEL_MAX_ALGS];
  size_t n_algs = 0;
  if (ccel_spec_id (&c, algs, &n_algs, err) < 0)
    return -EBADMSG;
  for (size_t n = 1; !ccel_at_end (&c); n++)
    {
      if (n > CCEL_MAX_EVENTS)
        return veil_error_set (err, E2BIG, "eventlog: more than %u events", CCEL_MAX_EVENTS);
      ccel_event_t ev;
      int r = ccel_event (&c, algs, n_algs, n, &ev, err);
      if (r == 0)
        r = cb (&ev, n, arg, err);
      if (r < 0)
        return r;
    }
  return 0;
}

static const char *
alg_name (uint16_t id)
{
  switch (id)
    {
    case ALG_SHA1:
      return "sha1";
    case ALG_SHA256:
      return "sha256";
    case ALG_SHA384:
      return "sha384";
    case ALG_SHA512:
      return "sha512";
    default:
      return NULL;
    }
}

static int
parse_cb (const ccel_event_t *ev, size_t n, void *arg, veil_error_t **err)
{
  (void) n;
  (void) err;
  json_t *digests = json_object ();
  for (uint32_t i = 0; i < ev->n_digests; i++)
    {
      char other[16];
      const char *name = alg_name (ev->digests[i].alg);
      if (!name)
        {
          snprintf (other, sizeof (other), "0x%04x", ev->digests[i].alg);
          name = other;
        }
      _cleanup_free_ char *hex = veil_hex_encode (ev->digests[i].d, ev->digests[i].size);
      json_object_set_new (digests, name, json_string (hex));
    }
  json_array_append_new ((json_t *) arg, json_pack ("{s:I,s:I,s:o,s:I}", "index", (json_int_t) ev->index,
                                                    "type", (json_int_t) ev->type, "digests", digests,
                                                    "event_size", (json_int_t) ev->event_size));
  return 0;
}

json_t *
veil_ccel_parse (const uint8_t *log, size_t len, veil_error_t **err)
{
  _cleanup_json_ json_t *events = json_array ();
  if (ccel_walk (log, len, parse_cb, events, err) < 0)
    return NULL;
  return steal_pointer (&events);
}

static int
replay_cb (const ccel_event_t *ev, size_t n, void *arg, veil_error_t **err)
{
  uint8_t (*rtmr)[VEIL_SHA384_LEN] = arg;
  /* EV_NO_ACTION records are informational and never extended (PFP §10.4.5). */
  if (ev->type == EV_NO_ACTION)
    return 0;
  if (ev->index > CCEL_MAX_MR_INDEX)
    return veil_error_set (err, EBADMSG, "eventlog: event %zu: CC MR index %u is not MRTD or an RTMR", n,
                           ev->index);
  const uint8_t *d = NULL;
  for (uint32_t i = 0; i < ev->n_digests; i++)
    if (ev->digests[i].alg == ALG_SHA384 && ev->digests[i].size == VEIL_SHA384_LEN)
      d = ev->digests[i].d;
  if (!d)
    return veil_error_set (err, EBADMSG, "eventlog: event %zu: no SHA-384 digest to extend", n);
  /* Index 0 is MRTD, measured by the TDX module, not extended from the log. */
  if (ev->index == 0)
    return 0;
  uint8_t buf[2 * VEIL_SHA384_LEN];
  uint8_t *mr = rtmr[ev->index - 1];
  memcpy (buf, mr, VEIL_SHA384_LEN);
  memcpy (buf + VEIL_SHA384_LEN, d, VEIL_SHA384_LEN);
  veil_sha384 (buf, sizeof (buf), mr);
  return 0;
}

int
veil_ccel_replay (const uint8_t *log, size_t len, uint8_t rtmr[4][VEIL_SHA384_LEN], veil_error_t **err)
{
  memset (rtmr, 0, 4 * VEIL_SHA384_LEN);
  return ccel_walk (log, len, replay_cb, rtmr, err);
}
