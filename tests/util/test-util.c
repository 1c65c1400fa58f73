/* test-util.c: parsers, the system root, atomic state and the table/JSON renderer.
 * Runs against a temporary directory standing in for the root. */
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>
#include <cmocka.h>
#include <limits.h>
#include <sys/stat.h>

#include "util/output.h"
#include "util/pciaddr.h"
#include "util/root.h"
#include "util/state.h"

static void test_pci_addr(void **s)
{
	struct pci_addr a;
	char buf[PCI_ADDR_STRLEN];
	(void)s;

	assert_int_equal(pci_addr_parse("0000:03:00.0", &a), 0);
	assert_string_equal(pci_addr_format(&a, buf), "0000:03:00.0");
	assert_int_equal(pci_addr_parse("3A:1f.7", &a), 0);
	assert_string_equal(pci_addr_format(&a, buf), "0000:3a:1f.7");
	assert_int_equal(pci_addr_parse("10000:00:01.0", &a), 0);
	assert_string_equal(pci_addr_format(&a, buf), "10000:00:01.0");
	const char *bad[] = { "", "03:00", "0000:03:00.8", "0000:03:20.0", "0000:103:00.0", "03:00.0 ",
			      " 03:00.0", "0000:03:00.0x", "g0:00.0", "0000::00.0", "1:2:3:4.0", "03:00.-1" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(pci_addr_parse(bad[i], &a), -EINVAL);
}

static void test_parse(void **s)
{
	uint64_t v;
	int i;
	char buf[32];
	(void)s;

	assert_int_equal(parse_size("512M", &v), 0);
	assert_int_equal(v, 512ull << 20);
	assert_int_equal(parse_size("2g", &v), 0);
	assert_int_equal(v, 2ull << 30);
	assert_int_equal(parse_size("4096", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(parse_size("1GiB", &v), 0);
	assert_int_equal(v, 1ull << 30);
	assert_int_equal(parse_size("12X", &v), -EINVAL);
	assert_int_equal(parse_size("-1", &v), -EINVAL);
	assert_int_equal(parse_size("99999999999999T", &v), -ERANGE);
	assert_int_equal(parse_u64("0x1f", 0, &v), 0);
	assert_int_equal(v, 31);
	assert_int_equal(parse_u64("-1", 10, &v), -EINVAL);
	assert_int_equal(parse_int("42", &i), 0);
	assert_int_equal(i, 42);
	assert_int_equal(parse_int("4x", &i), -EINVAL);
	format_size(buf, sizeof(buf), 2ull << 20);
	assert_string_equal(buf, "2M");
	format_size(buf, sizeof(buf), 1000);
	assert_string_equal(buf, "1000");
}

static char tmpdir[PATH_MAX];

static int setup_root(void **s)
{
	(void)s;
	strcpy(tmpdir, "/tmp/ptctl-test-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	root_set(tmpdir);
	return 0;
}

static int teardown_root(void **s)
{
	char cmd[PATH_MAX + 16];
	(void)s;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	root_set(NULL);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_root_io(void **s)
{
	_cleanup_free_ char *v = NULL, *base = NULL;
	_cleanup_strv_free_ char **l = NULL;
	char p[PATH_MAX];
	uint64_t n;
	(void)s;

	assert_int_equal(root_mkdir_p("/sys/devices/x", 0755), 0);
	assert_int_equal(root_write_atomic("/sys/devices/x/numvfs", "7\n", 0644), 0);
	assert_int_equal(root_read("/sys/devices/x/numvfs", &v), 0);
	assert_string_equal(v, "7");
	assert_int_equal(root_read_u64("/sys/devices/x/numvfs", 10, &n), 0);
	assert_int_equal(n, 7);
	assert_int_equal(root_write("/sys/devices/x/numvfs", "3"), 0);
	assert_int_equal(root_read_u64("/sys/devices/x/numvfs", 10, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(root_read("/sys/devices/x/missing", &base), -ENOENT);
	assert_int_equal(root_path(p, sizeof(p), "/sys/devices/x/driver"), 0);
	assert_int_equal(symlink("../../bus/pci/drivers/igb", p), 0);
	assert_int_equal(root_readlink_base("/sys/devices/x/driver", &base), 0);
	assert_string_equal(base, "igb");
	assert_int_equal(root_list("/sys/devices/x", &l), 0);
	assert_int_equal(strv_length(l), 2);
	assert_string_equal(l[0], "driver");
	assert_string_equal(l[1], "numvfs");
	assert_true(root_exists("/sys/devices/x"));
	assert_false(root_exists("/sys/devices/y"));
}

static int hook_calls;
static int hook(const char *path, const char *value, void *ud)
{
	(void)ud;
	hook_calls++;
	if (streq(value, "refuse"))
		return -EBUSY;
	return streq(path, "/sys/handled") ? 1 : 0;
}

static void test_write_hook(void **s)
{
	(void)s;
	root_set_write_hook(hook, NULL);
	assert_int_equal(root_write("/sys/handled", "x"), 0);
	assert_int_equal(root_write("/sys/anything", "refuse"), -EBUSY);
	assert_int_equal(root_write("/sys/absent", "x"), -ENOENT);
	assert_int_equal(hook_calls, 3);
	root_set_write_hook(NULL, NULL);
}

static void test_state(void **s)
{
	_cleanup_free_ char *c = NULL, *v = NULL;
	_cleanup_strv_free_ char **names = NULL;
	_cleanup_close_ int lock = -1;
	(void)s;

	lock = state_lock(100);
	assert_true(lock >= 0);
	assert_int_equal(state_write("devices", "0000:03:00.0", "driver=igb\noverride=\n"), 0);
	assert_int_equal(state_read("devices", "0000:03:00.0", &c), 0);
	assert_int_equal(state_get_value(c, "driver", &v), 0);
	assert_string_equal(v, "igb");
	free(v);
	v = NULL;
	assert_int_equal(state_get_value(c, "override", &v), 0);
	assert_string_equal(v, "");
	assert_int_equal(state_get_value(c, "drive", &v), -ENOENT);
	assert_int_equal(state_list("devices", &names), 0);
	assert_int_equal(strv_length(names), 1);
	assert_int_equal(state_write("devices", "../x", "a"), -EINVAL);
	assert_int_equal(state_remove("devices", "0000:03:00.0"), 0);
	assert_int_equal(state_remove("devices", "0000:03:00.0"), 0);
}

static char *render(json_object *v, bool table, bool json)
{
	static const struct out_column cols[] = { { "address", "ADDRESS" }, { "sriov.total", "VFS" },
						  { "up", "UP" } };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	out_set_json(json);
	if (table)
		out_table(f, v, cols, ARRAY_SIZE(cols));
	else
		out_record(f, v);
	fclose(f);
	out_set_json(false);
	return buf;
}

static void test_output(void **s)
{
	_cleanup_json_ json_object *rows = json_object_new_array();
	_cleanup_free_ char *t = NULL, *j = NULL, *r = NULL;
	(void)s;

	for (int i = 0; i < 2; i++) {
		json_object *o = json_object_new_object(), *sr = json_object_new_object();
		json_add_str(o, "address", i ? "0000:03:00.1" : "0000:03:00.0");
		json_add_int(sr, "total", i ? 7 : 0);
		json_add(o, "sriov", sr);
		json_add_bool(o, "up", i);
		json_object_array_add(rows, o);
	}
	t = render(rows, true, false);
	assert_string_equal(t, "ADDRESS       VFS  UP\n"
			       "0000:03:00.0  0    no\n"
			       "0000:03:00.1  7    yes\n");
	j = render(rows, true, true);
	assert_non_null(strstr(j, "\"address\": \"0000:03:00.0\""));
	r = render(json_object_array_get_idx(rows, 1), false, false);
	assert_string_equal(r, "address: 0000:03:00.1\n"
			       "sriov:\n"
			       "  total: 7\n"
			       "up:      yes\n");
}

static char *render_json(json_object *v)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	assert_int_equal(out_json(f, v), 0);
	fclose(f);
	return buf;
}

static void test_output_json_empty(void **s)
{
	_cleanup_json_ json_object *root = json_object_new_object(), *empty = json_object_new_array();
	_cleanup_free_ char *j = NULL, *e = NULL;
	json_object *b = json_object_new_object(), *d = json_object_new_array();
	(void)s;

	json_add(root, "a", json_object_new_array());
	json_add(b, "c", json_object_new_object());
	json_object_array_add(d, json_object_new_array());
	json_object_array_add(d, json_object_new_object());
	json_add(b, "d", d);
	json_add(root, "b", b);
	/* Looks like the pretty printer's layout, but it is data: it must come out escaped, intact. */
	json_add_str(root, "s", "[\n ]{\n  }");
	j = render_json(root);
	assert_string_equal(j, "{\n"
			       "  \"a\": [],\n"
			       "  \"b\": {\n"
			       "    \"c\": {},\n"
			       "    \"d\": [\n"
			       "      [],\n"
			       "      {}\n"
			       "    ]\n"
			       "  },\n"
			       "  \"s\": \"[\\n ]{\\n  }\"\n"
			       "}\n");
	e = render_json(empty);
	assert_string_equal(e, "[]\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pci_addr),
		cmocka_unit_test(test_parse),
		cmocka_unit_test_setup_teardown(test_root_io, setup_root, teardown_root),
		cmocka_unit_test_setup_teardown(test_write_hook, setup_root, teardown_root),
		cmocka_unit_test_setup_teardown(test_state, setup_root, teardown_root),
		cmocka_unit_test(test_output),
		cmocka_unit_test(test_output_json_empty),
	};
	return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
