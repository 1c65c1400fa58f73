/* bench-nic-host.h: the host plumbing `ptctl bench nic` changes and measures with: interfaces and
 * addresses over rtnetlink, taps, a network namespace held by a descriptor, the undo list every change is
 * recorded in before it is made, child processes, and the counters (KVM exits, CPU time) read around a
 * measured window. Used by bench-nic.c only. */
#pragma once

#include <sys/types.h>

#include "util/util.h"

/* ---- rtnetlink (libnl-route) ---- */
int nb_link_ifindex(const char *ifname, int *ret);
int nb_link_set_up(const char *ifname, bool up);
int nb_link_is_up(const char *ifname, bool *ret);
int nb_link_move_to_netns(const char *ifname, int netns_fd);
int nb_link_delete(const char *ifname);
int nb_addr_add(const char *ifname, const char *cidr);  /* -EEXIST if there already */
int nb_addr_del(const char *ifname, const char *cidr);

/* A persistent tap (IFF_TAP | IFF_NO_PI), left for a VMM to attach to; removed with nb_link_delete. */
int nb_tap_create(const char *name);

/* A fresh network namespace, alive while the returned descriptor is open. The calling thread ends up
 * back in its own namespace. Closing the last descriptor destroys it and returns physical devices
 * (the VF) to the initial namespace: nothing is left behind even if ptctl is killed. */
int nb_netns_new(int *ret_fd);

/* ---- the undo list: recorded before each change, run last to first ---- */
enum nb_undo_kind {
	NB_UNDO_ADDR,     /* a: ifname, b: cidr */
	NB_UNDO_LINK_DOWN, /* a: ifname */
	NB_UNDO_LINK_DEL, /* a: ifname (a tap) */
	NB_UNDO_CLOSE,    /* fd (a network namespace) */
	NB_UNDO_RELEASE,  /* a: PCI address (vfio_release back to the recorded driver); b: "unbound" if it had none */
	NB_UNDO_ASSIGN,   /* a: PCI address, b: "release" or "" (vm_assign_finish), or "release unbound" */
	NB_UNDO_NUMVFS,   /* a: PF address (sriov_numvfs back to 0) */
	NB_UNDO_KILL,     /* pid: SIGKILL and reap */
	NB_UNDO_RMTREE,   /* a: a directory of ours */
};
struct nb_undo {
	enum nb_undo_kind kind;
	char a[256], b[64];
	int fd;
	pid_t pid;
	bool done;
};
struct nb_undo_list {
	struct nb_undo items[64];
	size_t n;
};
/* Records an undo; returns its index (for nb_undo_now) or -ENOSPC. */
int nb_undo_push(struct nb_undo_list *l, enum nb_undo_kind kind, const char *a, const char *b, int fd, pid_t pid);
/* Runs one recorded undo now (when the change ends early, e.g. a path's VM is over). */
void nb_undo_now(struct nb_undo_list *l, int index);
/* Runs every pending undo, last first; failures are reported as warnings ("..., ignoring" is not
 * said: a failed undo leaves something behind and the message says what to do). Returns the failures. */
int nb_undo_all(struct nb_undo_list *l);

/* ---- processes ---- */
/* Starts argv with stdin from /dev/null, stdout (and stderr when err_too) to a pipe whose read end is
 * returned in *ret_out (or /dev/null when ret_out is NULL). child_setup (optional) runs in the child
 * before exec, e.g. to enter a namespace; a failure there exits 127. */
int nb_spawn(char *const argv[], int *ret_out, bool err_too, int (*child_setup)(void *), void *userdata,
	     pid_t *ret_pid);
/* Kills (SIGKILL) and reaps. */
void nb_kill(pid_t pid);

/* ---- counters ---- */
/* CPU seconds (user + system) of a process, plus those of its vhost kernel threads ("vhost-PID"). */
int nb_cpu_seconds(pid_t pid, double *ret);
/* KVM exits of every VM a process owns, from debugfs (/sys/kernel/debug/kvm/PID-FD/exits). */
int nb_debugfs_exits(pid_t pid, uint64_t *ret);
/* The 1-minute load average, -1 if unknown. */
double nb_loadavg(void);
