/* bind-internal.h: what bind.c, bind-release.c and bind-ops.c share: one operation's state
 * (options, result, the devices' starting snapshots) and the steps every change goes through. */
#pragma once

#include <signal.h>

#include "pci-internal.h"
#include "util/util.h"

#define RECORD_KIND	   "devices"
#define LOCK_TIMEOUT_MS	   10000
#define DEFAULT_TIMEOUT_MS 3000

/* A device's starting state: what rollback returns it to. */
struct snapshot {
	struct pci_addr addr;
	char name[PCI_ADDR_STRLEN];
	char *driver;	/* NULL: unbound */
	char *override; /* NULL: unset */
	bool touched;	/* a kernel-visible change was made (set after the first write that succeeded) */
	bool made_record; /* this operation wrote (or adopted) the record: a rollback removes it */
};

struct op {
	const struct vfio_bind_opts *o;
	struct vfio_bind_result *res;
	const char *target; /* the driver to bind to (bind) */
	int timeout_ms;
	struct snapshot *snaps;
	size_t n_snaps;
	sigset_t saved_mask;
	bool signals_held;
};

/* Sets the result's failure and reason; returns -EINVAL (bad input), -EPERM (refused) or -EIO. */
int bind_fail(struct vfio_bind_result *res, enum vfio_bind_failure f, const char *fmt, ...) _printf_(3, 4);
int bind_add_step(struct vfio_bind_result *res, const char *dev, const char *action, const char *file,
		  const char *value, struct vfio_bind_step **ret);
int bind_add_change(struct vfio_bind_result *res, const char *dev, const char *from, const char *to);
void bind_sleep_ms(int ms);
/* Polls the driver link until it names want (NULL: unbound); -ETIMEDOUT with *ret_now set. */
int bind_wait_driver(const char *dev, const char *want, int timeout_ms, char **ret_now);
/* Lists the step; unless dry_run also writes value to file (through the root) and marks it done. */
int bind_run_step(struct op *op, const char *dev, const char *action, const char *file, const char *value);
/* The "unbind" step from the snapshot's current driver, if it has one; a FAILED result if it fails. */
int bind_unbind_current(struct op *op, const struct snapshot *s);
/* A driver name is a name: not empty, not "." or "..", no '/', printable, shorter than 64 bytes. */
bool bind_driver_name_ok(const char *driver);
/* The driver is registered, or its module is loaded with modprobe; else a BAD_INPUT failure. A dry
 * run asks modprobe whether it could (modprobe -D), so it refuses what the real run refuses. Runs
 * before bind_hold_signals(): a hung modprobe must stay interruptible. */
int bind_ensure_driver(struct op *op, const char *driver);
int bind_snapshot_take(struct op *op, const char *dev, struct snapshot **ret);
void bind_snapshots_free(struct op *op);
/* After a failure: every touched device back to its snapshot; the reason says how that went. */
int bind_finish_failed(struct op *op, int r);
int bind_check_device(struct op *op, const struct pci_addr *addr, struct vfio_pci_dev **ret);
/* A FAILED result naming the file when sysfs did not say what a move depends on (driver, group...). */
int bind_refuse_unreadable(struct op *op, const struct vfio_pci_dev *d);
/* Ctrl-C between unbind and probe would strand a device: SIGINT, SIGTERM, SIGHUP and SIGQUIT wait
 * while devices move (not for a dry run) and are delivered when bind_allow_signals() runs. */
void bind_hold_signals(struct op *op);
void bind_allow_signals(struct op *op);
/* *ret_fd: the lock's fd to close, or -1 when none is needed (dry run, the caller holds it). */
int bind_take_lock(struct op *op, int *ret_fd);
/* A running VM of ptctl's holds the device (or, for a PF, one of its VFs): a REFUSED failure naming it. */
int bind_refuse_assigned(struct op *op, const char *dev);
