/* test-tap.c: vm/devices/tap.c against the real tun driver, inside a network namespace of its own (so
 * nothing on the host changes): create/attach/remove, names, vnet header, offload probing. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <unistd.h>
#include <cmocka.h>

#include "tests/lib/testskip.h"
#include "vm/devices/devices.h"

static bool netns_ok;

static bool if_exists(const char *name)
{
	return if_nametoindex(name) != 0;
}

static bool if_up(const char *name)
{
	char path[128], buf[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/net/%s/flags", name);
	f = fopen(path, "re");
	if (!f)
		return false;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	return strtoul(buf, NULL, 16) & IFF_UP;
}

static int setup(void **s)
{
	(void)s;
	/* /sys/class/net shows the namespace of whoever mounts sysfs: remount it in a mount namespace too. */
	if (access("/dev/net/tun", R_OK | W_OK) == 0 && unshare(CLONE_NEWNET | CLONE_NEWNS) == 0 &&
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
	    mount("sysfs", "/sys", "sysfs", 0, NULL) == 0)
		netns_ok = true;
	return 0;
}

static void test_names(void **s)
{
	struct vm_tap *t = (void *)1;
	const char *why = NULL;
	(void)s;

	assert_true(vm_tap_name_valid("tap0"));
	assert_true(vm_tap_name_valid("a234567890123456" + 1)); /* 15 bytes */
	assert_false(vm_tap_name_valid("a234567890123456"));    /* 16 bytes: too long for IFNAMSIZ */
	assert_false(vm_tap_name_valid(""));
	assert_false(vm_tap_name_valid(NULL));
	assert_false(vm_tap_name_valid("."));
	assert_false(vm_tap_name_valid(".."));
	assert_false(vm_tap_name_valid("a/b"));
	assert_false(vm_tap_name_valid("tap%d"));
	assert_false(vm_tap_name_valid("a b"));
	assert_false(vm_tap_name_valid("eth0:1"));
	assert_false(vm_tap_name_valid("t\xc3\xa4p"));
	assert_int_equal(vm_tap_open("../x", false, &t, &why), -EINVAL);
	assert_ptr_equal(t, (void *)1); /* untouched on failure */
	assert_non_null(why);
}

static void test_create_and_remove(void **s)
{
	struct vm_tap *t = NULL;
	const char *why = NULL;
	(void)s;
	if (!netns_ok)
		TEST_SKIP("netns", "no /dev/net/tun or no private network namespace (needs root)");

	assert_int_equal(vm_tap_open("pt-test0", false, &t, &why), 0);
	assert_true(t->created);
	assert_string_equal(t->name, "pt-test0");
	assert_true(if_exists("pt-test0"));
	assert_true(if_up("pt-test0"));
	vm_tap_free(t);
	assert_false(if_exists("pt-test0"));

	/* A generated name. */
	assert_int_equal(vm_tap_open(NULL, false, &t, &why), 0);
	assert_true(t->created);
	assert_memory_equal(t->name, "ptctl", 5);
	assert_true(if_exists(t->name));
	char name[16];
	snprintf(name, sizeof(name), "%s", t->name);
	vm_tap_free(t);
	assert_false(if_exists(name));
}

static void test_attach_existing(void **s)
{
	struct vm_tap *t = NULL, *t2 = (void *)1;
	const char *why = NULL;
	int fd;
	(void)s;
	if (!netns_ok)
		TEST_SKIP("netns", "no /dev/net/tun or no private network namespace (needs root)");

	/* The user's persistent tap: attached, not created, left in place. */
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI };
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "user-tap");
	assert_int_equal(ioctl(fd, TUNSETIFF, &ifr), 0);
	assert_int_equal(ioctl(fd, TUNSETPERSIST, 1), 0);
	close(fd);

	assert_int_equal(vm_tap_open("user-tap", true, &t, &why), 0);
	assert_false(t->created);
	assert_true(t->vnet_hdr);
	/* A second opener of a single-queue tap that is attached is refused. */
	assert_int_equal(vm_tap_open("user-tap", true, &t2, &why), -EBUSY);
	assert_ptr_equal(t2, (void *)1);
	vm_tap_free(t);
	assert_true(if_exists("user-tap"));

	/* Not a tap: the loopback device. */
	assert_int_equal(vm_tap_open("lo", false, &t2, &why), -EINVAL);
	assert_non_null(why);

	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	assert_int_equal(ioctl(fd, TUNSETIFF, &ifr), 0);
	assert_int_equal(ioctl(fd, TUNSETPERSIST, 0), 0);
	close(fd);
	assert_false(if_exists("user-tap"));
}

static void test_vnet_hdr_and_offload(void **s)
{
	struct vm_tap *t = NULL;
	const char *why = NULL;
	unsigned ok = 0;
	(void)s;
	if (!netns_ok)
		TEST_SKIP("netns", "no /dev/net/tun or no private network namespace (needs root)");

	assert_int_equal(vm_tap_open("pt-vnet", true, &t, &why), 0);
	int sz = 0;
	assert_int_equal(ioctl(t->fd, TUNGETVNETHDRSZ, &sz), 0);
	assert_int_equal(sz, VM_TAP_VNET_HDR_LEN);
	assert_int_equal(t->offload, 0);

	/* Every kernel since 2.6.27 takes CSUM + TSO4/6 + ECN; TSO without CSUM is refused. */
	assert_int_equal(vm_tap_probe_offload(t, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN, &ok), 0);
	assert_int_equal(ok, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN);
	assert_int_equal(t->offload, 0); /* the probe leaves the tap as it was */
	assert_int_equal(vm_tap_set_offload(t, TUN_F_TSO4), -EINVAL);
	assert_int_equal(vm_tap_probe_offload(t, TUN_F_TSO4, &ok), 0);
	assert_int_equal(ok, 0);
	/* A flag no kernel knows does not spoil the ones it does. */
	assert_int_equal(vm_tap_probe_offload(t, TUN_F_CSUM | TUN_F_TSO4 | 0x8000, &ok), 0);
	assert_int_equal(ok, TUN_F_CSUM | TUN_F_TSO4);
	assert_int_equal(vm_tap_set_offload(t, TUN_F_CSUM | TUN_F_TSO4), 0);
	assert_int_equal(t->offload, TUN_F_CSUM | TUN_F_TSO4);
	vm_tap_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_create_and_remove),
		cmocka_unit_test(test_attach_existing),
		cmocka_unit_test(test_vnet_hdr_and_offload),
	};
	return test_exit(cmocka_run_group_tests(tests, setup, NULL));
}
