/* assigned.h: which PCI device is given to which of ptctl's VMs. `ptctl vm run|start --assign` writes
 * /run/ptctl/assigned/ADDRESS ("vm=NAME\npid=PID\n"); bind, release, sriov destroy, list and show read it. */
#pragma once

#include <sys/types.h>

#include "util.h"

#define ASSIGNED_KIND "assigned"
#define VM_STATE_DIR "/run/ptctl/vm" /* one folder per VM: lock, control, info, console.log */

struct assignment {
	char vm[64];
	long pid;
	/* The VM still holds the device: its process exists (/proc/PID) and holds /run/ptctl/vm/NAME/lock.
	 * false: a VMM that died without cleaning up (SIGKILL); `ptctl release` may take the device back. */
	bool running;
};

/* 1 with *ret filled (a damaged record reads as a dead VM named "?"), 0 when the device has no record. */
int assigned_read(const char *address, struct assignment *ret);
int assigned_write(const char *address, const char *vm, long pid);
int assigned_remove(const char *address);
/* Whether a process holds VM name's lock (/run/ptctl/vm/NAME/lock): how a running VM is recognised. */
bool assigned_vm_lock_held(const char *name);
