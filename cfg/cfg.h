/* cfg.h: the cfg module's one public header: declarative configuration in INI files (systemd style,
 * parsed with libinih), its typed model and validation, and the plan/apply engine that converges
 * the host through the vfio/ and sriov/ modules. */
#pragma once

#include "sriov/sriov.h"
#include "util/pciaddr.h"
#include "util/util.h"

struct json_object;

/* ---- Files ----
 * Main files are NAME.conf in these directories; the first directory holding a NAME.conf wins
 * (an empty file or a symlink to /dev/null masks the lower ones). Drop-ins NAME.conf.d/NN.conf
 * from all three, the first directory winning per drop-in name, are applied in name order after
 * NAME.conf. The directories are under PTCTL_ROOT; cfg_load() with dirs replaces them. */
#define CFG_DIR_ETC "/etc/ptctl"
#define CFG_DIR_RUN "/run/ptctl/conf.d"
#define CFG_DIR_LIB "/usr/lib/ptctl"

enum cfg_kind {
	CFG_DEVICE, /* [Device] */
	CFG_SRIOV,  /* [SR-IOV] */
	CFG_VF,     /* [VirtualFunction] */
	CFG_VM,     /* [VM] */
	_CFG_KIND_MAX,
};
const char *cfg_kind_section(enum cfg_kind k); /* "Device", "SR-IOV", ... */
const char *cfg_kind_name(enum cfg_kind k);    /* "device", "sriov", "vf", "vm" (JSON, object ids) */

/* One effective KEY=VALUE with where it came from (host paths, as an administrator sees them). */
struct cfg_entry {
	char *key, *value;
	const char *file; /* owned by struct cfg */
	unsigned line;
};

/* A PF named by PCI address or network interface name. */
struct cfg_pf_ref {
	char *text; /* as written */
	bool is_addr;
	struct pci_addr addr; /* when is_addr */
};

/* An Assign= value: a PCI address, or PF:INDEX naming a VF stably. */
struct cfg_assign {
	char *text;
	bool is_vf;
	struct pci_addr addr; /* !is_vf */
	struct cfg_pf_ref pf; /* is_vf */
	unsigned vf;
	const char *file;
	unsigned line;
};

#define CFG_DRIVER_HOST "host" /* Driver=host: back on the host driver ptctl found it on */

struct cfg_object {
	enum cfg_kind kind;
	char *id;         /* "device 0000:03:00.0", "device 8086:10d3", "sriov enp1s0", "vf enp1s0/2", "vm vm1" */
	const char *file; /* where its (first) section starts */
	unsigned line;
	size_t n_entries;
	struct cfg_entry *entries; /* effective values, in key order */
	union {
		struct {
			bool has_addr;
			struct pci_addr addr;
			bool has_match, has_subsys;
			uint16_t vendor, device, subsys_vendor, subsys_device;
			char *driver; /* "vfio-pci", "host" or a driver name */
			bool group;
		} dev;
		struct {
			struct cfg_pf_ref pf;
			int num_vfs;   /* -1: not set */
			int autoprobe; /* -1: not set (off when VFs are created) */
		} sriov;
		struct {
			struct cfg_pf_ref pf;
			unsigned index;
			struct sriov_vf_settings set; /* set.mask: the keys given */
			char *driver;                 /* NULL: not set */
		} vf;
		struct {
			char *name, *kernel, *initrd, *cmdline, *nic;
			uint64_t memory, hugepage_size;
			unsigned cpus;
			bool autostart;
			size_t n_assign;
			struct cfg_assign *assign;
		} vm;
	};
};

struct cfg {
	size_t n_files;
	char **files; /* every file read, host paths, in the order applied */
	size_t n_objects;
	struct cfg_object *objects; /* by kind, then in file order */
};

/* An error in the files: "FILE:LINE: what and why" (line 0: about the whole file). */
struct cfg_error {
	char *file;
	unsigned line;
	char *msg;
};
struct cfg_errors {
	size_t n;
	struct cfg_error *v;
};
void cfg_errors_clear(struct cfg_errors *e);
/* Prints each error on its own line, "ptctl: " prefixed, to f. */
void cfg_errors_print(const struct cfg_errors *e, FILE *f);

/* Reads, merges and validates every file. dirs: NULL for the standard three under the root, or a
 * NULL-terminated list of real directories (--config DIR). Returns 0 with *ret, -EINVAL when the
 * files have errors (errs filled, *ret untouched), or another -errno. No configuration at all is
 * an empty struct cfg, not an error. */
int cfg_load(const char *const *dirs, struct cfg **ret, struct cfg_errors *errs);
void cfg_free(struct cfg *c);
static inline void cfg_freep(struct cfg **c)
{
	cfg_free(*c);
}
#define _cleanup_cfg_ _cleanup_(cfg_freep)

/* `ptctl config show`: {"files": [...], "objects": [{"kind", "id", "file", "line",
 * "settings": [{"key", "value", "file", "line"}]}]}. */
int cfg_to_json(const struct cfg *c, struct json_object **ret);

/* ---- Plan and apply ---- */

enum cfg_step_action {
	CFG_STEP_NUMVFS,   /* sriov_pf_set_num_vfs() (with the autoprobe setting) */
	CFG_STEP_AUTOPROBE, /* sriov_drivers_autoprobe only (count already right) */
	CFG_STEP_VF_SET,   /* sriov_vf_set() of the differing settings */
	CFG_STEP_BIND,     /* vfio_bind() to a driver (vfio-pci or a named one) */
	CFG_STEP_RELEASE,  /* vfio_release() back to the recorded host driver */
};

struct cfg_step {
	enum cfg_step_action action;
	const struct cfg_object *obj;
	char target[PCI_ADDR_STRLEN]; /* the device changed ("" for a VF that does not exist yet) */
	char pf[PCI_ADDR_STRLEN];     /* PF steps and VF steps */
	unsigned vf;
	/* NUMVFS / AUTOPROBE */
	unsigned from_vfs, to_vfs;
	bool from_autoprobe, to_autoprobe;
	/* VF_SET: what to set and what the host has now (have.mask: what it reported) */
	struct sriov_vf_settings want, have;
	/* BIND / RELEASE */
	char *driver;      /* the driver to bind to */
	char *from_driver; /* the driver now (NULL: none) */
	bool group;
	char *text; /* the step in words: "0000:01:00.0: VFs 0 -> 3 (drivers autoprobe off)" */
};

enum cfg_state {
	CFG_CONVERGED, /* the host is as configured */
	CFG_DRIFTED,   /* differs; apply would change it */
	CFG_ABSENT,    /* the device (or PF) is not there (yet): nothing to do until it appears */
	CFG_INVALID,   /* cannot be converged as configured (a VF beyond sriov_totalvfs, ...): see why */
	CFG_FAILED,    /* the last apply failed on it (recorded under /run/ptctl/cfg) and it still differs */
};
const char *cfg_state_to_string(enum cfg_state s);

struct cfg_object_state {
	const struct cfg_object *obj;
	enum cfg_state state;
	char **drift;   /* how it differs, one phrase each ("VF 2 mac 02:..:01, configured 02:..:02") */
	char *why;      /* ABSENT / INVALID / FAILED: the reason */
	char **devices; /* the PCI addresses it covers (resolved), NULL-terminated */
};

struct cfg_plan {
	size_t n_steps;
	struct cfg_step *steps; /* in order: VF counts, VF settings, driver bindings */
	size_t n_states;
	struct cfg_object_state *states; /* one per object considered, config order */
	size_t n_invalid;                /* states that are CFG_INVALID (apply refuses them: exit 2) */
};

/* The kernel boundaries the plan reads and apply drives; tests replace netlink. */
struct cfg_host_ops {
	const struct sriov_nl_ops *nl; /* NULL: sriov_nl_kernel */
	int bind_timeout_ms, vf_timeout_ms; /* 0: the modules' defaults */
};

/* Computes the plan for the objects matching filter (NULL: all; else a VM name, a PF's netdev
 * or address, or a device address; see cfg_object_matches()). */
int cfg_plan_new(const struct cfg *c, const char *filter, const struct cfg_host_ops *ops, struct cfg_plan **ret);
void cfg_plan_free(struct cfg_plan *p);
static inline void cfg_plan_freep(struct cfg_plan **p)
{
	cfg_plan_free(*p);
}
#define _cleanup_cfg_plan_ _cleanup_(cfg_plan_freep)
/* Does this object concern filter? -ENOENT-free: 1 or 0. */
int cfg_object_matches(const struct cfg_object *o, const char *filter);

/* What apply did: the steps done (in order), the failing one, the rollback. */
struct cfg_apply_result {
	size_t n_done;          /* steps[0..n_done) of the plan completed */
	int failed_step;        /* index of the failing step, -1 none */
	int error;              /* its -errno */
	char *reason;           /* the failing step's reason in words (object first) */
	int rollback;           /* < 0: undoing failed (then reason_rollback says where) */
	char *reason_rollback;
};
void cfg_apply_result_clear(struct cfg_apply_result *r);

/* Carries the plan out in order under the host lock, verifying each step; on a failure undoes the
 * completed steps in reverse and returns the failing step's -errno. Records each object's outcome
 * under /run/ptctl/cfg/ (status shows failed objects). progress, if set, is called before each step. */
int cfg_apply(const struct cfg_plan *p, const struct cfg_host_ops *ops,
	      void (*progress)(const struct cfg_step *s, void *userdata), void *userdata,
	      struct cfg_apply_result *res);

/* JSON of a plan ({"steps": [...], "objects": [...]}) and of the status (objects only). */
int cfg_plan_to_json(const struct cfg_plan *p, bool with_steps, struct json_object **ret);

/* The VM named name, or NULL. */
const struct cfg_object *cfg_find_vm(const struct cfg *c, const char *name);
/* The PCI address an Assign= names on the host now (a PF:INDEX through the PF's virtfnINDEX link).
 * -ENODEV when the device, the PF or the VF is not there. */
int cfg_assign_resolve(const struct cfg_assign *a, char addr[PCI_ADDR_STRLEN]);
/* systemd's booleans: 1 yes y true t on / 0 no n false f off (case-insensitive). */
int cfg_parse_bool(const char *s, bool *ret);
