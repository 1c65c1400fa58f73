/* test-cfg-parse.c: the configuration files: every error class reported as FILE:LINE: what and why,
 * systemd's precedence (/etc over /run over /usr/lib, masking) and drop-ins, typed values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>
#include <sys/stat.h>

#include "cfg/cfg.h"
#include "util/root.h"

struct tree {
	char dir[64];
};

static void put(struct tree *t, const char *host, const char *content)
{
	char p[PATH_MAX], cmd[PATH_MAX + 64];
	FILE *f;
	snprintf(p, sizeof(p), "%s%s", t->dir, host);
	snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", p);
	assert_int_equal(system(cmd), 0);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
}

static int setup(void **state)
{
	struct tree *t = calloc(1, sizeof(*t));
	strcpy(t->dir, "/tmp/ptctl-cfg-XXXXXX");
	if (!mkdtemp(t->dir))
		return -1;
	root_set(t->dir);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct tree *t = *state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->dir);
	root_set(NULL);
	if (system(cmd) != 0)
		return -1;
	free(t);
	return 0;
}

/* Loads and expects failure; returns the errors as "FILE:LINE: msg\n" lines. */
static char *errors_of(void)
{
	struct cfg *c = NULL;
	struct cfg_errors e;
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	assert_int_equal(cfg_load(NULL, &c, &e), -EINVAL);
	assert_null(c);
	for (size_t i = 0; i < e.n; i++)
		fprintf(f, "%s:%u: %s\n", e.v[i].file, e.v[i].line, e.v[i].msg);
	fclose(f);
	cfg_errors_clear(&e);
	return out;
}

static struct cfg *load_ok(void)
{
	struct cfg *c = NULL;
	struct cfg_errors e;
	int r = cfg_load(NULL, &c, &e);
	for (size_t i = 0; i < e.n; i++)
		fprintf(stderr, "unexpected: %s:%u: %s\n", e.v[i].file, e.v[i].line, e.v[i].msg);
	assert_int_equal(r, 0);
	cfg_errors_clear(&e);
	return c;
}

#define assert_has(hay, needle)                                                                            \
	do {                                                                                               \
		if (!strstr((hay), (needle)))                                                               \
			fail_msg("'%s' not in:\n%s", (needle), (hay));                                      \
	} while (0)

static void test_syntax_errors(void **state)
{
	put(*state, "/etc/ptctl/a.conf",
	    "Foo=1\n"                 /* 1: key outside a section */
	    "[Device\n"               /* 2: malformed header */
	    "[Nope]\n"                /* 3: unknown section */
	    "X=1\n"                   /* 4: inside it: not reported again */
	    "[Device]\n"              /* 5 */
	    "junk\n"                  /* 6: no '=' */
	    "Address:0000:01:00.0\n"  /* 7: ':' separator */
	    "Address=0000:01:00.0\n"  /* 8 */
	    "Driver=vfio-pci\n"       /* 9 */
	    "Bad\xff=1\n");           /* 10: not UTF-8 */
	_cleanup_free_ char *e = errors_of();
	assert_has(e, "/etc/ptctl/a.conf:1: Foo= outside a section");
	assert_has(e, "/etc/ptctl/a.conf:2: malformed section header '[Device'");
	assert_has(e, "/etc/ptctl/a.conf:3: unknown section [Nope]");
	assert_null(strstr(e, "a.conf:4:"));
	assert_has(e, "/etc/ptctl/a.conf:6: 'junk': expected KEY=VALUE");
	assert_has(e, "/etc/ptctl/a.conf:7: 'Address:0000:01:00.0': expected KEY=VALUE, a [Section] header or a # comment "
		      "(':' is not a separator here)");
	assert_has(e, "/etc/ptctl/a.conf:10: not valid UTF-8");
}

static void test_long_line(void **state)
{
	char *big = malloc(5000);
	memset(big, 'x', 4999);
	big[4999] = '\0';
	memcpy(big, "[VM]\nName=a\nKernel=/k\nCommandLine=", 34);
	put(*state, "/etc/ptctl/a.conf", big);
	free(big);
	_cleanup_free_ char *e = errors_of();
	assert_has(e, "/etc/ptctl/a.conf:4: line longer than 4000 characters");
}

static void test_key_errors(void **state)
{
	put(*state, "/etc/ptctl/a.conf",
	    "[Device]\n"                 /* 1 */
	    "Address=0000:01:00.0\n"     /* 2 */
	    "Address=0000:02:00.0\n"     /* 3: twice */
	    "Colour=blue\n"              /* 4: unknown key */
	    "Driver=vfio pci\n"          /* 5: bad driver */
	    "Group=perhaps\n"            /* 6: bad boolean */
	    "[Device]\n"                 /* 7: nothing identifies it, no driver */
	    "Match=8086\n"               /* 8: bad match */
	    "[SR-IOV]\n"                 /* 9 */
	    "PhysicalFunction=en/p1\n"   /* 10: bad PF */
	    "VirtualFunctions=-1\n"      /* 11 */
	    "[VirtualFunction]\n"        /* 12 */
	    "PhysicalFunction=enp1s0\n"  /* 13 */
	    "VirtualFunction=0\n"        /* 14 */
	    "MACAddress=01:00:00:00:00:01\n" /* 15: multicast */
	    "VLANId=4096\n"              /* 16 */
	    "VLANProtocol=802.1ad\n"     /* 17: unsupported */
	    "LinkState=sometimes\n"      /* 18 */
	    "[VM]\n"                     /* 19 */
	    "Name=-bad\n"                /* 20 */
	    "Kernel=relative/path\n"     /* 21 */
	    "Memory=15M\n"               /* 22 */
	    "CPUs=0\n"                   /* 23 */
	    "HugePages=4M\n"             /* 24 */
	    "NIC=e1000x\n"               /* 25 */
	    "Assign=nonsense\n");        /* 26 */
	_cleanup_free_ char *e = errors_of();
	assert_has(e, "a.conf:3: Address= given twice in this [Device] section (first at line 2)");
	assert_has(e, "a.conf:4: unknown key Colour= in [Device] (known: Address=, Match=, Driver=, Group=)");
	assert_has(e, "a.conf:5: Driver=vfio pci: expected vfio-pci, host, or a kernel driver name");
	assert_has(e, "a.conf:6: Group=perhaps: expected a boolean");
	assert_has(e, "a.conf:7: [Device] needs Driver=");
	assert_has(e, "a.conf:8: Match=8086: expected VENDOR:DEVICE");
	assert_has(e, "a.conf:10: PhysicalFunction=en/p1: expected the PF's PCI address");
	assert_has(e, "a.conf:11: VirtualFunctions=-1: expected a whole number from 0 to 65535");
	assert_has(e, "a.conf:15: MACAddress=01:00:00:00:00:01: a VF needs a unicast, non-zero MAC address");
	assert_has(e, "a.conf:16: VLANId=4096: expected a whole number from 0 to 4095");
	assert_has(e, "a.conf:17: VLANProtocol=802.1ad: 802.1ad (QinQ) VF VLANs are not supported");
	assert_has(e, "a.conf:18: LinkState=sometimes: expected auto, or a boolean");
	assert_has(e, "a.conf:20: Name=-bad: a VM name is 1-32 of");
	assert_has(e, "a.conf:21: Kernel=relative/path: expected an absolute path");
	assert_has(e, "a.conf:22: Memory=15M: expected a size of at least 16M");
	assert_has(e, "a.conf:23: CPUs=0: expected a whole number from 1 to 64");
	assert_has(e, "a.conf:24: HugePages=4M: expected 2M, 1G or no");
	assert_has(e, "a.conf:25: NIC=e1000x: unknown NIC model (give e1000, virtio or vhost)");
	assert_has(e, "a.conf:26: Assign=nonsense: expected a PCI address");
}

static void test_contradictions(void **state)
{
	put(*state, "/etc/ptctl/a.conf",
	    "[SR-IOV]\n"                    /* 1 */
	    "PhysicalFunction=enp1s0\n"     /* 2 */
	    "VirtualFunctions=2\n"          /* 3 */
	    "[VirtualFunction]\n"           /* 4 */
	    "PhysicalFunction=enp1s0\n"     /* 5 */
	    "VirtualFunction=2\n"           /* 6: beyond the count */
	    "QualityOfService=3\n"          /* 7: no VLAN */
	    "MinTxRate=100\n"               /* 8: > max */
	    "MaxTxRate=10\n"                /* 9 */
	    "Driver=igbvf\n"                /* 10 */
	    "[Device]\n"                    /* 11 */
	    "Address=0000:03:00.0\n"        /* 12 */
	    "Match=8086:10d3\n"             /* 13: both */
	    "Driver=vfio-pci\n"             /* 14 */
	    "[Device]\n"                    /* 15 */
	    "Address=0000:03:00.0\n"        /* 16: the same device again */
	    "Driver=host\n");               /* 17 */
	put(*state, "/etc/ptctl/b.conf",
	    "[VM]\n"                        /* 1 */
	    "Name=vm1\n"                    /* 2 */
	    "Kernel=/k\n"                   /* 3 */
	    "Assign=0000:05:00.0\n"         /* 4 */
	    "Assign=enp1s0:2\n"             /* 5: the VF has Driver=igbvf */
	    "[VM]\n"                        /* 6 */
	    "Name=vm2\n"                    /* 7 */
	    "Kernel=/k\n"                   /* 8 */
	    "Assign=05:00.0\n"              /* 9: already in vm1 */
	    "HugePages=1G\n"                /* 10 */
	    "Memory=512M\n");               /* 11: not a multiple of 1G */
	_cleanup_free_ char *e = errors_of();
	assert_has(e, "a.conf:6: VirtualFunction=2: beyond VirtualFunctions=2 of enp1s0 (/etc/ptctl/a.conf:1); VF "
		      "indexes run from 0 to 1");
	assert_has(e, "a.conf:7: QualityOfService=3: a priority needs a VLAN");
	assert_has(e, "a.conf:8: MinTxRate=100: more than MaxTxRate=");
	assert_has(e, "a.conf:13: Match=8086:10d3: give Address= or Match=, not both");
	assert_has(e, "a.conf:15: [Device] 0000:03:00.0 is configured twice (first at /etc/ptctl/a.conf:11)");
	assert_has(e, "b.conf:5: Assign=enp1s0:2: vf enp1s0/2 gives it Driver=igbvf (/etc/ptctl/a.conf:4), but an "
		      "assigned device must be on vfio-pci");
	assert_has(e, "b.conf:9: Assign=05:00.0: already assigned to VM vm1 (/etc/ptctl/b.conf:4)");
	assert_has(e, "b.conf:11: Memory=512M: not a multiple of the huge page size");
	/* In file order, then line order. */
	assert_true(strstr(e, "a.conf:6:") < strstr(e, "a.conf:13:"));
	assert_true(strstr(e, "a.conf:15:") < strstr(e, "b.conf:5:"));
}

static void test_not_regular(void **state)
{
	struct tree *t = *state;
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/etc/ptctl/dir.conf", t->dir);
	put(t, "/etc/ptctl/ok.conf", "");
	assert_int_equal(mkdir(p, 0755), 0);
	_cleanup_free_ char *e = errors_of();
	assert_has(e, "/etc/ptctl/dir.conf:0: not a regular file");
}

static const struct cfg_object *find(const struct cfg *c, const char *id)
{
	for (size_t i = 0; i < c->n_objects; i++)
		if (streq(c->objects[i].id, id))
			return &c->objects[i];
	fail_msg("no object %s", id);
	return NULL;
}

static const struct cfg_entry *entry(const struct cfg_object *o, const char *key)
{
	for (size_t i = 0; i < o->n_entries; i++)
		if (streq(o->entries[i].key, key))
			return &o->entries[i];
	return NULL;
}

static void test_precedence(void **state)
{
	struct tree *t = *state;
	char p[PATH_MAX];

	/* same name: /etc wins over /run and /usr/lib; /run over /usr/lib */
	put(t, "/usr/lib/ptctl/a.conf", "[Device]\nAddress=0000:01:00.0\nDriver=igb\n");
	put(t, "/run/ptctl/conf.d/a.conf", "[Device]\nAddress=0000:02:00.0\nDriver=igb\n");
	put(t, "/etc/ptctl/a.conf", "[Device]\nAddress=0000:03:00.0\nDriver=vfio-pci\n");
	put(t, "/usr/lib/ptctl/b.conf", "[Device]\nAddress=0000:04:00.0\nDriver=vfio-pci\n");
	put(t, "/run/ptctl/conf.d/b.conf", "[Device]\nAddress=0000:05:00.0\nDriver=vfio-pci\n");
	/* masked: an empty /etc file and a /dev/null link hide the vendor's (with its errors) */
	put(t, "/usr/lib/ptctl/c.conf", "[Broken\n");
	put(t, "/etc/ptctl/c.conf", "");
	put(t, "/usr/lib/ptctl/d.conf", "[Broken\n");
	put(t, "/usr/lib/ptctl/d.conf.d/x.conf", "[Broken\n");
	snprintf(p, sizeof(p), "%s/etc/ptctl/d.conf", t->dir);
	assert_int_equal(symlink("/dev/null", p), 0);
	/* not .conf: ignored */
	put(t, "/etc/ptctl/README", "[Broken\n");

	struct cfg *c = load_ok();
	assert_int_equal(c->n_objects, 2);
	assert_string_equal(c->objects[0].id, "device 0000:03:00.0");
	assert_string_equal(c->objects[0].file, "/etc/ptctl/a.conf");
	assert_string_equal(c->objects[1].id, "device 0000:05:00.0");
	assert_string_equal(c->objects[1].file, "/run/ptctl/conf.d/b.conf");
	assert_int_equal(c->n_files, 2);
	cfg_free(c);
}

static void test_dropins(void **state)
{
	struct tree *t = *state;
	put(t, "/etc/ptctl/nic.conf",
	    "[SR-IOV]\nPhysicalFunction=enp1s0\nVirtualFunctions=3\n"
	    "[VirtualFunction]\nPhysicalFunction=enp1s0\nVirtualFunction=0\nMACAddress=02:00:00:00:00:01\nVLANId=100\n"
	    "[VirtualFunction]\nPhysicalFunction=enp1s0\nVirtualFunction=1\nMACAddress=02:00:00:00:00:02\n"
	    "[VM]\nName=vm1\nKernel=/k\nAssign=enp1s0:1\n");
	/* by identity; /etc's 20-b.conf overrides /usr/lib's of the same name; order by name */
	put(t, "/usr/lib/ptctl/nic.conf.d/10-a.conf",
	    "[VirtualFunction]\nPhysicalFunction=enp1s0\nVirtualFunction=0\nVLANId=200\n");
	put(t, "/usr/lib/ptctl/nic.conf.d/20-b.conf", "[VirtualFunction]\nPhysicalFunction=enp1s0\nVirtualFunction=0\n"
						   "VLANId=999\n");
	put(t, "/etc/ptctl/nic.conf.d/20-b.conf",
	    "[VirtualFunction]\nPhysicalFunction=enp1s0\nVirtualFunction=0\nMACAddress=02:00:00:00:00:aa\n");
	/* no identity: the only [SR-IOV] and the only [VM] of nic.conf; an empty Assign= resets the list */
	put(t, "/run/ptctl/conf.d/nic.conf.d/30-c.conf",
	    "[SR-IOV]\nDriversAutoprobe=yes\n[VM]\nAssign=\nAssign=0000:07:00.0\nAssign=enp1s0:2\n");

	struct cfg *c = load_ok();
	const struct cfg_object *vf0 = find(c, "vf enp1s0/0"), *s = find(c, "sriov enp1s0"), *vm = find(c, "vm vm1");
	char mac[18];

	sriov_mac_format(vf0->vf.set.mac, mac);
	assert_string_equal(mac, "02:00:00:00:00:aa");
	assert_int_equal(vf0->vf.set.vlan, 200);
	assert_string_equal(entry(vf0, "VLANId")->file, "/usr/lib/ptctl/nic.conf.d/10-a.conf");
	assert_string_equal(entry(vf0, "MACAddress")->file, "/etc/ptctl/nic.conf.d/20-b.conf");
	assert_int_equal(s->sriov.num_vfs, 3);
	assert_int_equal(s->sriov.autoprobe, 1);
	assert_int_equal(vm->vm.n_assign, 2);
	assert_string_equal(vm->vm.assign[0].text, "0000:07:00.0");
	assert_true(vm->vm.assign[1].is_vf);
	assert_int_equal(vm->vm.assign[1].vf, 2);
	assert_int_equal(c->n_files, 4);
	assert_string_equal(c->files[1], "/usr/lib/ptctl/nic.conf.d/10-a.conf");
	assert_string_equal(c->files[2], "/etc/ptctl/nic.conf.d/20-b.conf");
	assert_string_equal(c->files[3], "/run/ptctl/conf.d/nic.conf.d/30-c.conf");
	cfg_free(c);
}

static void test_dropin_ambiguous(void **state)
{
	put(*state, "/etc/ptctl/nic.conf",
	    "[VirtualFunction]\nPhysicalFunction=enp1s0\nVirtualFunction=0\n"
	    "[VirtualFunction]\nPhysicalFunction=enp1s0\nVirtualFunction=1\n");
	put(*state, "/etc/ptctl/nic.conf.d/x.conf", "\n[VirtualFunction]\nTrust=yes\n");
	_cleanup_free_ char *e = errors_of();
	assert_has(e, "/etc/ptctl/nic.conf.d/x.conf:2: [VirtualFunction] in a drop-in must name its object "
		      "(PhysicalFunction= and VirtualFunction=) when the main file has several of that kind");
}

static void test_values(void **state)
{
	put(*state, "/etc/ptctl/a.conf",
	    "# comment\n; another\n\n"
	    "[VirtualFunction]\n"
	    "PhysicalFunction = 01:00.0\n"
	    "VirtualFunction=2\n"
	    "VLANId=7\nQualityOfService=5\nMACSpoofCheck=off\nTrust=true\nLinkState=auto\nMaxTxRate=500\n"
	    "[Device]\nMatch=8086:10D3,8086:0001\nDriver=vfio-pci\nGroup=yes\n"
	    "[VM]\nName=vm1\nKernel=/boot/k\nCommandLine=console=ttyS0 ; # kept\nMemory=1G\nCPUs=2\nHugePages=2M\n"
	    "Autostart=yes\nNIC=none\n");
	struct cfg *c = load_ok();
	const struct cfg_object *vf = find(c, "vf 0000:01:00.0/2"), *d = find(c, "device 8086:10D3,8086:0001"),
				*vm = find(c, "vm vm1");
	assert_true(vf->vf.pf.is_addr);
	assert_int_equal(vf->vf.set.mask, SRIOV_SET_VLAN | SRIOV_SET_SPOOFCHK | SRIOV_SET_TRUST | SRIOV_SET_STATE |
						  SRIOV_SET_RATE);
	assert_int_equal(vf->vf.set.qos, 5);
	assert_false(vf->vf.set.spoofchk);
	assert_true(vf->vf.set.trust);
	assert_int_equal(vf->vf.set.max_rate, 500);
	assert_int_equal(d->dev.vendor, 0x8086);
	assert_int_equal(d->dev.device, 0x10d3);
	assert_true(d->dev.has_subsys);
	assert_int_equal(d->dev.subsys_device, 1);
	assert_true(d->dev.group);
	assert_string_equal(vm->vm.cmdline, "console=ttyS0 ; # kept");
	assert_int_equal(vm->vm.memory, 1ull << 30);
	assert_int_equal(vm->vm.cpus, 2);
	assert_int_equal(vm->vm.hugepage_size, 2ull << 20);
	assert_true(vm->vm.autostart);
	cfg_free(c);
}

static void test_empty(void **state)
{
	(void)state;
	struct cfg *c = load_ok();
	assert_int_equal(c->n_objects, 0);
	assert_int_equal(c->n_files, 0);
	cfg_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_syntax_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_contradictions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_regular, setup, teardown),
		cmocka_unit_test_setup_teardown(test_precedence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dropins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dropin_ambiguous, setup, teardown),
		cmocka_unit_test_setup_teardown(test_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
