/* The runtime-spec config made from an image config. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include "veil/image.h"

static char dir[64];

static int
setup (void **state)
{
  (void) state;
  snprintf (dir, sizeof (dir), "/tmp/veil-spec-XXXXXX");
  if (!mkdtemp (dir))
    return -1;
  _cleanup_free_ char *etc = xasprintf ("%s/rootfs/etc", dir);
  veil_mkdir_p (etc, 0755, NULL);
  _cleanup_free_ char *pw = xasprintf ("%s/passwd", etc), *gr = xasprintf ("%s/group", etc);
  const char *passwd = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001:app:/home/app:/bin/sh\n";
  const char *group = "root:x:0:\nstaff:x:50:\napp:x:1001:\n";
  veil_file_write_atomic (pw, passwd, strlen (passwd), 0644, NULL);
  veil_file_write_atomic (gr, group, strlen (group), 0644, NULL);
  return 0;
}

static int
teardown (void **state)
{
  (void) state;
  _cleanup_free_ char *cmd = xasprintf ("rm -rf '%s'", dir);
  return system (cmd);
}

static json_t *
spec_for (const char *config_json, veil_error_t **err)
{
  _cleanup_free_ char *root = xasprintf ("%s/rootfs", dir);
  _cleanup_close_ int fd = open (root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  assert_true (fd >= 0);
  _cleanup_json_ json_t *cfg = json_loads (config_json, 0, NULL);
  assert_non_null (cfg);
  return veil_image_runtime_spec (cfg, fd, err);
}

static void
test_process_from_config (void **state)
{
  (void) state;
  _cleanup_json_ json_t *s = spec_for (
      "{\"config\":{\"Entrypoint\":[\"/bin/app\"],\"Cmd\":[\"--port\",\"8080\"],"
      "\"Env\":[\"A=1\"],\"WorkingDir\":\"/srv\",\"User\":\"app:staff\"}}",
      NULL);
  assert_non_null (s);
  json_t *p = json_object_get (s, "process");
  _cleanup_free_ char *args = json_dumps (json_object_get (p, "args"), JSON_COMPACT);
  assert_string_equal (args, "[\"/bin/app\",\"--port\",\"8080\"]");
  json_t *env = json_object_get (p, "env");
  assert_int_equal (json_array_size (env), 2);
  assert_true (!strncmp (json_string_value (json_array_get (env, 0)), "PATH=", 5));
  assert_string_equal (json_string_value (json_array_get (env, 1)), "A=1");
  assert_string_equal (veil_json_str (p, "cwd"), "/srv");
  json_t *u = json_object_get (p, "user");
  assert_int_equal (json_integer_value (json_object_get (u, "uid")), 1000);
  assert_int_equal (json_integer_value (json_object_get (u, "gid")), 50);
  assert_string_equal (veil_json_str (json_object_get (s, "root"), "path"), "rootfs");
  assert_int_equal (json_array_size (json_object_get (json_object_get (s, "linux"), "namespaces")), 5);
}

static void
test_user_forms (void **state)
{
  (void) state;
  _cleanup_json_ json_t *a = spec_for ("{\"config\":{\"User\":\"app\"}}", NULL);
  json_t *u = json_object_get (json_object_get (a, "process"), "user");
  assert_int_equal (json_integer_value (json_object_get (u, "uid")), 1000);
  assert_int_equal (json_integer_value (json_object_get (u, "gid")), 1001);
  _cleanup_json_ json_t *b = spec_for ("{\"config\":{\"User\":\"1000\"}}", NULL);
  u = json_object_get (json_object_get (b, "process"), "user");
  assert_int_equal (json_integer_value (json_object_get (u, "gid")), 1001);
  _cleanup_json_ json_t *c = spec_for ("{\"config\":{\"User\":\"7:8\"}}", NULL);
  u = json_object_get (json_object_get (c, "process"), "user");
  assert_int_equal (json_integer_value (json_object_get (u, "uid")), 7);
  assert_int_equal (json_integer_value (json_object_get (u, "gid")), 8);
  _cleanup_json_ json_t *d = spec_for ("{}", NULL); /* no config: sh as root */
  assert_string_equal (json_string_value (json_array_get (json_object_get (json_object_get (d, "process"), "args"), 0)), "sh");
  veil_error_t *err = NULL;
  assert_null (spec_for ("{\"config\":{\"User\":\"nobody-here\"}}", &err));
  assert_non_null (strstr (err->msg, "nobody-here"));
  veil_error_free (err);
}

/* /etc/passwd is read inside the rootfs: an etc symlink to the host's /etc
 * must not make the host's users count. */
static void
test_passwd_not_read_outside (void **state)
{
  (void) state;
  _cleanup_free_ char *etc = xasprintf ("%s/rootfs/etc", dir), *cmd = xasprintf ("rm -rf '%s'", etc);
  assert_int_equal (system (cmd), 0);
  assert_int_equal (symlink ("/etc", etc), 0);
  veil_error_t *err = NULL;
  /* the host has a "root" user; RESOLVE_IN_ROOT turns /etc into rootfs/etc,
   * which does not exist */
  assert_null (spec_for ("{\"config\":{\"User\":\"daemon\"}}", &err));
  veil_error_free (err);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_process_from_config, setup, teardown),
    cmocka_unit_test_setup_teardown (test_user_forms, setup, teardown),
    cmocka_unit_test_setup_teardown (test_passwd_not_read_outside, setup, teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
