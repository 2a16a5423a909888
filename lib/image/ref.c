/* Image references, following the grammar of the distribution project's
 * reference package (the one docker, podman and skopeo share):
 *
 *   reference       := name [ ":" tag ] [ "@" digest ]
 *   name            := [domain '/'] path-component ['/' path-component]*
 *   domain          := host [':' port]   (a first component is a domain when
 *                      it contains '.' or ':' or is "localhost")
 *   path-component  := alnum+ (separator alnum+)*, alnum = [a-z0-9],
 *                      separator = "." | "_" | "__" | "-"+
 *   tag             := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
 *
 * plus the transport form oci:DIR[:TAG] for OCI image-layout directories. */
#include <ctype.h>
#include "veil/image.h"

#define DOCKER_HUB "docker.io"
#define NAME_MAX_LEN 255 /* the reference package's NameTotalLengthMax */
#define TAG_MAX_LEN 128

static bool
is_alnum_lower (char c)
{
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* One path component of a repository name (between slashes). */
static bool
path_component_valid (const char *s, size_t n)
{
  if (n == 0 || !is_alnum_lower (s[0]) || !is_alnum_lower (s[n - 1]))
    return false;
  for (size_t i = 0; i < n;)
    {
      if (is_alnum_lower (s[i]))
        {
          i++;
          continue;
        }
      /* a separator: ".", "_", "__" or a run of "-", then an alnum */
      size_t j = i;
      if (s[i] == '.')
        j++;
      else if (s[i] == '_')
        j += (i + 1 < n && s[i + 1] == '_') ? 2 : 1;
      else if (s[i] == '-')
        while (j < n && s[j] == '-')
          j++;
      else
        return false;
      if (j >= n || !is_alnum_lower (s[j]))
        return false;
      i = j;
    }
  return true;
}

/* host[:port]: DNS labels, an IPv4 address or a bracketed IPv6 literal. */
static bool
domain_valid (const char *s, size_t n)
{
  size_t host_end = n;
  if (n > 0 && s[0] == '[')
    {
      const char *close = memchr (s, ']', n);
      if (close == NULL || close == s + 1)
        return false;
      for (const char *p = s + 1; p < close; p++)
        if (!isxdigit ((unsigned char) *p) && *p != ':' && *p != '.')
          return false;
      host_end = (size_t) (close - s) + 1;
      if (host_end != n && s[host_end] != ':')
        return false;
    }
  else
    {
      const char *colon = memchr (s, ':', n);
      if (colon)
        host_end = (size_t) (colon - s);
      /* labels of [A-Za-z0-9-], not starting or ending with '-' */
      size_t label = 0;
      for (size_t i = 0; i < host_end; i++)
        {
          char c = s[i];
          if (c == '.')
            {
              if (label == 0 || s[i - 1] == '-')
                return false;
              label = 0;
              continue;
            }
          if (!isalnum ((unsigned char) c) && !(c == '-' && label > 0))
            return false;
          label++;
        }
      if (label == 0 || s[host_end - 1] == '-')
        return false;
    }
  if (host_end < n)
    {
      /* a port: 1..65535 */
      const char *p = s + host_end + 1;
      size_t plen = n - host_end - 1;
      if (plen == 0 || plen > 5)
        return false;
      unsigned v = 0;
      for (size_t i = 0; i < plen; i++)
        {
          if (!isdigit ((unsigned char) p[i]))
            return false;
          v = v * 10 + (unsigned) (p[i] - '0');
        }
      if (v == 0 || v > 65535)
        return false;
    }
  return true;
}

static bool
tag_valid (const char *t)
{
  size_t n = strlen (t);
  if (n == 0 || n > TAG_MAX_LEN)
    return false;
  for (size_t i = 0; i < n; i++)
    {
      char c = t[i];
      bool word = isalnum ((unsigned char) c) || c == '_';
      if (!word && (i == 0 || (c != '.' && c != '-')))
        return false;
    }
  return true;
}

static int
parse_layout (const char *s, veil_image_ref_t *ref, veil_error_t **err)
{
  const char *rest = s + 4;
  /* the tag is what follows the last ':' after the last '/', so that
   * directories with colons higher up still work (skopeo's rule) */
  const char *slash = strrchr (rest, '/');
  const char *colon = strrchr (slash ? slash : rest, ':');
  size_t dir_len = colon ? (size_t) (colon - rest) : strlen (rest);
  if (dir_len == 0)
    return veil_error_set (err, EINVAL, "image reference '%s': oci: needs a directory", s);
  if (colon && !tag_valid (colon + 1))
    return veil_error_set (err, EINVAL, "image reference '%s': invalid tag '%s'", s, colon + 1);
  ref->kind = VEIL_REF_OCI_LAYOUT;
  ref->layout_dir = xstrndup (rest, dir_len);
  ref->tag = colon ? xstrdup (colon + 1) : NULL;
  return 0;
}

static int
parse_registry (const char *s, veil_image_ref_t *ref, veil_error_t **err)
{
  _cleanup_free_ char *name = xstrdup (s);
  const char *at = strchr (name, '@');
  if (at)
    {
      if (!veil_digest_valid (at + 1))
        return veil_error_set (err, EINVAL,
                               "image reference '%s': invalid digest '%s' (want sha256:<64 "
                               "lowercase hex>)",
                               s, at + 1);
      ref->digest = xstrdup (at + 1);
      name[at - name] = 0;
    }
  /* a tag is a ':' after the last '/' (before it, ':' is a registry port) */
  char *slash = strrchr (name, '/');
  char *colon = strrchr (slash ? slash : name, ':');
  if (colon)
    {
      *colon = 0;
      if (!tag_valid (colon + 1))
        return veil_error_set (err, EINVAL,
                               "image reference '%s': invalid tag '%s' (want "
                               "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})",
                               s, colon + 1);
      ref->tag = xstrdup (colon + 1);
    }
  if (name[0] == 0)
    return veil_error_set (err, EINVAL, "image reference '%s': empty name", s);

  const char *repo = name;
  const char *first_slash = strchr (name, '/');
  if (first_slash)
    {
      size_t dl = (size_t) (first_slash - name);
      bool is_domain = memchr (name, '.', dl) || memchr (name, ':', dl)
                       || (dl == 9 && !strncmp (name, "localhost", 9)) || name[0] == '[';
      for (size_t i = 0; i < dl && !is_domain; i++)
        if (isupper ((unsigned char) name[i]))
          is_domain = true; /* repositories are lowercase; this can only be a host */
      if (is_domain)
        {
          if (!domain_valid (name, dl))
            return veil_error_set (err, EINVAL, "image reference '%s': invalid registry '%.*s'",
                                   s, (int) dl, name);
          ref->registry = xstrndup (name, dl);
          repo = first_slash + 1;
        }
    }
  if (ref->registry == NULL)
    ref->registry = xstrdup (DOCKER_HUB);
  else if (!strcmp (ref->registry, "index.docker.io") || !strcmp (ref->registry, "registry-1.docker.io"))
    {
      free (ref->registry);
      ref->registry = xstrdup (DOCKER_HUB);
    }

  for (const char *p = repo;;)
    {
      const char *e = strchr (p, '/');
      size_t n = e ? (size_t) (e - p) : strlen (p);
      if (!path_component_valid (p, n))
        return veil_error_set (err, EINVAL,
                               "image reference '%s': invalid repository component '%.*s' "
                               "(lowercase [a-z0-9] separated by '.', '_', '__' or '-')",
                               s, (int) n, p);
      if (!e)
        break;
      p = e + 1;
    }
  /* Docker Hub's official images live under library/ */
  if (!strcmp (ref->registry, DOCKER_HUB) && strchr (repo, '/') == NULL)
    ref->repository = xasprintf ("library/%s", repo);
  else
    ref->repository = xstrdup (repo);
  /* the limit applies to the normalized name (registry/repository), as in
   * the reference package, so that what we format parses again */
  if (strlen (ref->registry) + 1 + strlen (ref->repository) > NAME_MAX_LEN)
    return veil_error_set (err, EINVAL, "image reference '%s': name longer than %d characters",
                           s, NAME_MAX_LEN);
  if (ref->tag == NULL && ref->digest == NULL)
    ref->tag = xstrdup ("latest");
  return 0;
}

int
veil_image_ref_parse (const char *s, veil_image_ref_t *ref, veil_error_t **err)
{
  memset (ref, 0, sizeof *ref);
  if (s == NULL || *s == 0)
    return veil_error_set (err, EINVAL, "image reference: empty");
  if (strlen (s) > 4096)
    return veil_error_set (err, EINVAL, "image reference: longer than 4096 characters");
  for (const char *p = s; *p; p++)
    if ((unsigned char) *p <= ' ' || (unsigned char) *p >= 0x7f)
      return veil_error_set (err, EINVAL, "image reference '%s': contains whitespace or "
                                          "non-ASCII characters",
                             s);
  int r = !strncmp (s, "oci:", 4) ? parse_layout (s, ref, err) : parse_registry (s, ref, err);
  if (r < 0)
    veil_image_ref_clear (ref);
  return r;
}

char *
veil_image_ref_format (const veil_image_ref_t *ref)
{
  if (ref->kind == VEIL_REF_OCI_LAYOUT)
    return ref->tag ? xasprintf ("oci:%s:%s", ref->layout_dir, ref->tag)
                    : xasprintf ("oci:%s", ref->layout_dir);
  return xasprintf ("%s/%s%s%s%s%s", ref->registry, ref->repository, ref->tag ? ":" : "",
                    ref->tag ? ref->tag : "", ref->digest ? "@" : "",
                    ref->digest ? ref->digest : "");
}

void
veil_image_ref_clear (veil_image_ref_t *ref)
{
  free (ref->registry);
  free (ref->repository);
  free (ref->tag);
  free (ref->digest);
  free (ref->layout_dir);
  memset (ref, 0, sizeof *ref);
}
