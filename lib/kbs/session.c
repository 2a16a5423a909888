/* KBS sessions: the cookie names a session whose single-use nonce binds the
 * next /attest, and which afterwards carries the attested claims. */
#include <stdio.h>
#include "internal.h"
#include "veil/crypto.h"

static uint32_t
bucket_of (const char *id)
{
  uint32_t h = 2166136261u; /* FNV-1a: ids are random, any mix will do */
  for (; *id; id++)
    h = (h ^ (uint8_t) *id) * 16777619u;
  return h % KBS_SESSION_BUCKETS;
}

static void
session_free (kbs_session_t *s)
{
  json_decref (s->policy_input);
  EVP_PKEY_free (s->tee_key);
  veil_wipe (s->nonce, sizeof (s->nonce));
  free (s);
}

void
kbs_sessions_init (kbs_sessions_t *s, size_t max, int64_t ttl)
{
  memset (s, 0, sizeof (*s));
  pthread_mutex_init (&s->lock, NULL);
  s->max = max;
  s->ttl = ttl;
}

void
kbs_sessions_destroy (kbs_sessions_t *s)
{
  for (size_t i = 0; i < KBS_SESSION_BUCKETS; i++)
    while (s->buckets[i])
      {
        kbs_session_t *n = s->buckets[i]->next;
        session_free (s->buckets[i]);
        s->buckets[i] = n;
      }
  pthread_mutex_destroy (&s->lock);
}

/* Drop expired sessions; called with the lock held when the table is full. */
static void
sweep_locked (kbs_sessions_t *s, int64_t now)
{
  for (size_t i = 0; i < KBS_SESSION_BUCKETS; i++)
    for (kbs_session_t **pp = &s->buckets[i]; *pp;)
      {
        if ((*pp)->expires < now)
          {
            kbs_session_t *dead = *pp;
            *pp = dead->next;
            session_free (dead);
            s->count--;
          }
        else
          pp = &(*pp)->next;
      }
}

static kbs_session_t *
find_locked (kbs_sessions_t *s, const char *id)
{
  if (!id || strlen (id) != KBS_SESSION_ID_LEN)
    return NULL;
  for (kbs_session_t *p = s->buckets[bucket_of (id)]; p; p = p->next)
    if (!strcmp (p->id, id))
      return p;
  return NULL;
}

static void
uuid_v4 (char out[KBS_SESSION_ID_LEN + 1])
{
  uint8_t b[16];
  veil_random (b, sizeof (b));
  b[6] = (uint8_t) ((b[6] & 0x0f) | 0x40); /* RFC 9562 §5.4: version 4 */
  b[8] = (uint8_t) ((b[8] & 0x3f) | 0x80); /* variant 10 */
  snprintf (out, KBS_SESSION_ID_LEN + 1,
            "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
            b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
            b[15]);
}

int
kbs_sessions_create (kbs_sessions_t *s, const char *tee, char id[KBS_SESSION_ID_LEN + 1],
                     uint8_t nonce[VEIL_KBS_NONCE_LEN], veil_error_t **err)
{
  kbs_session_t *n = xcalloc (1, sizeof (*n));
  uuid_v4 (n->id);
  snprintf (n->tee, sizeof (n->tee), "%s", tee);
  veil_random (n->nonce, sizeof (n->nonce));
  int64_t now = veil_now_unix ();
  n->expires = now + s->ttl;

  pthread_mutex_lock (&s->lock);
  if (s->count >= s->max)
    sweep_locked (s, now);
  if (s->count >= s->max)
    {
      pthread_mutex_unlock (&s->lock);
      session_free (n);
      return veil_error_set (err, EAGAIN, "too many open sessions (%zu); retry later", s->max);
    }
  uint32_t b = bucket_of (n->id);
  n->next = s->buckets[b];
  s->buckets[b] = n;
  s->count++;
  memcpy (id, n->id, sizeof (n->id));
  memcpy (nonce, n->nonce, VEIL_KBS_NONCE_LEN);
  pthread_mutex_unlock (&s->lock);
  return 0;
}

static kbs_session_t *
find_live_locked (kbs_sessions_t *s, const char *id, veil_error_t **err)
{
  kbs_session_t *p = find_locked (s, id);
  if (!p)
    {
      veil_error_set (err, ENOENT, "unknown session: authenticate with /kbs/v0/auth first");
      return NULL;
    }
  if (p->expires < veil_now_unix ())
    {
      veil_error_set (err, ETIMEDOUT, "session expired: authenticate again");
      return NULL;
    }
  return p;
}

int
kbs_sessions_take_nonce (kbs_sessions_t *s, const char *id, char tee[32],
                         uint8_t nonce[VEIL_KBS_NONCE_LEN], veil_error_t **err)
{
  pthread_mutex_lock (&s->lock);
  veil_error_t *e = NULL;
  kbs_session_t *p = find_live_locked (s, id, &e);
  int r = 0;
  if (!p)
    r = veil_error_propagate (err, e);
  else if (p->nonce_used)
    r = veil_error_set (err, EALREADY, "nonce already used: each nonce binds one attestation");
  else
    {
      p->nonce_used = true;
      memcpy (tee, p->tee, 32);
      memcpy (nonce, p->nonce, VEIL_KBS_NONCE_LEN);
    }
  pthread_mutex_unlock (&s->lock);
  return r;
}

int
kbs_sessions_set_attested (kbs_sessions_t *s, const char *id, json_t *policy_input,
                           EVP_PKEY *tee_key, int64_t expires, veil_error_t **err)
{
  pthread_mutex_lock (&s->lock);
  kbs_session_t *p = find_live_locked (s, id, err);
  if (p)
    {
      json_decref (p->policy_input);
      EVP_PKEY_free (p->tee_key);
      p->policy_input = policy_input;
      p->tee_key = tee_key;
      p->attested = true;
      p->expires = expires;
    }
  pthread_mutex_unlock (&s->lock);
  if (!p)
    {
      json_decref (policy_input);
      EVP_PKEY_free (tee_key);
      return -ENOENT;
    }
  return 0;
}

int
kbs_sessions_get_attested (kbs_sessions_t *s, const char *id, json_t **policy_input,
                           EVP_PKEY **tee_key, veil_error_t **err)
{
  pthread_mutex_lock (&s->lock);
  kbs_session_t *p = find_live_locked (s, id, err);
  int r = 0;
  if (!p)
    r = -ENOENT;
  else if (!p->attested)
    r = veil_error_set (err, EPERM, "session is not attested: POST /kbs/v0/attest first");
  else
    {
      /* shared, not copied: the claims are immutable once set, jansson's
       * reference counts are atomic, and an EVP_PKEY may be used by several
       * threads at once */
      *policy_input = json_incref (p->policy_input);
      EVP_PKEY_up_ref (p->tee_key);
      *tee_key = p->tee_key;
    }
  pthread_mutex_unlock (&s->lock);
  return r;
}
