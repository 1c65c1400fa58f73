/* fakepf.h: a fake sysfs/proc tree with SR-IOV PFs and a model of the kernel's sriov_numvfs and
 * sriov_drivers_autoprobe (EBUSY, ERANGE, VFs appearing or not, late, without groups, write faults).
 * Header-only: the sriov tests include it (tests/lib/fakesys does not model SR-IOV). */
#pragma once

/* Paths here are built from a short temporary root; truncation cannot happen in practice. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>

#include "util/root.h"
#include "util/util.h"

struct fakepf {
	char root[PATH_MAX];
	/* the PF the model serves (one at a time is enough for these tests) */
	char pf[16];
	unsigned total;
	bool pf_group;     /* the PF (so its VFs) sit behind an IOMMU */
	int deliver;       /* -1: every VF appears; k >= 0: only the first k ever appear */
	bool vf_groups;    /* VFs get an iommu_group link (when pf_group) */
	int delay_ms;      /* > 0: VFs appear this long after the write, from another thread */
	int fail_nonzero;  /* < 0: writes of a non-zero count fail with this */
	int fail_zero;     /* < 0: writes of 0 fail with this */
	char log[1024];    /* "autoprobe=0 numvfs=4 " ... */
	pthread_t thread;
	bool thread_live;
	unsigned pending;
};

static void fp_path(struct fakepf *f, char *buf, size_t len, const char *host)
{
	snprintf(buf, len, "%s%s", f->root, host);
}

static void fp_mkdirs(const char *p)
{
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s", p);
	for (char *s = tmp + 1; *s; s++)
		if (*s == '/') {
			*s = '\0';
			mkdir(tmp, 0755);
			*s = '/';
		}
	mkdir(tmp, 0755);
}

/* A file at a host path inside the tree (parents made). */
static void fp_file(struct fakepf *f, const char *host, const char *content)
{
	char p[PATH_MAX], d[PATH_MAX];
	FILE *fh;
	fp_path(f, p, sizeof(p), host);
	snprintf(d, sizeof(d), "%s", p);
	*strrchr(d, '/') = '\0';
	fp_mkdirs(d);
	fh = fopen(p, "w");
	if (fh) {
		fputs(content, fh);
		fclose(fh);
	}
}

static void fp_link(struct fakepf *f, const char *target, const char *host)
{
	char p[PATH_MAX], d[PATH_MAX];
	fp_path(f, p, sizeof(p), host);
	snprintf(d, sizeof(d), "%s", p);
	*strrchr(d, '/') = '\0';
	fp_mkdirs(d);
	unlink(p);
	if (symlink(target, p) < 0)
		perror(p);
}

#define FP_BRIDGE "/sys/devices/pci0000:00/0000:00:01.0/"

/* A device directory as the kernel lays it out, with its /sys/bus/pci/devices link. */
static void fp_dev(struct fakepf *f, const char *addr, int group, const char *driver)
{
	char h[PATH_MAX], t[PATH_MAX];
	snprintf(h, sizeof(h), FP_BRIDGE "%s/vendor", addr);
	fp_file(f, h, "0x8086\n");
	snprintf(h, sizeof(h), "/sys/bus/pci/devices/%s", addr);
	snprintf(t, sizeof(t), "../../../devices/pci0000:00/0000:00:01.0/%s", addr);
	fp_link(f, t, h);
	if (group >= 0) {
		snprintf(h, sizeof(h), "/sys/kernel/iommu_groups/%d/type", group);
		fp_file(f, h, "DMA\n");
		snprintf(h, sizeof(h), FP_BRIDGE "%s/iommu_group", addr);
		snprintf(t, sizeof(t), "../../../../kernel/iommu_groups/%d", group);
		fp_link(f, t, h);
	}
	if (driver) {
		snprintf(h, sizeof(h), FP_BRIDGE "%s/driver", addr);
		snprintf(t, sizeof(t), "../../../../bus/pci/drivers/%s", driver);
		fp_link(f, t, h);
	}
}

/* VF i of a PF at bb:00.0: offset 0x80, stride 2, as igb has them (01:10.0, 01:10.2, ...). */
static void fp_vf_addr(const char *pf, unsigned i, char *buf)
{
	unsigned devfn = 0x80 + 2 * i;
	snprintf(buf, 16, "%.8s%02x.%x", pf, devfn >> 3, devfn & 7);
}

static void fp_add_vf(struct fakepf *f, unsigned i)
{
	char vf[16], h[PATH_MAX], t[PATH_MAX];
	fp_vf_addr(f->pf, i, vf);
	fp_dev(f, vf, f->pf_group && f->vf_groups ? 100 + (int)i : -1, NULL);
	snprintf(h, sizeof(h), FP_BRIDGE "%s/physfn", vf);
	snprintf(t, sizeof(t), "../%s", f->pf);
	fp_link(f, t, h);
	snprintf(h, sizeof(h), FP_BRIDGE "%s/virtfn%u", f->pf, i);
	snprintf(t, sizeof(t), "../%s", vf);
	fp_link(f, t, h);
}

static void fp_remove_vfs(struct fakepf *f)
{
	for (unsigned i = 0; i < f->total; i++) {
		char vf[16], cmd[PATH_MAX * 3], h[PATH_MAX];
		fp_vf_addr(f->pf, i, vf);
		snprintf(h, sizeof(h), "%s" FP_BRIDGE "%s/virtfn%u", f->root, f->pf, i);
		unlink(h);
		snprintf(cmd, sizeof(cmd), "rm -rf '%s" FP_BRIDGE "%s' '%s/sys/bus/pci/devices/%s'", f->root, vf,
			 f->root, vf);
		if (system(cmd) != 0)
			fprintf(stderr, "fakepf: removing %s failed\n", vf);
	}
}

static void fp_set_file(struct fakepf *f, const char *name, unsigned v)
{
	char h[PATH_MAX], s[16];
	snprintf(h, sizeof(h), FP_BRIDGE "%s/%s", f->pf, name);
	snprintf(s, sizeof(s), "%u\n", v);
	fp_file(f, h, s);
}

static unsigned fp_get_file(struct fakepf *f, const char *name)
{
	char h[PATH_MAX];
	uint64_t v = 0;
	snprintf(h, sizeof(h), "/sys/bus/pci/devices/%s/%s", f->pf, name);
	root_read_u64(h, 10, &v);
	return (unsigned)v;
}

static void fp_create(struct fakepf *f, unsigned n)
{
	unsigned k = f->deliver < 0 || (unsigned)f->deliver > n ? n : (unsigned)f->deliver;
	for (unsigned i = 0; i < k; i++)
		fp_add_vf(f, i);
}

static void *fp_late(void *arg)
{
	struct fakepf *f = arg;
	struct timespec ts = { f->delay_ms / 1000, (long)(f->delay_ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
	fp_create(f, f->pending);
	return NULL;
}

static void fp_join(struct fakepf *f)
{
	if (f->thread_live) {
		pthread_join(f->thread, NULL);
		f->thread_live = false;
	}
}

/* The kernel's sriov_numvfs_store and sriov_drivers_autoprobe_store, for f->pf. */
static int fp_hook(const char *path, const char *value, void *userdata)
{
	struct fakepf *f = userdata;
	char base[PATH_MAX];
	uint64_t n;
	size_t len = strlen(f->log);

	snprintf(base, sizeof(base), "/sys/bus/pci/devices/%s/", f->pf);
	if (!startswith(path, base))
		return 0;
	path += strlen(base);
	if (streq(path, "sriov_drivers_autoprobe")) {
		if (parse_u64(value, 10, &n) < 0)
			return -EINVAL;
		snprintf(f->log + len, sizeof(f->log) - len, "autoprobe=%s ", value);
		fp_set_file(f, path, n != 0);
		return 1;
	}
	if (!streq(path, "sriov_numvfs"))
		return 0;
	snprintf(f->log + len, sizeof(f->log) - len, "numvfs=%s ", value);
	if (parse_u64(value, 10, &n) < 0)
		return -EINVAL;
	fp_join(f);
	unsigned cur = fp_get_file(f, "sriov_numvfs");
	if (n == cur)
		return 1;
	if (n > f->total)
		return -ERANGE;
	if (n == 0) {
		if (f->fail_zero < 0)
			return f->fail_zero;
		fp_remove_vfs(f);
		fp_set_file(f, "sriov_numvfs", 0);
		return 1;
	}
	if (cur)
		return -EBUSY;
	if (f->fail_nonzero < 0)
		return f->fail_nonzero;
	fp_set_file(f, "sriov_numvfs", (unsigned)n);
	if (f->delay_ms > 0) {
		f->pending = (unsigned)n;
		f->thread_live = pthread_create(&f->thread, NULL, fp_late, f) == 0;
	} else {
		fp_create(f, (unsigned)n);
	}
	return 1;
}

/* A tree with one SR-IOV PF (driver igb, netdev eth0 ifindex 7, group 5 when pf_group) and the
 * model hooked in; autoprobe starts at 1 as in the kernel. */
static struct fakepf *fakepf_new(const char *pf, unsigned total, bool pf_group)
{
	struct fakepf *f = calloc(1, sizeof(*f));
	char h[PATH_MAX], v[16];

	if (!f)
		return NULL;
	strcpy(f->root, "/tmp/ptctl-sriov-XXXXXX");
	if (!mkdtemp(f->root)) {
		free(f);
		return NULL;
	}
	snprintf(f->pf, sizeof(f->pf), "%s", pf);
	f->total = total;
	f->pf_group = pf_group;
	f->deliver = -1;
	f->vf_groups = true;
	root_set(f->root);
	fp_dev(f, pf, pf_group ? 5 : -1, "igb");
	snprintf(v, sizeof(v), "%u\n", total);
	snprintf(h, sizeof(h), FP_BRIDGE "%s/sriov_totalvfs", pf);
	fp_file(f, h, v);
	fp_set_file(f, "sriov_numvfs", 0);
	fp_set_file(f, "sriov_drivers_autoprobe", 1);
	snprintf(h, sizeof(h), FP_BRIDGE "%s/net/eth0/ifindex", pf);
	fp_file(f, h, "7\n");
	fp_file(f, "/proc/1/comm", "init\n");
	fp_file(f, "/run/ptctl/.keep", "");
	root_set_write_hook(fp_hook, f);
	return f;
}

static void fakepf_free(struct fakepf *f)
{
	char cmd[PATH_MAX + 16];
	if (!f)
		return;
	fp_join(f);
	root_set_write_hook(NULL, NULL);
	root_set(NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
	if (system(cmd) != 0)
		fprintf(stderr, "fakepf: cleanup of %s failed\n", f->root);
	free(f);
}

/* Binds VF i to a driver (the link only) and, with pid > 0, lets that process hold fd 5 on target. */
static void fakepf_vf_user(struct fakepf *f, unsigned i, const char *driver, int pid, const char *comm,
			   const char *target)
{
	char vf[16], h[PATH_MAX], t[PATH_MAX];
	fp_vf_addr(f->pf, i, vf);
	snprintf(h, sizeof(h), FP_BRIDGE "%s/driver", vf);
	snprintf(t, sizeof(t), "../../../../bus/pci/drivers/%s", driver);
	fp_link(f, t, h);
	if (pid > 0) {
		snprintf(h, sizeof(h), "/proc/%d/comm", pid);
		snprintf(t, sizeof(t), "%s\n", comm);
		fp_file(f, h, t);
		snprintf(h, sizeof(h), "/proc/%d/fd/5", pid);
		fp_link(f, target, h);
	}
}
