/* sriov.h: the sriov module's one public header: physical functions and their virtual functions in
 * sysfs (list, create, destroy, in-use checks) and VF settings over rtnetlink (libnl-route-3). */
#pragma once

#include <stdint.h>

#include "util/pciaddr.h"
#include "util/util.h"

struct nl_msg;

/* ---- PFs and VFs in sysfs ---- */

struct sriov_vf {
	unsigned index;                   /* the N of virtfnN */
	char address[PCI_ADDR_STRLEN];    /* "" if virtfnN exists but does not resolve */
	int iommu_group;                  /* -1: none (yet) */
	char *driver;                     /* NULL: unbound */
	char *netdev;                     /* the VF's own interface, NULL if none */
};

struct sriov_pf {
	char address[PCI_ADDR_STRLEN];
	char *driver;      /* NULL: unbound (then the kernel refuses sriov_numvfs writes) */
	char *netdev;      /* first interface under net/, NULL for PFs without one (nvme) */
	int ifindex;       /* of netdev, 0 if none */
	int iommu_group;   /* -1: no IOMMU group (no IOMMU): VFs are then not waited for theirs */
	unsigned total_vfs;
	unsigned num_vfs;
	bool autoprobe;    /* sriov_drivers_autoprobe */
	size_t n_vfs;      /* VFs found through virtfnN links (normally num_vfs) */
	struct sriov_vf *vfs;
};

/* Reads the PF's SR-IOV state. -ENODEV: no such PCI device; -EOPNOTSUPP: not SR-IOV capable
 * (no sriov_totalvfs, or it is a VF itself). */
int sriov_pf_load(const char *address, struct sriov_pf **ret);
/* The same; when an attribute holds what the kernel never writes, *ret_why (if not NULL) names the
 * file and the reason ("/sys/.../sriov_totalvfs: '99999999999' is out of range (0-65535)"). */
int sriov_pf_load_why(const char *address, struct sriov_pf **ret, char **ret_why);
void sriov_pf_free(struct sriov_pf *pf);
static inline void sriov_pf_freep(struct sriov_pf **p)
{
	sriov_pf_free(*p);
}
#define _cleanup_sriov_pf_ _cleanup_(sriov_pf_freep)

/* Is this VF in use? 1 with *reason (new string, e.g. "bound to vfio-pci, /dev/vfio/12 open by
 * pid 812 (qemu-system-x86)") when it is bound to vfio-pci and its group device is open by a process
 * (found through /proc/PID/fd), or when /run/ptctl/assigned/ADDRESS records it as assigned. 0 if not. */
int sriov_vf_in_use(const struct sriov_vf *vf, char **reason);

/* ---- Creating and destroying VFs ---- */

struct sriov_change_opts {
	bool autoprobe;   /* create: value for sriov_drivers_autoprobe (false keeps host VF drivers off) */
	bool force;       /* skip the in-use check on existing VFs */
	bool dry_run;     /* run every check, report the writes through step(), make none */
	int timeout_ms;   /* create: how long to wait for all VFs (<= 0: 60 s) */
	/* Each sysfs write, before it is made (or instead of it, in a dry run). */
	void (*step)(const char *path, const char *value, void *userdata);
	/* While waiting, once more than a second has passed: VFs present so far (called on change). */
	void (*progress)(unsigned present, unsigned wanted, void *userdata);
	void *userdata;
};

/* What a change failed on, for the caller's one error line. */
struct sriov_change_error {
	char vf[PCI_ADDR_STRLEN]; /* -EBUSY: the VF in use */
	char *reason;             /* -EBUSY: why it is in use; -ETIMEDOUT: what was missing */
	unsigned present;         /* -ETIMEDOUT: VFs that did appear */
	int rollback;             /* < 0: restoring the previous state failed too (then it is half-done) */
	bool changed;             /* a write took before the failure (false: nothing was changed) */
};
void sriov_change_error_done(struct sriov_change_error *e);

/* Sets the PF's VF count to count (0 destroys). The caller holds state_lock().
 * A different non-zero count goes through 0, after checking no VF is in use (unless force).
 * Waits until every VF exists with its IOMMU group (uevents, and sysfs re-read every 100 ms);
 * on failure restores the previous count and autoprobe setting.
 * Returns 0 changed, 1 nothing to change, -ERANGE count > total_vfs, -EBUSY a VF in use,
 * -ETIMEDOUT VFs did not appear, or the -errno of the failed write (err filled in). */
int sriov_pf_set_num_vfs(const char *address, unsigned count, const struct sriov_change_opts *opts,
			 struct sriov_change_error *err);

/* Writes sriov_drivers_autoprobe alone (whatever the VF count; sriov_pf_set_num_vfs() leaves it as it is
 * when going to 0, so undoing a creation needs this). The caller holds state_lock(). Returns 0 changed,
 * 1 already so, or -errno. */
int sriov_pf_set_autoprobe(const char *address, bool on);

/* ---- VF settings over rtnetlink ---- */

enum {
	SRIOV_SET_MAC = 1 << 0,
	SRIOV_SET_VLAN = 1 << 1, /* vlan and qos together */
	SRIOV_SET_SPOOFCHK = 1 << 2,
	SRIOV_SET_TRUST = 1 << 3,
	SRIOV_SET_STATE = 1 << 4,
	SRIOV_SET_RATE = 1 << 5, /* min_rate and max_rate together (Mbit/s, 0 = no limit) */
	SRIOV_SET_ALL = (1 << 6) - 1,
};

enum sriov_link_state {
	SRIOV_STATE_AUTO = 0,    /* follows the PF's link (IFLA_VF_LINK_STATE_AUTO) */
	SRIOV_STATE_ENABLE = 1,  /* always up */
	SRIOV_STATE_DISABLE = 2, /* always down */
};

/* Requested settings (mask: what to set) or settings read back (mask: what the PF driver reported;
 * a driver that does not report spoofchk or trust leaves those bits clear). */
struct sriov_vf_settings {
	unsigned mask;
	uint8_t mac[6];
	uint16_t vlan; /* 0-4095, 0 = untagged */
	uint8_t qos;   /* 0-7 */
	bool spoofchk;
	bool trust;
	enum sriov_link_state state;
	uint32_t min_rate, max_rate;
};

/* The name of one SRIOV_SET_* bit ("mac", "vlan", ...), for messages. */
const char *sriov_setting_name(unsigned bit);
const char *sriov_link_state_to_string(enum sriov_link_state s);
int sriov_link_state_from_string(const char *s); /* -EINVAL if unknown */
/* "52:54:00:12:34:56" (case-insensitive, six two-digit groups) -> bytes; -EINVAL otherwise. */
int sriov_mac_parse(const char *s, uint8_t mac[6]);
void sriov_mac_format(const uint8_t mac[6], char buf[18]);
/* Input checks before anything is sent: MAC unicast and not zero, VLAN 0-4095, QoS 0-7 (and only with
 * a VLAN), state a known value, MIN <= MAX when MAX is set. -EINVAL with *what naming the setting. */
int sriov_vf_settings_validate(const struct sriov_vf_settings *s, const char **what);

/* The boundary to the kernel, replaceable so message building, error mapping and verification are
 * tested without one. transact() sends one request and waits for the answer: 0 with *reply (a
 * RTM_NEWLINK for a RTM_GETLINK, NULL for a change) or the kernel's -errno (not libnl's -NLE_*), with
 * the kernel's extended-ack text (if any) copied into msg. */
struct sriov_nl_ops {
	int (*transact)(void *userdata, struct nl_msg *req, struct nl_msg **reply, char *msg, size_t msglen);
	void *userdata;
};
/* The real one: a NETLINK_ROUTE socket (libnl) opened per call. */
extern const struct sriov_nl_ops sriov_nl_kernel;

/* libnl's -NLE_* -> -errno (our convention at the boundary). */
int sriov_nl_errno(int nle);
/* A RTM_SETLINK/NEWLINK request carrying one IFLA_VF_INFO for vf with the settings in s->mask. */
int sriov_nl_build_set(int ifindex, unsigned vf, const struct sriov_vf_settings *s, struct nl_msg **ret);
/* A RTM_GETLINK request for ifindex with IFLA_EXT_MASK = RTEXT_FILTER_VF. */
int sriov_nl_build_get(int ifindex, struct nl_msg **ret);
/* Parses a RTM_NEWLINK answer: the VF's settings. -ENOENT if the VF is not in the answer. */
int sriov_nl_parse_vf(struct nl_msg *reply, unsigned vf, struct sriov_vf_settings *ret, unsigned *num_vfs);

/* Reads one VF's settings from the PF netdev. */
int sriov_vf_get(const struct sriov_nl_ops *ops, int ifindex, unsigned vf, struct sriov_vf_settings *ret);

/* What a set failed on. */
struct sriov_set_error {
	unsigned setting;    /* the SRIOV_SET_* bit the kernel refused or did not apply (0: none) */
	char kernel_msg[128]; /* the kernel's extended-ack text, "" if none */
	struct sriov_vf_settings got; /* -EIO: what the read-back said */
	int rollback;        /* < 0: putting back the settings already applied failed */
};

/* Applies the settings one attribute per request (so a refusal names exactly one setting), then
 * reads back and verifies each. On any failure the settings already applied are put back.
 * The caller has validated s and checked vf < num_vfs and holds state_lock().
 * Returns 0, the kernel's -errno for the refused setting, or -EIO when the kernel accepted a setting
 * but the read-back differs (err->got holds what it reported). */
int sriov_vf_set(const struct sriov_nl_ops *ops, int ifindex, unsigned vf, const struct sriov_vf_settings *s,
		 struct sriov_set_error *err);
/* A reason for a refused setting, from the kernel's errno: "the PF driver does not support it". */
const char *sriov_set_strerror(int err);
