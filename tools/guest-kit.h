/* guest-kit.h: the guest `ptctl bench nic` boots on every path: one kernel, and an initramfs ptctl builds
 * from the host's own packages (busybox-static, iperf3 and its ldd libraries, the NIC driver modules of
 * that kernel in dependency order) with an init that brings the NIC up and measures. The same measuring
 * script runs in a network namespace for the native path, so every path runs the same userspace. */
#pragma once

#include "util/util.h"

/* The NIC drivers packed into the guest (and loaded in this order, each after its dependencies). */
#define GUEST_KIT_MODULES { "e1000", "igbvf", "virtio_pci", "virtio_net", NULL }
/* Busybox applets the scripts use (linked to busybox in the guest, and on PATH for the native path). */
#define GUEST_KIT_APPLETS                                                                          \
	{ "sh", "mount", "mkdir", "insmod", "ip", "ping", "cat", "grep", "sed", "awk", "sleep", "poweroff", \
	  "ls", "readlink", "echo", "tr", "head", "rm", "basename", "sync", "seq", "wc", NULL }

struct guest_kit_config {
	const char *kernel;  /* NULL: the host's own, /boot/vmlinuz-$(uname -r) */
	const char *busybox; /* NULL: /usr/bin/busybox (busybox-static) */
	const char *iperf3;  /* NULL: /usr/bin/iperf3 */
	const char *modules_dir; /* NULL: /lib/modules */
};

struct guest_kit {
	char *kernel;    /* the kernel image */
	char *release;   /* its release ("6.1.0-28-amd64"), read from the image */
	char **modules;  /* module files packed, in load order */
	char **missing;  /* driver modules neither found nor built in (that path's guest gets no driver) */
	char **files;    /* executables and libraries packed */
	uint64_t size;   /* bytes written */
};
struct guest_kit *guest_kit_free(struct guest_kit *k);
static inline void guest_kit_freep(struct guest_kit **k)
{
	guest_kit_free(*k);
}
#define _cleanup_guest_kit_ _cleanup_(guest_kit_freep)

/* The kernel release of a bzImage (its header's kernel_version string) or of an uncompressed vmlinux
 * (its "Linux version" banner). -ENOEXEC: neither. */
int guest_kit_kernel_release(const char *kernel, char **ret);

/* The module files for names under dir (/lib/modules/RELEASE), from its modules.dep, in the order
 * `modprobe --show-depends` loads them (each dependency before its user, each file once). Built-in
 * modules (modules.builtin) are skipped; names found nowhere are returned in *ret_missing. */
int guest_kit_module_order(const char *dir, const char *const *names, char ***ret, char ***ret_missing);

/* Writes the initramfs (an uncompressed newc cpio) to path; *ret describes what went in. On failure
 * *ret_why (if not NULL) names the step for the user ("iperf3 /usr/bin/iperf3: not found"). */
int guest_kit_build(const struct guest_kit_config *cfg, const char *path, struct guest_kit **ret,
		    char **ret_why);

/* What one run measures. Every field is validated before it reaches a script. */
struct guest_params {
	const char *nonce;   /* 16-64 hex digits: result lines carry it, and only the script knows it */
	const char *addr;    /* the NIC's address with prefix, inside 198.18.0.0/15 ("198.18.2.2/24") */
	const char *peer;    /* the other end of the wire, inside 198.18.0.0/15 */
	unsigned duration;   /* seconds per iperf3 direction (1..3600) */
	unsigned port;       /* the peer's iperf3 port */
	const char *nic;     /* the interface to use; NULL: the first that is not lo (in a guest) */
	const char *pci;     /* the NIC's PCI address (native: where its interrupts are found); NULL: from sysfs */
};
/* The params file the scripts read (sh assignments; -EINVAL for a value outside the rules above). */
int guest_params_format(const struct guest_params *p, char **ret);
/* Writes a second archive with /ptb/params to path (appended to the kit's: the kernel unpacks both). */
int guest_params_archive(const struct guest_params *p, const char *path);
/* The measuring script (busybox sh): `sh measure PARAMS-FILE`; it deletes the params file first. */
extern const char guest_kit_measure_sh[];
/* Is a an IPv4 address (with /prefix if with_prefix) inside 198.18.0.0/15? */
bool guest_addr_ok(const char *a, bool with_prefix);
