/* bench-nic.h: the parts of `ptctl bench nic` that need no host: arguments, the guest's console
 * results, the per-path figures and ratios, and their table, JSON and chart. bench-nic.c runs the paths. */
#pragma once

#include <json-c/json.h>

#include "util/util.h"

enum nicbench_path {
	NICBENCH_NATIVE,      /* the VF on its host driver in a network namespace: no VM */
	NICBENCH_EMULATED,    /* e1000, trap-and-emulate */
	NICBENCH_VIRTIO,      /* virtio-net, the VMM's own data path on a tap */
	NICBENCH_VHOST,       /* virtio-net with vhost-net on a tap */
	NICBENCH_PASSTHROUGH, /* the VF on vfio-pci, given to the guest */
	NICBENCH_PATHS,
};
const char *nicbench_path_name(enum nicbench_path p);
int nicbench_path_from_name(const char *s); /* -EINVAL if unknown */

struct nicbench_opts {
	const char *vf, *pf;   /* exactly one */
	unsigned paths;        /* bit (1 << path) per path; default all */
	unsigned duration;     /* seconds per iperf3 direction (default 10) */
	const char *kernel;    /* NULL: the host's own */
	const char *svg;       /* chart file or NULL */
	bool qemu;             /* --vmm qemu: QEMU is the VMM (the peer), same guest and wire */
	const char *qemu_bin;  /* --qemu PATH */
	uint64_t memory;       /* guest RAM (default 512M) */
};
/* Parses argv (argv[0] the verb). 0 ok; -EINVAL with *ret_error (a new string) for bad usage. */
int nicbench_parse_args(int argc, char **argv, struct nicbench_opts *o, char **ret_error);

/* ---- what a guest (or the native namespace) reports on its console ---- */
enum nicbench_event {
	NICBENCH_EV_NONE,  /* not ours, or a line that changes nothing the caller acts on */
	NICBENCH_EV_LINK,  /* the NIC is up and the peer answered */
	NICBENCH_EV_START, /* the measured window begins: snapshot the host counters now */
	NICBENCH_EV_END,   /* ... and ends */
	NICBENCH_EV_DONE,  /* the script finished */
	NICBENCH_EV_FAIL,  /* the script gave up (reason in fail) */
};
struct nicbench_console {
	char nonce[65];   /* set by the caller; lines without it are not results */
	bool up, link, started, ended, done;
	char *fail;       /* FAIL text */
	char *nic, *driver, *pci, *devices;
	unsigned nirq;
	uint64_t irq[2];  /* the NIC's interrupts before and after the window */
	struct {
		bool seen;
		int rc;
		uint64_t bytes; /* received by the receiving side */
		double seconds;
		char *error;    /* iperf3's own error, if it printed one */
	} iperf[2];       /* [0] tx (guest sends), [1] rx (guest receives) */
	bool ping_seen;
	int ping_rc;
	double rtt_min, rtt_avg, rtt_max; /* ms */
};
/* Feeds one console line (trailing \r\n allowed). Result lines are "PTB <nonce> WHAT ..." anywhere in the
 * line (a kernel message may precede it); malformed ones are ignored, never half-applied. */
enum nicbench_event nicbench_console_line(struct nicbench_console *c, const char *line);
void nicbench_console_done(struct nicbench_console *c); /* frees the strings, keeps nothing */

/* ---- one path's result ---- */
enum nicbench_status { NICBENCH_NOT_RUN, NICBENCH_OK, NICBENCH_UNAVAILABLE, NICBENCH_FAILED };
struct nicbench_result {
	enum nicbench_status status;
	char *reason;        /* unavailable / failed: why, for people */
	char *driver;        /* the driver that ran the NIC where the measurement ran */
	double tx_mbit, rx_mbit, rtt_ms;
	uint64_t bytes;      /* both directions, as received */
	uint64_t tx_bytes, rx_bytes; /* guest -> peer, peer -> guest (as received) */
	bool has_exits, has_irqs, has_cpu;
	uint64_t exits, irqs;
	double cpu_seconds, window_seconds;
};
/* Fills tx/rx/rtt/bytes/irqs from a finished console; -EBADMSG (with *ret_why) if anything is missing. */
int nicbench_result_from_console(const struct nicbench_console *c, struct nicbench_result *r, char **ret_why);
double nicbench_mbit(const struct nicbench_result *r); /* the bar: mean of both directions */
void nicbench_result_done(struct nicbench_result *r);

struct nicbench_report {
	const char *vmm;            /* "ptctl" or "qemu" */
	const char *vf, *pf, *pf_netdev;
	const char *kernel, *release;
	unsigned duration;
	double loadavg;             /* 1-minute load when the run began (-1 unknown) */
	unsigned paths;             /* those requested */
	struct nicbench_result r[NICBENCH_PATHS];
};
/* The ratios (0 when either side has no figure). */
struct nicbench_ratios {
	double passthrough_emulated, virtio_emulated, passthrough_native;
};
void nicbench_ratios(const struct nicbench_report *rep, struct nicbench_ratios *ret);

int nicbench_json(const struct nicbench_report *rep, json_object **ret);
/* The table (and ratio lines) for people, through util/output. */
int nicbench_print(FILE *f, const struct nicbench_report *rep);
/* The bar chart: one bar per requested path, Mbit/s labelled, the ratios underneath. */
int nicbench_svg(FILE *f, const struct nicbench_report *rep);
