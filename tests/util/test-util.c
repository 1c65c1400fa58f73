/* test-util.c: parsers, the system root, atomic state and the table/JSON renderer.
 * Runs against a temporary directory standing in for the root. */
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>
#include <cmocka.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

#include "util/attr.h"
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

/* Regular files only: a FIFO or a directory where a file should be is refused at once, never opened
 * (a FIFO would block the open until a writer came). */
static void test_root_regular_only(void **s)
{
	char p[PATH_MAX];
	_cleanup_free_ char *v = NULL;
	uint64_t size = 0;
	int fd;
	(void)s;

	assert_int_equal(root_mkdir_p("/sys/x/dir", 0755), 0);
	assert_int_equal(root_path(p, sizeof(p), "/sys/x/fifo"), 0);
	assert_int_equal(mkfifo(p, 0644), 0);
	assert_int_equal(root_read("/sys/x/fifo", &v), -EINVAL);
	assert_int_equal(root_write("/sys/x/fifo", "1"), -EINVAL);
	assert_int_equal(root_read("/sys/x/dir", &v), -EISDIR);
	assert_int_equal(file_open_regular(p, O_RDONLY, &size), -EINVAL);
	assert_int_equal(file_open_regular("/dev/null", O_RDONLY, &size), -EINVAL);
	assert_string_equal(file_type_error(-EINVAL), "not a regular file (a FIFO, device or socket)");
	assert_int_equal(root_write_atomic("/sys/x/f", "12345", 0644), 0);
	assert_int_equal(root_path(p, sizeof(p), "/sys/x/f"), 0);
	fd = file_open_regular(p, O_RDONLY, &size);
	assert_true(fd >= 0);
	assert_int_equal(size, 5);
	assert_int_equal(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
	close(fd);
}

/* The one parser of numeric attributes: ranges, bases, junk and absent files, each with its reason. */
static void test_attr(void **s)
{
	char p[PATH_MAX], *why = NULL;
	int v = 0;
	(void)s;

	assert_int_equal(root_mkdir_p("/sys/a", 0755), 0);
	assert_int_equal(root_write_atomic("/sys/a/total", "7\n", 0644), 0);
	assert_int_equal(attr_read_int("/sys/a/total", 10, 0, 0xffff, &v, &why), 0);
	assert_int_equal(v, 7);
	assert_int_equal(root_write_atomic("/sys/a/total", "99999999999\n", 0644), 0);
	assert_int_equal(attr_read_int("/sys/a/total", 10, 0, 0xffff, &v, &why), -ERANGE);
	assert_string_equal(why, "'99999999999' is out of range (0-65535)");
	free(why);
	why = NULL;
	assert_int_equal(v, 7); /* untouched on failure */
	assert_int_equal(root_write_atomic("/sys/a/numa", "-1\n", 0644), 0);
	assert_int_equal(attr_read_int("/sys/a/numa", 10, -1, 1023, &v, NULL), 0);
	assert_int_equal(v, -1);
	assert_int_equal(root_write_atomic("/sys/a/numa", "0x3\n", 0644), 0);
	assert_int_equal(attr_read_int("/sys/a/numa", 10, -1, 1023, &v, &why), -EINVAL);
	assert_string_equal(why, "'0x3' is not a number");
	free(why);
	why = NULL;
	assert_int_equal(root_write_atomic("/sys/a/vendor", "0x8086\n", 0644), 0);
	assert_int_equal(attr_read_int("/sys/a/vendor", 16, 0, 0xffff, &v, NULL), 0);
	assert_int_equal(v, 0x8086);
	assert_int_equal(root_write_atomic("/sys/a/vendor", "\n", 0644), 0);
	assert_int_equal(attr_read_int("/sys/a/vendor", 16, 0, 0xffff, &v, &why), -EINVAL);
	free(why);
	why = NULL;
	assert_int_equal(attr_read_int("/sys/a/absent", 10, 0, 1, &v, &why), -ENOENT);
	assert_null(why);
	/* Links: the group number, a self-loop, a name that is not a number. */
	assert_int_equal(root_path(p, sizeof(p), "/sys/a/iommu_group"), 0);
	assert_int_equal(symlink("../../kernel/iommu_groups/12", p), 0);
	assert_int_equal(attr_read_link_number("/sys/a/iommu_group", &v, NULL), 0);
	assert_int_equal(v, 12);
	assert_int_equal(root_path(p, sizeof(p), "/sys/a/loop"), 0);
	assert_int_equal(symlink("loop", p), 0);
	assert_int_equal(attr_read_link_number("/sys/a/loop", &v, &why), -EINVAL);
	assert_string_equal(why, "the link points to 'loop', not to a numbered directory");
	free(why);
}

/* Strings that are not UTF-8 come out as \xNN in JSON (valid UTF-8), and control characters as
 * \xNN in tables; valid multi-byte text passes untouched. */
static void test_output_utf8(void **s)
{
	static const struct out_column cols[] = { { "s", "S" } };
	_cleanup_json_ json_object *o = json_object_new_object(), *rows = json_object_new_array();
	json_object *row = json_object_new_object();
	_cleanup_free_ char *j = NULL, *t = NULL;
	size_t len = 0;
	FILE *f;
	(void)s;

	json_add_str(o, "bad", "A\xff\xc3(\xed\xa0\x80\xe0\x80\x80Z");
	json_add_str(o, "ok", "T\xc3\xa9st \xe2\x82\xac");
	j = render_json(o);
	assert_string_equal(j, "{\n"
			       "  \"bad\": \"A\\\\xff\\\\xc3(\\\\xed\\\\xa0\\\\x80\\\\xe0\\\\x80\\\\x80Z\",\n"
			       "  \"ok\": \"T\xc3\xa9st \xe2\x82\xac\"\n"
			       "}\n");
	json_add_str(row, "s", "red\x1b[31m\tx");
	json_object_array_add(rows, row);
	f = open_memstream(&t, &len);
	assert_non_null(f);
	assert_int_equal(out_table(f, rows, cols, 1), 0);
	fclose(f);
	assert_string_equal(t, "S\nred\\x1b[31m\\x09x\n");
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
		cmocka_unit_test_setup_teardown(test_root_regular_only, setup_root, teardown_root),
		cmocka_unit_test_setup_teardown(test_attr, setup_root, teardown_root),
		cmocka_unit_test(test_output_utf8),
	};
	return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
