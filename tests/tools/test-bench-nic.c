/* test-bench-nic.c: `ptctl bench nic` without a host: argument parsing, the guest console's result lines
 * (a real e1000 guest's console, kernel noise and forged lines mixed in), the figures and ratios, the JSON
 * shape and the SVG chart (golden files; UPDATE_GOLDEN=1 rewrites them), and the guest kit's pieces:
 * module order against modprobe, the kernel release, the params file's checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include "tests/lib/testskip.h"
#include "tools/bench-nic.h"
#include "tools/guest-kit.h"
#include "tools/svg-chart.h"
#include "util/output.h"

#define N "0123456789abcdef0123456789abcdef"
#define assert_double_equal(a, b, eps) \
	do { \
		double a_ = (a), b_ = (b); \
		if (fabs(a_ - b_) > (eps)) \
			fail_msg("%s = %.9g, expected %.9g", #a, a_, b_); \
	} while (0)

/* ---- arguments ---- */

static int parse(struct nicbench_opts *o, char **err, ...)
{
	char *argv[32] = { "bench nic" };
	int argc = 1;
	va_list ap;
	va_start(ap, err);
	for (char *a; (a = va_arg(ap, char *));)
		argv[argc++] = a;
	va_end(ap);
	free(*err);
	*err = NULL;
	return nicbench_parse_args(argc, argv, o, err);
}

static void test_args(void **s)
{
	struct nicbench_opts o;
	char *err = NULL;
	(void)s;

	assert_int_equal(parse(&o, &err, "--vf", "0000:01:10.0", NULL), 0);
	assert_string_equal(o.vf, "0000:01:10.0");
	assert_null(o.pf);
	assert_int_equal(o.paths, 0x1f);
	assert_int_equal(o.duration, 10);
	assert_false(o.qemu);
	assert_int_equal(o.memory, 512ull << 20);

	assert_int_equal(parse(&o, &err, "--pf", "01:00.0", "--paths", "passthrough,emulated", "--duration", "3",
			       "--kernel", "/k", "--svg", "x.svg", "--vmm", "qemu", "--memory", "256M", NULL), 0);
	assert_int_equal(o.paths, (1u << NICBENCH_PASSTHROUGH) | (1u << NICBENCH_EMULATED));
	assert_int_equal(o.duration, 3);
	assert_string_equal(o.kernel, "/k");
	assert_string_equal(o.svg, "x.svg");
	assert_true(o.qemu);
	assert_int_equal(o.memory, 256ull << 20);

	/* each refusal names what is wrong */
	static const struct {
		const char *a[6], *want;
	} bad[] = {
		{ { NULL }, "--vf ADDRESS" },
		{ { "--vf", "01:10.0", "--pf", "01:00.0", NULL }, "not both" },
		{ { "--vf", "01:10", NULL }, "not a PCI address" },
		{ { "--vf", "01:10.0", "--paths", "native,warp", NULL }, "unknown path 'warp'" },
		{ { "--vf", "01:10.0", "--paths", "native,native", NULL }, "listed twice" },
		{ { "--vf", "01:10.0", "--paths", ",", NULL }, "at least one" },
		{ { "--vf", "01:10.0", "--duration", "0", NULL }, "1 to 3600" },
		{ { "--vf", "01:10.0", "--duration", "2x", NULL }, "1 to 3600" },
		{ { "--vf", "01:10.0", "--vmm", "xen", NULL }, "ptctl or qemu" },
		{ { "--vf", "01:10.0", "--memory", "100M", NULL }, "128M to 64G" },
		{ { "--vf", "01:10.0", "extra", NULL }, "unexpected argument 'extra'" },
		{ { "--vf", "01:10.0", "--bogus", NULL }, "unknown option" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		const char *const *a = bad[i].a;
		assert_int_equal(parse(&o, &err, a[0], a[0] ? a[1] : NULL, a[0] && a[1] ? a[2] : NULL,
				       a[0] && a[1] && a[2] ? a[3] : NULL, a[0] && a[1] && a[2] && a[3] ? a[4] : NULL, NULL),
				 -EINVAL);
		assert_non_null(err);
		if (!strstr(err, bad[i].want))
			fail_msg("case %zu: '%s' does not say '%s'", i, err, bad[i].want);
	}
	free(err);
}

/* ---- console ---- */

/* What an e1000 guest printed under QEMU (TCG), with kernel noise, a forged line from something that
 * does not know the nonce, a result line behind a kernel timestamp, and malformed lines. */
static const char *const console_e1000[] = {
	"[    0.000000] Linux version 6.1.0-57-amd64 (debian-kernel@lists.debian.org)",
	"PTB " N " UP nic=eth0 driver=e1000 pci=0000:00:01.0 irqs=21\r",
	"PTB ffffffffffffffffffffffffffffffff IPERF tx 0 999999999999 1.0",
	"PTB " N " LINK up",
	"PTB " N " IRQ 11",
	"PTB " N " MARK start",
	"PTB " N " IPERF tx 0 25885592 2.09028",
	"PTB " N " IPERF tx zero 1 1",
	"[   12.1] e1000: eth0 NIC Link is Up PTB " N " IPERF rx 0 21021416 1.99764",
	"PTB " N " MARK end",
	"PTB " N " IRQ 839",
	"PTB " N " IRQ 5",
	"PTB " N " PING 0 0.733 7.011 30.975",
	"PTB " N " DONE",
	"[   23.451820] reboot: Power down",
};

static void feed(struct nicbench_console *c, const char *const *lines, size_t n, enum nicbench_event *ev)
{
	for (size_t i = 0; i < n; i++)
		ev[i] = nicbench_console_line(c, lines[i]);
}

static void test_console(void **s)
{
	struct nicbench_console c = {};
	enum nicbench_event ev[ARRAY_SIZE(console_e1000)];
	struct nicbench_result r = {};
	char *why = NULL;
	(void)s;

	/* without a nonce nothing is a result */
	assert_int_equal(nicbench_console_line(&c, "PTB  DONE"), NICBENCH_EV_NONE);
	snprintf(c.nonce, sizeof(c.nonce), N);
	feed(&c, console_e1000, ARRAY_SIZE(console_e1000), ev);
	assert_int_equal(ev[3], NICBENCH_EV_LINK);
	assert_int_equal(ev[5], NICBENCH_EV_START);
	assert_int_equal(ev[9], NICBENCH_EV_END);
	assert_int_equal(ev[13], NICBENCH_EV_DONE);
	assert_int_equal(ev[2], NICBENCH_EV_NONE);
	assert_string_equal(c.nic, "eth0");
	assert_string_equal(c.driver, "e1000");
	assert_string_equal(c.pci, "0000:00:01.0");
	/* the forged tx line and the malformed one changed nothing; the third IRQ line is ignored */
	assert_int_equal(c.iperf[0].bytes, 25885592);
	assert_int_equal(c.iperf[1].bytes, 21021416);
	assert_int_equal(c.nirq, 2);
	assert_int_equal(c.irq[0], 11);
	assert_int_equal(c.irq[1], 839);

	assert_int_equal(nicbench_result_from_console(&c, &r, &why), 0);
	assert_double_equal(r.tx_mbit, 25885592 * 8 / 2.09028 / 1e6, 1e-9);
	assert_double_equal(r.rx_mbit, 21021416 * 8 / 1.99764 / 1e6, 1e-9);
	assert_int_equal(r.bytes, 25885592 + 21021416);
	assert_int_equal(r.tx_bytes, 25885592);
	assert_int_equal(r.rx_bytes, 21021416);
	assert_double_equal(r.rtt_ms, 7.011, 1e-9);
	assert_true(r.has_irqs);
	assert_int_equal(r.irqs, 828);
	assert_string_equal(r.driver, "e1000");
	r.status = NICBENCH_OK;
	assert_double_equal(nicbench_mbit(&r), (r.tx_mbit + r.rx_mbit) / 2, 1e-12);
	nicbench_result_done(&r);
	nicbench_console_done(&c);
}

static void test_console_failures(void **s)
{
	struct nicbench_console c = {};
	struct nicbench_result r = {};
	char *why = NULL;
	(void)s;

	snprintf(c.nonce, sizeof(c.nonce), N);
	assert_int_equal(nicbench_console_line(&c, "PTB " N " PCI 0000:00:00.0=0x1b36:0x0008"), NICBENCH_EV_NONE);
	assert_int_equal(nicbench_console_line(&c, "PTB " N " FAIL no network interface: no driver bound a NIC"),
			 NICBENCH_EV_FAIL);
	assert_int_equal(nicbench_result_from_console(&c, &r, &why), -EBADMSG);
	assert_string_equal(why, "no network interface: no driver bound a NIC");
	assert_string_equal(c.devices, "0000:00:00.0=0x1b36:0x0008");
	free(why);
	nicbench_console_done(&c);

	/* iperf3 failed: its own error is the reason */
	snprintf(c.nonce, sizeof(c.nonce), N);
	const char *lines[] = {
		"PTB " N " LINK up", "PTB " N " IRQ 1", "PTB " N " MARK start", "PTB " N " IPERF tx 1 0 0",
		"PTB " N " IPERFERR tx unable to connect to server: Connection refused",
	};
	for (size_t i = 0; i < ARRAY_SIZE(lines); i++)
		nicbench_console_line(&c, lines[i]);
	assert_int_equal(nicbench_result_from_console(&c, &r, &why), -EBADMSG);
	assert_string_equal(why, "iperf3 guest -> peer failed (exit 1): unable to connect to server: Connection refused");
	free(why);
	nicbench_console_done(&c);

	/* a guest that stops half-way: no rx result */
	snprintf(c.nonce, sizeof(c.nonce), N);
	const char *half[] = { "PTB " N " LINK up", "PTB " N " IRQ 1", "PTB " N " MARK start", "PTB " N " IPERF tx 0 100 1.0" };
	for (size_t i = 0; i < ARRAY_SIZE(half); i++)
		nicbench_console_line(&c, half[i]);
	assert_int_equal(nicbench_result_from_console(&c, &r, &why), -EBADMSG);
	assert_string_equal(why, "iperf3 peer -> guest reported nothing");
	free(why);
	/* hostile values are not taken: negative, huge, not numbers */
	assert_int_equal(nicbench_console_line(&c, "PTB " N " IPERF rx 0 -5 1.0"), NICBENCH_EV_NONE);
	assert_int_equal(nicbench_console_line(&c, "PTB " N " IPERF rx 0 5 nan"), NICBENCH_EV_NONE);
	assert_int_equal(nicbench_console_line(&c, "PTB " N " IPERF rx 300 5 1"), NICBENCH_EV_NONE);
	assert_int_equal(nicbench_console_line(&c, "PTB " N " IPERF rx 0 99999999999999999999999 1"), NICBENCH_EV_NONE);
	assert_false(c.iperf[1].seen);
	nicbench_console_done(&c);
}

/* ---- report: ratios, JSON, table, SVG ---- */

static void fill(struct nicbench_result *r, double tx, double rx, uint64_t exits, uint64_t irqs, double cpu)
{
	*r = (struct nicbench_result){ .status = NICBENCH_OK, .tx_mbit = tx, .rx_mbit = rx, .rtt_ms = 0.25,
				       .bytes = 1000000000, .tx_bytes = 500000000, .rx_bytes = 500000000, .has_exits = exits > 0, .exits = exits, .has_irqs = true,
				       .irqs = irqs, .has_cpu = cpu > 0, .cpu_seconds = cpu, .window_seconds = 10 };
}

static void sample(struct nicbench_report *rep)
{
	*rep = (struct nicbench_report){ .vmm = "ptctl", .vf = "0000:01:10.0", .pf = "0000:01:00.0", .pf_netdev = "eth0",
					 .kernel = "/boot/vmlinuz-6.1.0-57-amd64", .release = "6.1.0-57-amd64",
					 .duration = 10, .loadavg = 1.5, .paths = 0x1f };
	/* the reference figure's numbers */
	fill(&rep->r[NICBENCH_NATIVE], 936, 936, 0, 52000, 0);
	fill(&rep->r[NICBENCH_EMULATED], 150, 152, 2400000, 98000, 9.5);
	fill(&rep->r[NICBENCH_VIRTIO], 931, 929, 41000, 61000, 6.25);
	rep->r[NICBENCH_VHOST] = (struct nicbench_result){ .status = NICBENCH_UNAVAILABLE,
							   .reason = strdup("this build has no <vhost> & \"model\"") };
	fill(&rep->r[NICBENCH_PASSTHROUGH], 933, 935, 12000, 52500, 1.25);
	rep->r[NICBENCH_PASSTHROUGH].driver = strdup("igbvf");
}

static void test_ratios(void **s)
{
	struct nicbench_report rep;
	struct nicbench_ratios q;
	(void)s;

	sample(&rep);
	nicbench_ratios(&rep, &q);
	assert_double_equal(q.passthrough_emulated, 934.0 / 151.0, 1e-12);
	assert_double_equal(q.virtio_emulated, 930.0 / 151.0, 1e-12);
	assert_double_equal(q.passthrough_native, 934.0 / 936.0, 1e-12);
	/* a side that is missing or failed gives no ratio, never a division by zero */
	rep.r[NICBENCH_EMULATED].status = NICBENCH_FAILED;
	rep.r[NICBENCH_NATIVE].tx_mbit = rep.r[NICBENCH_NATIVE].rx_mbit = 0;
	nicbench_ratios(&rep, &q);
	assert_double_equal(q.passthrough_emulated, 0, 0);
	assert_double_equal(q.virtio_emulated, 0, 0);
	assert_double_equal(q.passthrough_native, 0, 0);
	for (int p = 0; p < NICBENCH_PATHS; p++)
		nicbench_result_done(&rep.r[p]);
}

/* Compares text with tests/tools/golden/NAME (or rewrites it under UPDATE_GOLDEN=1). */
static void golden(const char *name, const char *text)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/golden/%s", SRCDIR, name);
	if (getenv("UPDATE_GOLDEN")) {
		FILE *f = fopen(path, "w");
		assert_non_null(f);
		fputs(text, f);
		fclose(f);
		return;
	}
	FILE *f = fopen(path, "r");
	if (!f)
		fail_msg("%s missing (UPDATE_GOLDEN=1 writes it)", path);
	char *want = calloc(1, 1 << 20);
	size_t n = fread(want, 1, (1 << 20) - 1, f);
	fclose(f);
	want[n] = 0;
	if (strcmp(want, text) != 0)
		fail_msg("%s differs from the output:\n%s", path, text);
	free(want);
}

static char *render(int (*fn)(FILE *, const struct nicbench_report *), const struct nicbench_report *rep)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	assert_int_equal(fn(f, rep), 0);
	fclose(f);
	return buf;
}

static void test_json_shape(void **s)
{
	struct nicbench_report rep;
	json_object *o = NULL, *paths, *row, *v;
	(void)s;

	sample(&rep);
	out_set_json(true);
	char *text = render(nicbench_print, &rep);
	out_set_json(false);
	golden("bench-nic.json", text);
	free(text);

	/* the shape scripts rely on, independent of the golden file's formatting */
	assert_int_equal(nicbench_json(&rep, &o), 0);
	assert_true(json_object_object_get_ex(o, "paths", &paths));
	assert_int_equal(json_object_array_length(paths), 5);
	static const char *const keys[] = { "path", "status", "reason", "driver", "mbit_s", "tx_mbit_s", "rx_mbit_s",
					    "rtt_ms", "bytes", "tx_bytes", "rx_bytes", "vm_exits", "vm_exits_per_mb", "guest_irqs",
					    "guest_irqs_per_mb", "vmm_cpu_s", "vmm_cpu_percent" };
	for (size_t i = 0; i < 5; i++) {
		row = json_object_array_get_idx(paths, i);
		assert_int_equal(json_object_object_length(row), ARRAY_SIZE(keys));
		for (size_t k = 0; k < ARRAY_SIZE(keys); k++)
			assert_true(json_object_object_get_ex(row, keys[k], &v));
	}
	row = json_object_array_get_idx(paths, 1); /* emulated */
	json_object_object_get_ex(row, "vm_exits_per_mb", &v);
	assert_double_equal(json_object_get_double(v), 2400.0, 1e-9);
	json_object_object_get_ex(row, "vmm_cpu_percent", &v);
	assert_double_equal(json_object_get_double(v), 95.0, 1e-9);
	row = json_object_array_get_idx(paths, 3); /* vhost: unavailable, figures null */
	json_object_object_get_ex(row, "mbit_s", &v);
	assert_null(v);
	json_object_object_get_ex(row, "status", &v);
	assert_string_equal(json_object_get_string(v), "unavailable");
	json_object_object_get_ex(o, "ratios", &v);
	json_object_object_get_ex(v, "passthrough_vs_emulated", &v);
	assert_double_equal(json_object_get_double(v), 6.19, 1e-9);
	json_object_put(o);

	/* only the requested paths appear */
	rep.paths = 1u << NICBENCH_PASSTHROUGH;
	assert_int_equal(nicbench_json(&rep, &o), 0);
	json_object_object_get_ex(o, "paths", &paths);
	assert_int_equal(json_object_array_length(paths), 1);
	json_object_put(o);

	text = render(nicbench_print, &rep);
	assert_non_null(strstr(text, "passthrough"));
	free(text);
	for (int p = 0; p < NICBENCH_PATHS; p++)
		nicbench_result_done(&rep.r[p]);
}

static void test_svg(void **s)
{
	struct nicbench_report rep;
	(void)s;

	sample(&rep);
	char *text = render(nicbench_svg, &rep);
	golden("bench-nic.svg", text);
	/* escaping: nothing from a label reaches the XML raw */
	assert_null(strstr(text, "<vhost>"));
	free(text);
	for (int p = 0; p < NICBENCH_PATHS; p++)
		nicbench_result_done(&rep.r[p]);

	/* the writer alone: hostile labels escaped, bad values refused */
	struct svg_bar bars[] = { { .label = "a<b>&\"c'", .value = 5 }, { .label = "m", .missing = true } };
	struct svg_chart c = { .title = "t", .unit = "u", .bars = bars, .nbars = 2 };
	char *buf = NULL;
	size_t len;
	FILE *f = open_memstream(&buf, &len);
	assert_int_equal(svg_bar_chart(f, &c), 0);
	fclose(f);
	assert_non_null(strstr(buf, "a&lt;b&gt;&amp;&quot;c&#39;"));
	assert_non_null(strstr(buf, ">n/a<"));
	free(buf);
	bars[0].value = -1;
	f = open_memstream(&buf, &len);
	assert_int_equal(svg_bar_chart(f, &c), -EINVAL);
	fclose(f);
	free(buf);
}

/* ---- guest kit ---- */

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_module_order(void **s)
{
	char dir[] = "/tmp/ptctl-kit-XXXXXX", p[PATH_MAX];
	char **files = NULL, **missing = NULL;
	(void)s;

	assert_non_null(mkdtemp(dir));
	snprintf(p, sizeof(p), "%s/modules.dep", dir);
	write_file(p, "kernel/drivers/net/virtio_net.ko.xz: kernel/drivers/net/net_failover.ko.xz kernel/net/core/failover.ko.xz "
		      "kernel/drivers/virtio/virtio.ko.xz kernel/drivers/virtio/virtio_ring.ko.xz\n"
		      "kernel/drivers/virtio/virtio_ring.ko.xz:\n"
		      "kernel/drivers/virtio/virtio_pci.ko.xz: kernel/drivers/virtio/virtio.ko.xz kernel/drivers/virtio/virtio_ring.ko.xz\n"
		      "kernel/drivers/net/ethernet/intel/e1000/e1000.ko.xz:\n");
	snprintf(p, sizeof(p), "%s/modules.builtin", dir);
	write_file(p, "kernel/drivers/net/ethernet/intel/igbvf/igbvf.ko\n");
	const char *names[] = { "e1000", "igbvf", "virtio-pci", "virtio_net", "nosuch", NULL };
	assert_int_equal(guest_kit_module_order(dir, names, &files, &missing), 0);
	const char *want[] = { "kernel/drivers/net/ethernet/intel/e1000/e1000.ko.xz", "kernel/drivers/virtio/virtio_ring.ko.xz",
			       "kernel/drivers/virtio/virtio.ko.xz", "kernel/drivers/virtio/virtio_pci.ko.xz",
			       "kernel/net/core/failover.ko.xz", "kernel/drivers/net/net_failover.ko.xz",
			       "kernel/drivers/net/virtio_net.ko.xz" };
	assert_int_equal(strv_length(files), ARRAY_SIZE(want));
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, want[i]);
		assert_string_equal(files[i], p);
	}
	/* igbvf is built in: not missing, not packed */
	assert_int_equal(strv_length(missing), 1);
	assert_string_equal(missing[0], "nosuch");
	strv_free(files);
	strv_free(missing);
	snprintf(p, sizeof(p), "rm -rf %s", dir);
	assert_int_equal(system(p), 0);
}

/* The same order modprobe itself prints, for every installed kernel that has modules here. */
static void test_module_order_modprobe(void **s)
{
	static const char *const names[] = GUEST_KIT_MODULES;
	char dir[PATH_MAX], cmd[PATH_MAX * 2];
	char **files = NULL, **missing = NULL;
	struct utsname u;
	FILE *f;
	(void)s;

	f = popen("ls /lib/modules 2>/dev/null | head -n1", "r");
	assert_non_null(f);
	if (!fgets(u.release, sizeof(u.release), f) || system("modprobe --version >/dev/null 2>&1") != 0) {
		pclose(f);
		TEST_SKIP("kmod", "no kernel modules in /lib/modules or no modprobe (tools/install-deps installs both)");
	}
	pclose(f);
	u.release[strcspn(u.release, "\n")] = 0;
	snprintf(dir, sizeof(dir), "/lib/modules/%s", u.release);
	assert_int_equal(guest_kit_module_order(dir, names, &files, &missing), 0);
	size_t i = 0;
	for (const char *const *n = names; *n; n++) {
		char line[PATH_MAX];
		snprintf(cmd, sizeof(cmd), "modprobe -S %s --show-depends %s 2>/dev/null", u.release, *n);
		f = popen(cmd, "r");
		while (fgets(line, sizeof(line), f)) {
			char path[PATH_MAX];
			if (sscanf(line, "insmod %s", path) != 1)
				continue;
			bool seen = false;
			for (size_t j = 0; j < i; j++)
				seen |= strcmp(files[j], path) == 0;
			if (seen)
				continue;
			assert_non_null(files[i]);
			assert_string_equal(files[i], path);
			i++;
		}
		pclose(f);
	}
	assert_int_equal(strv_length(files), i);
	strv_free(files);
	strv_free(missing);
}

static void test_kernel_release(void **s)
{
	char path[] = "/tmp/ptctl-kernel-XXXXXX", *rel = NULL;
	uint8_t img[0x1000] = {};
	(void)s;

	int fd = mkstemp(path);
	assert_true(fd >= 0);
	memcpy(img + 0x202, "HdrS", 4);
	img[0x20e] = 0x00; /* kernel_version = 0x300 -> string at 0x500 */
	img[0x20f] = 0x03;
	strcpy((char *)img + 0x500, "6.12.9+bpo-amd64 (debian-kernel@lists.debian.org) #1 SMP");
	assert_int_equal(write(fd, img, sizeof(img)), (ssize_t)sizeof(img));
	close(fd);
	assert_int_equal(guest_kit_kernel_release(path, &rel), 0);
	assert_string_equal(rel, "6.12.9+bpo-amd64");
	free(rel);
	rel = NULL;
	/* garbage is refused, not guessed */
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_int_equal(write(fd, "not a kernel", 12), 12);
	close(fd);
	assert_int_equal(guest_kit_kernel_release(path, &rel), -ENOEXEC);
	unlink(path);
	assert_int_equal(guest_kit_kernel_release("/nonexistent/vmlinuz", &rel), -ENOENT);
	/* A FIFO is refused at once, not opened (the open would wait for a writer forever). */
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(guest_kit_kernel_release(path, &rel), -EINVAL);
	unlink(path);

	/* a real one, if this host has it */
	FILE *f = popen("ls /boot/vmlinuz-* 2>/dev/null | head -n1", "r");
	char k[PATH_MAX] = "";
	if (f && fgets(k, sizeof(k), f)) {
		k[strcspn(k, "\n")] = 0;
		assert_int_equal(guest_kit_kernel_release(k, &rel), 0);
		assert_string_equal(rel, strstr(k, "vmlinuz-") + 8);
		free(rel);
	}
	if (f)
		pclose(f);
}

static void test_params(void **s)
{
	struct guest_params p = { .nonce = N, .addr = "198.18.2.2/24", .peer = "198.18.2.1", .duration = 3, .port = 5201 };
	char *text = NULL;
	(void)s;

	assert_int_equal(guest_params_format(&p, &text), 0);
	assert_string_equal(text, "nonce=" N "\naddr=198.18.2.2/24\npeer=198.18.2.1\nduration=3\nport=5201\nnic=\npci=\n");
	free(text);
	/* only the benchmarking range, and nothing a shell would interpret */
	const char *bad_addr[] = { "203.0.113.2/24", "198.20.0.2/24", "198.18.2.2", "198.18.2.2/8", "198.18.2.256/24",
				   "198.18.2.2/24;reboot", "198.18.2.2/24 x" };
	for (size_t i = 0; i < ARRAY_SIZE(bad_addr); i++) {
		struct guest_params q = p;
		q.addr = bad_addr[i];
		assert_int_equal(guest_params_format(&q, &text), -EINVAL);
	}
	struct guest_params q = p;
	q.peer = "203.0.113.1"; /* a documentation address: anything outside 198.18.0.0/15 is refused */
	assert_int_equal(guest_params_format(&q, &text), -EINVAL);
	q = p;
	q.nic = "eth0;rm -rf /";
	assert_int_equal(guest_params_format(&q, &text), -EINVAL);
	q = p;
	q.nonce = "short";
	assert_int_equal(guest_params_format(&q, &text), -EINVAL);
	q = p;
	q.nonce = N "$(x)";
	assert_int_equal(guest_params_format(&q, &text), -EINVAL);
	q = p;
	q.duration = 0;
	assert_int_equal(guest_params_format(&q, &text), -EINVAL);
	assert_true(guest_addr_ok("198.19.255.1/15", true));
	assert_false(guest_addr_ok("198.17.0.1", false));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_args),	      cmocka_unit_test(test_console),
		cmocka_unit_test(test_console_failures), cmocka_unit_test(test_ratios),
		cmocka_unit_test(test_json_shape),    cmocka_unit_test(test_svg),
		cmocka_unit_test(test_module_order),  cmocka_unit_test(test_module_order_modprobe),
		cmocka_unit_test(test_kernel_release), cmocka_unit_test(test_params),
	};
	return test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
