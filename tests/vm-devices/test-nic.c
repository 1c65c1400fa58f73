/* test-nic.c: the command line's NIC form (vm_nic_parse) and the default MAC: every rule a user can break. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "vm/devices/devices.h"

static int parse(const char *s, struct vm_nic_config *n, const char **why)
{
	static char buf[256];
	snprintf(buf, sizeof(buf), "%s", s);
	*why = NULL;
	return vm_nic_parse(buf, n, why);
}

static void test_parse_ok(void **state)
{
	struct vm_nic_config n;
	const char *why;
	(void)state;

	assert_int_equal(parse("e1000", &n, &why), 0);
	assert_int_equal(n.model, VM_NIC_E1000);
	assert_null(n.tap);
	assert_false(n.has_mac);
	assert_int_equal(parse("virtio,tap=tap0", &n, &why), 0);
	assert_int_equal(n.model, VM_NIC_VIRTIO);
	assert_string_equal(n.tap, "tap0");
	assert_int_equal(parse("vhost,mac=02:aB:cd:00:00:01,tap=t-1", &n, &why), 0);
	assert_int_equal(n.model, VM_NIC_VHOST);
	assert_true(n.has_mac);
	assert_memory_equal(n.mac, "\x02\xab\xcd\x00\x00\x01", 6);
	assert_string_equal(n.tap, "t-1");
	assert_string_equal(vm_nic_model_to_string(VM_NIC_E1000), "e1000");
}

static void test_parse_bad(void **state)
{
	static const char *const bad[] = {
		"", "e100", "E1000", "e1000,", "e1000,tap=", "e1000,tap=a/b", "e1000,tap=a b", "e1000,tap=abcdefghijklmnop",
		"e1000,tap=%d", "e1000,tap=..", "e1000,mac=02:00:00:00:00", "e1000,mac=02:00:00:00:00:01:02",
		"e1000,mac=02-00-00-00-00-01", "e1000,mac=0g:00:00:00:00:01", "e1000,mac=01:00:5e:00:00:01",
		"e1000,mac=00:00:00:00:00:00", "e1000,mac=02:00:00:00:00:01,mac=02:00:00:00:00:02", "e1000,tap=a,tap=b",
		"e1000,speed=10", "e1000,tap",
	};
	struct vm_nic_config n = { .model = VM_NIC_VHOST };
	const char *why;
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(bad[i], &n, &why) != -EINVAL || !why)
			fail_msg("'%s' was accepted", bad[i]);
		assert_int_equal(n.model, VM_NIC_VHOST); /* *ret untouched on failure */
	}
	parse("e1000,mac=01:00:5e:00:00:01", &n, &why);
	assert_non_null(strstr(why, "unicast"));
	parse("e1000,tap=a/b", &n, &why);
	assert_non_null(strstr(why, "interface name"));
	parse("virtio2", &n, &why);
	assert_non_null(strstr(why, "e1000, virtio or vhost"));
}

static void test_default_mac(void **state)
{
	uint8_t a[6], b[6], c[6];
	(void)state;

	vm_nic_default_mac("vm1", 0, a);
	vm_nic_default_mac("vm1", 1, b);
	vm_nic_default_mac("vm2", 0, c);
	assert_int_equal(a[0], 0x02); /* locally administered unicast */
	assert_memory_not_equal(a, b, 6);
	assert_memory_not_equal(a, c, 6);
	vm_nic_default_mac("vm1", 0, b);
	assert_memory_equal(a, b, 6); /* stable */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_ok),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_default_mac),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
