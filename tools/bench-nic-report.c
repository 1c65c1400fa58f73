/* bench-nic-report.c: `ptctl bench nic` without the host: argument parsing, the guest console's result
 * lines, per-path figures, the ratios, and their table, JSON and SVG renderings. */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>

#include "bench-nic.h"
#include "svg-chart.h"
#include "util/output.h"
#include "util/pciaddr.h"

static const char *const path_names[NICBENCH_PATHS] = {
	[NICBENCH_NATIVE] = "native",   [NICBENCH_EMULATED] = "emulated",
	[NICBENCH_VIRTIO] = "virtio",   [NICBENCH_VHOST] = "vhost",
	[NICBENCH_PASSTHROUGH] = "passthrough",
};

const char *nicbench_path_name(enum nicbench_path p)
{
	return p < NICBENCH_PATHS ? path_names[p] : NULL;
}

int nicbench_path_from_name(const char *s)
{
	for (int i = 0; i < NICBENCH_PATHS; i++)
		if (streq(s, path_names[i]))
			return i;
	return -EINVAL;
}

/* ---- arguments ---- */

static int usage(char **ret, const char *fmt, ...) _printf_(2, 3);
static int usage(char **ret, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(ret, fmt, ap) < 0)
		*ret = NULL;
	va_end(ap);
	return -EINVAL;
}

static int parse_paths(const char *s, unsigned *ret, char **err)
{
	_cleanup_free_ char *copy = strdup(s);
	unsigned paths = 0;
	char *save = NULL;

	if (!copy)
		return -ENOMEM;
	for (char *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		int p = nicbench_path_from_name(w);
		if (p < 0)
			return usage(err, "--paths: unknown path '%s' (give a comma-separated list of native, emulated, "
					  "virtio, vhost, passthrough)", w);
		if (paths & (1u << p))
			return usage(err, "--paths: '%s' is listed twice", w);
		paths |= 1u << p;
	}
	if (!paths)
		return usage(err, "--paths: give at least one path");
	*ret = paths;
	return 0;
}

int nicbench_parse_args(int argc, char **argv, struct nicbench_opts *o, char **ret_error)
{
	static const struct option opts[] = {
		{ "vf", required_argument, NULL, 'f' },     { "pf", required_argument, NULL, 'F' },
		{ "paths", required_argument, NULL, 'p' },  { "duration", required_argument, NULL, 'd' },
		{ "kernel", required_argument, NULL, 'k' }, { "svg", required_argument, NULL, 's' },
		{ "vmm", required_argument, NULL, 'V' },    { "qemu", required_argument, NULL, 'Q' },
		{ "memory", required_argument, NULL, 'm' }, {},
	};
	struct pci_addr a;
	int c, n, r;

	*o = (struct nicbench_opts){ .paths = (1u << NICBENCH_PATHS) - 1, .duration = 10, .memory = 512ull << 20,
				     .qemu_bin = "qemu-system-x86_64" };
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
		switch (c) {
		case 'f':
		case 'F':
			if (pci_addr_parse(optarg, &a) < 0)
				return usage(ret_error, "--%s '%s' is not a PCI address (DDDD:BB:DD.F or BB:DD.F)",
					     c == 'f' ? "vf" : "pf", optarg);
			if (c == 'f')
				o->vf = optarg;
			else
				o->pf = optarg;
			break;
		case 'p':
			if ((r = parse_paths(optarg, &o->paths, ret_error)) < 0)
				return r;
			break;
		case 'd':
			if (parse_int(optarg, &n) < 0 || n < 1 || n > 3600)
				return usage(ret_error, "--duration '%s': give whole seconds, 1 to 3600", optarg);
			o->duration = (unsigned)n;
			break;
		case 'k': o->kernel = optarg; break;
		case 's': o->svg = optarg; break;
		case 'V':
			if (!streq(optarg, "ptctl") && !streq(optarg, "qemu"))
				return usage(ret_error, "--vmm '%s': give ptctl or qemu", optarg);
			o->qemu = streq(optarg, "qemu");
			break;
		case 'Q': o->qemu_bin = optarg; break;
		case 'm':
			if (parse_size(optarg, &o->memory) < 0 || o->memory < (128ull << 20) || o->memory > (64ull << 30) ||
			    o->memory % (2ull << 20))
				return usage(ret_error, "--memory '%s': give 128M to 64G in whole 2M units", optarg);
			break;
		default:
			return usage(ret_error, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage(ret_error, "unexpected argument '%s'", argv[optind]);
	if (!o->vf == !o->pf)
		return usage(ret_error, o->vf ? "give --vf or --pf, not both"
					      : "the wire is required: --vf ADDRESS (an SR-IOV virtual function) or "
						"--pf ADDRESS (a physical function; one VF is created for the run)");
	return 0;
}

/* ---- console ---- */

static int set_str(char **dst, const char *s, size_t len)
{
	char *n = strndup(s, len);
	if (!n)
		return -ENOMEM;
	free(*dst);
	*dst = n;
	return 0;
}

static bool is_uint(const char *s, uint64_t *ret)
{
	return s && parse_u64(s, 10, ret) >= 0;
}

static bool is_double(const char *s, double *ret)
{
	char *end;
	if (!s || !*s)
		return false;
	errno = 0;
	*ret = strtod(s, &end);
	return !*end && !errno && isfinite(*ret) && *ret >= 0;
}

/* "key=value" words of an UP line. */
static void up_field(struct nicbench_console *c, const char *w)
{
	static const char *const keys[] = { "nic=", "driver=", "pci=" };
	char **dst[] = { &c->nic, &c->driver, &c->pci };
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (startswith(w, keys[i]))
			set_str(dst[i], w + strlen(keys[i]), strlen(w + strlen(keys[i])));
}

enum nicbench_event nicbench_console_line(struct nicbench_console *c, const char *line)
{
	char prefix[80], buf[1024], *save = NULL, *w[8] = {};
	const char *p, *rest;
	size_t nw = 0, len;

	if (!c->nonce[0])
		return NICBENCH_EV_NONE;
	snprintf(prefix, sizeof(prefix), "PTB %s ", c->nonce);
	p = strstr(line, prefix);
	if (!p)
		return NICBENCH_EV_NONE;
	rest = p + strlen(prefix);
	len = strcspn(rest, "\r\n");
	if (len >= sizeof(buf))
		return NICBENCH_EV_NONE;
	memcpy(buf, rest, len);
	buf[len] = 0;
	if (startswith(buf, "FAIL ") || streq(buf, "FAIL")) {
		const char *why = buf[4] ? buf + 5 : "the script failed";
		set_str(&c->fail, why, strlen(why));
		return NICBENCH_EV_FAIL;
	}
	if (startswith(buf, "IPERFERR tx ") || startswith(buf, "IPERFERR rx ")) {
		int d = buf[9] == 'r';
		set_str(&c->iperf[d].error, buf + 12, strlen(buf + 12));
		return NICBENCH_EV_NONE;
	}
	if (startswith(buf, "PCI ")) {
		set_str(&c->devices, buf + 4, strlen(buf + 4));
		return NICBENCH_EV_NONE;
	}
	for (char *t = strtok_r(buf, " \t", &save); t && nw < ARRAY_SIZE(w); t = strtok_r(NULL, " \t", &save))
		w[nw++] = t;
	if (nw == 0)
		return NICBENCH_EV_NONE;
	if (streq(w[0], "UP")) {
		for (size_t i = 1; i < nw; i++)
			up_field(c, w[i]);
		c->up = true;
	} else if (streq(w[0], "LINK") && nw == 2 && streq(w[1], "up")) {
		c->link = true;
		return NICBENCH_EV_LINK;
	} else if (streq(w[0], "IRQ") && nw == 2) {
		uint64_t v;
		if (c->nirq < 2 && is_uint(w[1], &v))
			c->irq[c->nirq++] = v;
	} else if (streq(w[0], "MARK") && nw == 2 && streq(w[1], "start") && !c->started) {
		c->started = true;
		return NICBENCH_EV_START;
	} else if (streq(w[0], "MARK") && nw == 2 && streq(w[1], "end") && c->started && !c->ended) {
		c->ended = true;
		return NICBENCH_EV_END;
	} else if (streq(w[0], "IPERF") && nw == 5 && (streq(w[1], "tx") || streq(w[1], "rx"))) {
		uint64_t rc, bytes;
		double secs;
		int d = streq(w[1], "rx");
		if (is_uint(w[2], &rc) && rc < 256 && is_uint(w[3], &bytes) && is_double(w[4], &secs)) {
			c->iperf[d].seen = true;
			c->iperf[d].rc = (int)rc;
			c->iperf[d].bytes = bytes;
			c->iperf[d].seconds = secs;
		}
	} else if (streq(w[0], "PING") && (nw == 2 || nw == 5)) {
		uint64_t rc;
		double a = 0, b = 0, d = 0;
		if (is_uint(w[1], &rc) && rc < 256 &&
		    (nw == 2 || (is_double(w[2], &a) && is_double(w[3], &b) && is_double(w[4], &d)))) {
			c->ping_seen = true;
			c->ping_rc = (int)rc;
			c->rtt_min = a;
			c->rtt_avg = b;
			c->rtt_max = d;
		}
	} else if (streq(w[0], "DONE") && nw == 1) {
		c->done = true;
		return NICBENCH_EV_DONE;
	}
	return NICBENCH_EV_NONE;
}

void nicbench_console_done(struct nicbench_console *c)
{
	free(c->fail);
	free(c->nic);
	free(c->driver);
	free(c->pci);
	free(c->devices);
	for (int i = 0; i < 2; i++)
		free(c->iperf[i].error);
	*c = (struct nicbench_console){};
}

/* ---- results ---- */

static int why(char **ret, const char *fmt, ...) _printf_(2, 3);
static int why(char **ret, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(ret, fmt, ap) < 0)
		*ret = NULL;
	va_end(ap);
	return -EBADMSG;
}

int nicbench_result_from_console(const struct nicbench_console *c, struct nicbench_result *r, char **ret_why)
{
	static const char *const dir[] = { "guest -> peer", "peer -> guest" };

	if (c->fail)
		return why(ret_why, "%s", c->fail);
	if (!c->link)
		return why(ret_why, "the NIC never came up (no LINK line)");
	for (int d = 0; d < 2; d++) {
		if (!c->iperf[d].seen)
			return why(ret_why, "iperf3 %s reported nothing", dir[d]);
		if (c->iperf[d].rc != 0)
			return why(ret_why, "iperf3 %s failed (exit %d)%s%s", dir[d], c->iperf[d].rc,
				   c->iperf[d].error ? ": " : "", c->iperf[d].error ? c->iperf[d].error : "");
		if (c->iperf[d].seconds <= 0)
			return why(ret_why, "iperf3 %s measured no time", dir[d]);
	}
	if (!c->started || !c->ended || c->nirq != 2)
		return why(ret_why, "the measurement window is incomplete (MARK/IRQ lines missing)");
	r->tx_mbit = (double)c->iperf[0].bytes * 8 / c->iperf[0].seconds / 1e6;
	r->rx_mbit = (double)c->iperf[1].bytes * 8 / c->iperf[1].seconds / 1e6;
	r->tx_bytes = c->iperf[0].bytes;
	r->rx_bytes = c->iperf[1].bytes;
	r->bytes = c->iperf[0].bytes + c->iperf[1].bytes;
	r->rtt_ms = c->ping_seen && c->ping_rc == 0 ? c->rtt_avg : -1;
	r->has_irqs = c->irq[1] >= c->irq[0];
	r->irqs = r->has_irqs ? c->irq[1] - c->irq[0] : 0;
	if (c->driver && set_str(&r->driver, c->driver, strlen(c->driver)) < 0)
		return -ENOMEM;
	return 0;
}

double nicbench_mbit(const struct nicbench_result *r)
{
	return r->status == NICBENCH_OK ? (r->tx_mbit + r->rx_mbit) / 2 : 0;
}

void nicbench_result_done(struct nicbench_result *r)
{
	free(r->reason);
	free(r->driver);
	*r = (struct nicbench_result){};
}

static double ratio(const struct nicbench_report *rep, enum nicbench_path a, enum nicbench_path b)
{
	double x = nicbench_mbit(&rep->r[a]), y = nicbench_mbit(&rep->r[b]);
	return x > 0 && y > 0 ? x / y : 0;
}

void nicbench_ratios(const struct nicbench_report *rep, struct nicbench_ratios *ret)
{
	*ret = (struct nicbench_ratios){
		.passthrough_emulated = ratio(rep, NICBENCH_PASSTHROUGH, NICBENCH_EMULATED),
		.virtio_emulated = ratio(rep, NICBENCH_VIRTIO, NICBENCH_EMULATED),
		.passthrough_native = ratio(rep, NICBENCH_PASSTHROUGH, NICBENCH_NATIVE),
	};
}

/* ---- JSON ---- */

static const char *status_name(enum nicbench_status s)
{
	static const char *const n[] = { "not-run", "ok", "unavailable", "failed" };
	return s <= NICBENCH_FAILED ? n[s] : "?";
}

/* Rounded so the JSON does not carry noise digits (and golden files stay stable). */
static int add_num(json_object *o, const char *key, double v, int digits)
{
	char text[64];
	/* json-c would print the nearest double with 17 digits (13.007999999999999): keep the text */
	snprintf(text, sizeof(text), "%.*f", digits, v);
	return json_add(o, key, json_object_new_double_s(strtod(text, NULL), text));
}

static int add_num_or_null(json_object *o, const char *key, bool has, double v, int digits)
{
	return has ? add_num(o, key, v, digits) : json_add_null(o, key);
}

static int path_json(const struct nicbench_report *rep, enum nicbench_path p, json_object **ret)
{
	_cleanup_json_ json_object *o = json_object_new_object();
	const struct nicbench_result *r = &rep->r[p];
	bool ok = r->status == NICBENCH_OK;
	double mb = (double)r->bytes / 1e6;
	int e;

	if (!o)
		return -ENOMEM;
	if ((e = json_add_str(o, "path", nicbench_path_name(p))) < 0 ||
	    (e = json_add_str(o, "status", status_name(r->status))) < 0 ||
	    (e = json_add_str(o, "reason", r->reason)) < 0 || (e = json_add_str(o, "driver", ok ? r->driver : NULL)) < 0 ||
	    (e = add_num_or_null(o, "mbit_s", ok, nicbench_mbit(r), 1)) < 0 ||
	    (e = add_num_or_null(o, "tx_mbit_s", ok, r->tx_mbit, 1)) < 0 ||
	    (e = add_num_or_null(o, "rx_mbit_s", ok, r->rx_mbit, 1)) < 0 ||
	    (e = add_num_or_null(o, "rtt_ms", ok && r->rtt_ms >= 0, r->rtt_ms, 3)) < 0 ||
	    (e = ok ? json_add_int(o, "bytes", (int64_t)r->bytes) : json_add_null(o, "bytes")) < 0 ||
	    (e = ok ? json_add_int(o, "tx_bytes", (int64_t)r->tx_bytes) : json_add_null(o, "tx_bytes")) < 0 ||
	    (e = ok ? json_add_int(o, "rx_bytes", (int64_t)r->rx_bytes) : json_add_null(o, "rx_bytes")) < 0 ||
	    (e = ok && r->has_exits ? json_add_int(o, "vm_exits", (int64_t)r->exits) : json_add_null(o, "vm_exits")) < 0 ||
	    (e = add_num_or_null(o, "vm_exits_per_mb", ok && r->has_exits && mb > 0, r->exits / mb, 2)) < 0 ||
	    (e = ok && r->has_irqs ? json_add_int(o, "guest_irqs", (int64_t)r->irqs) : json_add_null(o, "guest_irqs")) < 0 ||
	    (e = add_num_or_null(o, "guest_irqs_per_mb", ok && r->has_irqs && mb > 0, r->irqs / mb, 2)) < 0 ||
	    (e = add_num_or_null(o, "vmm_cpu_s", ok && r->has_cpu, r->cpu_seconds, 3)) < 0 ||
	    (e = add_num_or_null(o, "vmm_cpu_percent", ok && r->has_cpu && r->window_seconds > 0,
				 100 * r->cpu_seconds / r->window_seconds, 1)) < 0)
		return e;
	*ret = TAKE_PTR(o);
	return 0;
}

int nicbench_json(const struct nicbench_report *rep, json_object **ret)
{
	_cleanup_json_ json_object *o = json_object_new_object(), *paths = json_object_new_array(),
				   *ratios = json_object_new_object();
	struct nicbench_ratios q;
	int e;

	if (!o || !paths || !ratios)
		return -ENOMEM;
	nicbench_ratios(rep, &q);
	if ((e = json_add_str(o, "vmm", rep->vmm)) < 0 || (e = json_add_str(o, "vf", rep->vf)) < 0 ||
	    (e = json_add_str(o, "pf", rep->pf)) < 0 || (e = json_add_str(o, "pf_netdev", rep->pf_netdev)) < 0 ||
	    (e = json_add_str(o, "kernel", rep->kernel)) < 0 || (e = json_add_str(o, "kernel_release", rep->release)) < 0 ||
	    (e = json_add_int(o, "duration_s", rep->duration)) < 0 ||
	    (e = add_num_or_null(o, "loadavg", rep->loadavg >= 0, rep->loadavg, 2)) < 0)
		return e;
	for (int p = 0; p < NICBENCH_PATHS; p++) {
		json_object *row = NULL;
		if (!(rep->paths & (1u << p)))
			continue;
		if ((e = path_json(rep, p, &row)) < 0)
			return e;
		if (json_object_array_add(paths, row) < 0) {
			json_object_put(row);
			return -ENOMEM;
		}
	}
	if ((e = add_num_or_null(ratios, "passthrough_vs_emulated", q.passthrough_emulated > 0, q.passthrough_emulated, 2)) < 0 ||
	    (e = add_num_or_null(ratios, "virtio_vs_emulated", q.virtio_emulated > 0, q.virtio_emulated, 2)) < 0 ||
	    (e = add_num_or_null(ratios, "passthrough_vs_native", q.passthrough_native > 0, q.passthrough_native, 2)) < 0)
		return e;
	if ((e = json_add(o, "paths", TAKE_PTR(paths))) < 0 || (e = json_add(o, "ratios", TAKE_PTR(ratios))) < 0)
		return e;
	*ret = TAKE_PTR(o);
	return 0;
}

/* ---- table ---- */

int nicbench_print(FILE *f, const struct nicbench_report *rep)
{
	static const struct out_column cols[] = {
		{ "path", "PATH" },		 { "status", "STATUS" },	   { "mbit_s", "MBIT/S" },
		{ "tx_mbit_s", "TX" },		 { "rx_mbit_s", "RX" },		   { "rtt_ms", "RTT_MS" },
		{ "vm_exits_per_mb", "EXITS/MB" }, { "guest_irqs_per_mb", "IRQS/MB" }, { "vmm_cpu_percent", "VMM_CPU%" },
		{ "driver", "DRIVER" },
	};
	_cleanup_json_ json_object *o = NULL;
	json_object *paths, *ratios;
	int e = nicbench_json(rep, &o);

	if (e < 0)
		return e;
	if (out_is_json())
		return out_json(f, o);
	json_object_object_get_ex(o, "paths", &paths);
	json_object_object_get_ex(o, "ratios", &ratios);
	if ((e = out_table(f, paths, cols, ARRAY_SIZE(cols))) < 0)
		return e;
	/* why a path has no figures, then the ratios: "Key: value" lines */
	_cleanup_json_ json_object *notes = json_object_new_object();
	if (!notes)
		return -ENOMEM;
	for (int p = 0; p < NICBENCH_PATHS; p++)
		if ((rep->paths & (1u << p)) && rep->r[p].reason &&
		    (e = json_add_str(notes, nicbench_path_name(p), rep->r[p].reason)) < 0)
			return e;
	fputc('\n', f);
	if (json_object_object_length(notes) && (e = out_record(f, notes)) < 0)
		return e;
	return out_record(f, ratios);
}

/* ---- chart ---- */

int nicbench_svg(FILE *f, const struct nicbench_report *rep)
{
	static const char *const labels[NICBENCH_PATHS] = { "native", "emulated (e1000)", "virtio-net", "vhost-net",
							    "pass-through" };
	static const char *const colors[NICBENCH_PATHS] = { "#6d6e71", "#c8102e", "#f2a900", "#00a3e0", "#0071c5" };
	struct svg_bar bars[NICBENCH_PATHS];
	char lines[4][128], subtitle[256];
	const char *footer[4];
	struct nicbench_ratios q;
	size_t n = 0, nf = 0;

	for (int p = 0; p < NICBENCH_PATHS; p++) {
		if (!(rep->paths & (1u << p)))
			continue;
		bool ok = rep->r[p].status == NICBENCH_OK;
		bars[n++] = (struct svg_bar){ .label = labels[p], .value = nicbench_mbit(&rep->r[p]), .missing = !ok,
					      .note = rep->r[p].status == NICBENCH_FAILED ? "failed" : "unavailable",
					      .color = colors[p] };
	}
	nicbench_ratios(rep, &q);
	if (q.passthrough_emulated > 0)
		snprintf(lines[nf], sizeof(lines[nf]), "pass-through / emulated: %.2fx", q.passthrough_emulated), nf++;
	if (q.virtio_emulated > 0)
		snprintf(lines[nf], sizeof(lines[nf]), "virtio / emulated: %.2fx", q.virtio_emulated), nf++;
	if (q.passthrough_native > 0)
		snprintf(lines[nf], sizeof(lines[nf]), "pass-through / native: %.2fx", q.passthrough_native), nf++;
	if (nf == 0)
		snprintf(lines[nf++], sizeof(lines[0]), "ratios: not enough paths measured");
	for (size_t i = 0; i < nf; i++)
		footer[i] = lines[i];
	snprintf(subtitle, sizeof(subtitle), "iperf3 TCP, mean of both directions, %u s each; VMM %s; kernel %s",
		 rep->duration, rep->vmm ? rep->vmm : "?", rep->release ? rep->release : "?");
	struct svg_chart c = { .title = "Network throughput by I/O path", .subtitle = subtitle, .unit = "Mbit/s",
			       .bars = bars, .nbars = n, .footer = footer, .nfooter = nf };
	return svg_bar_chart(f, &c);
}
