/* host.c: a PCI device's host IRQs (sysfs msi_irqs/ and irq, /proc/interrupts) and their CPU
 * affinity (/proc/irq/N/smp_affinity_list), all through the system root so fake trees stand in. */
#include <ctype.h>
#include <limits.h>

#include "irq/irq.h"
#include "util/log.h"
#include "util/root.h"

#define MAX_CPUS 8192u

const char *irq_host_kind_name(enum irq_host_kind k)
{
	switch (k) {
	case IRQ_HOST_INTX:
		return "intx";
	case IRQ_HOST_MSI:
		return "msi";
	case IRQ_HOST_MSIX:
		return "msix";
	}
	return "?";
}

void irq_host_list_free(struct irq_host *v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++) {
		free(v[i].chip);
		free(v[i].hwirq);
		free(v[i].actions);
		free(v[i].affinity);
		free(v[i].effective);
	}
	free(v);
}

/* ---- CPU lists ---- */

static int cpulist_parse(const char *s, uint64_t *mask)
{
	const char *p = s;

	memset(mask, 0, MAX_CPUS / 8);
	if (!*p)
		return -EINVAL;
	for (;;) {
		char *end;
		unsigned long a, b;

		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		a = strtoul(p, &end, 10);
		b = a;
		p = end;
		if (*p == '-') {
			p++;
			if (!isdigit((unsigned char)*p))
				return -EINVAL;
			b = strtoul(p, &end, 10);
			p = end;
		}
		if (a > b || b >= MAX_CPUS)
			return -EINVAL;
		for (unsigned long c = a; c <= b; c++)
			mask[c / 64] |= 1ull << (c % 64);
		if (*p == '\0')
			return 0;
		if (*p != ',')
			return -EINVAL;
		p++;
	}
}

static int cpulist_format(const uint64_t *mask, char **ret)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	bool first = true;

	if (!f)
		return -ENOMEM;
	for (unsigned c = 0; c < MAX_CPUS; c++) {
		unsigned e = c;
		if (!(mask[c / 64] >> (c % 64) & 1))
			continue;
		while (e + 1 < MAX_CPUS && (mask[(e + 1) / 64] >> ((e + 1) % 64) & 1))
			e++;
		fprintf(f, first ? "%u" : ",%u", c);
		if (e > c)
			fprintf(f, "-%u", e);
		first = false;
		c = e;
	}
	if (fclose(f) != 0)
		return -ENOMEM;
	if (first)
		return -EINVAL;
	*ret = TAKE_PTR(buf);
	return 0;
}

int irq_cpulist_normalize(const char *s, char **ret)
{
	uint64_t want[MAX_CPUS / 64], online[MAX_CPUS / 64];
	_cleanup_free_ char *on = NULL;
	int r;

	if (!s)
		return -EINVAL;
	r = cpulist_parse(s, want);
	if (r < 0)
		return r;
	/* The kernel takes CPUs that are offline as long as one is online; a pass-through operator
	 * naming an offline CPU has made a mistake, so say so instead. */
	r = root_read("/sys/devices/system/cpu/online", &on);
	if (r >= 0 && cpulist_parse(strstrip(on), online) >= 0)
		for (unsigned i = 0; i < MAX_CPUS / 64; i++)
			if (want[i] & ~online[i]) {
				log_debug("cpu list %s names CPUs outside the online set %s", s, on);
				return -EINVAL;
			}
	return cpulist_format(want, ret);
}

/* ---- affinity ---- */

int irq_affinity_get(unsigned irq, char **ret)
{
	char path[64];
	_cleanup_free_ char *s = NULL;
	int r;

	snprintf(path, sizeof(path), "/proc/irq/%u/smp_affinity_list", irq);
	r = root_read(path, &s);
	if (r < 0)
		return r;
	strstrip(s);
	*ret = TAKE_PTR(s);
	return 0;
}

int irq_affinity_set(unsigned irq, const char *cpulist)
{
	char path[64];
	int r;

	snprintf(path, sizeof(path), "/proc/irq/%u/smp_affinity_list", irq);
	r = root_write(path, cpulist);
	if (r < 0)
		log_debug("irq %u: affinity %s: %s", irq, cpulist, strerror(-r));
	return r;
}

int irq_affinity_set_all(const struct irq_host *v, size_t n, const char *cpulist, size_t *ret_failed)
{
	size_t i;
	int r = 0;

	for (i = 0; i < n; i++) {
		if (!v[i].affinity) {
			/* Without the old value there is nothing to roll back to. */
			r = -ENOENT;
			break;
		}
		r = irq_affinity_set(v[i].irq, cpulist);
		if (r < 0)
			break;
	}
	if (r >= 0)
		return 0;
	if (ret_failed)
		*ret_failed = i;
	while (i-- > 0)
		if (irq_affinity_set(v[i].irq, v[i].affinity) < 0)
			log_debug("irq %u: could not restore affinity %s", v[i].irq, v[i].affinity);
	return r;
}

/* ---- the device's IRQs ---- */

static int cmp_host(const void *a, const void *b)
{
	const struct irq_host *x = a, *y = b;
	return x->irq < y->irq ? -1 : x->irq > y->irq;
}

/* Fills counts and names from /proc/interrupts: "N: c0 c1 ... chip hwirq action[, action]". */
static int read_proc_interrupts(struct irq_host *v, size_t n)
{
	_cleanup_free_ char *text = NULL;
	char *save = NULL, *line;
	unsigned ncpu = 0;
	bool header = true;
	int r = root_read("/proc/interrupts", &text);

	if (r < 0)
		return r;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *p = line, *end;
		unsigned long irq;
		struct irq_host *h = NULL;

		if (header) {
			for (char *t = strstr(p, "CPU"); t; t = strstr(t + 3, "CPU"))
				ncpu++;
			header = false;
			continue;
		}
		while (*p == ' ')
			p++;
		if (!isdigit((unsigned char)*p))
			continue;
		irq = strtoul(p, &end, 10);
		if (*end != ':')
			continue;
		for (size_t i = 0; i < n; i++)
			if (v[i].irq == irq)
				h = &v[i];
		/* A repeated line (a broken or hostile /proc) must not replace what the first one set. */
		if (!h || h->in_proc)
			continue;
		p = end + 1;
		h->in_proc = true;
		for (unsigned c = 0; c < ncpu; c++) {
			unsigned long long k = strtoull(p, &end, 10);
			if (end == p)
				break;
			h->count += k;
			p = end;
		}
		/* The rest: chip, hwirq, then the actions separated by ", " (names may hold spaces). */
		p = strstrip(p);
		end = p + strcspn(p, " ");
		if (end > p && !(h->chip = strndup(p, (size_t)(end - p))))
			return -ENOMEM;
		p = end + strspn(end, " ");
		end = p + strcspn(p, " ");
		if (end > p && !(h->hwirq = strndup(p, (size_t)(end - p))))
			return -ENOMEM;
		p = end + strspn(end, " ");
		if (*p && !(h->actions = strdup(p)))
			return -ENOMEM;
	}
	return 0;
}

static int add_irq(struct irq_host **v, size_t *n, unsigned irq, enum irq_host_kind kind)
{
	struct irq_host *nv = reallocarray(*v, *n + 1, sizeof(**v));

	if (!nv)
		return -ENOMEM;
	*v = nv;
	nv[(*n)++] = (struct irq_host){ .irq = irq, .kind = kind };
	return 0;
}

static int list_msi(const char *dev, struct irq_host **v, size_t *n)
{
	char path[PATH_MAX];
	_cleanup_strv_free_ char **names = NULL;
	int r;

	snprintf(path, sizeof(path), "%s/msi_irqs", dev);
	r = root_list(path, &names);
	if (r == -ENOENT)
		return 0; /* no MSI capability, or the kernel has none enabled */
	if (r < 0)
		return r;
	for (char **s = names; *s; s++) {
		_cleanup_free_ char *mode = NULL;
		uint64_t irq;
		char p[PATH_MAX];

		if (parse_u64(*s, 10, &irq) < 0 || irq > UINT_MAX)
			continue;
		snprintf(p, sizeof(p), "%s/msi_irqs/%s", dev, *s);
		r = root_read(p, &mode);
		if (r < 0)
			return r;
		r = add_irq(v, n, (unsigned)irq, streq(strstrip(mode), "msix") ? IRQ_HOST_MSIX : IRQ_HOST_MSI);
		if (r < 0)
			return r;
	}
	return 0;
}

int irq_host_list(const struct pci_addr *addr, struct irq_host **ret, size_t *ret_n)
{
	char name[PCI_ADDR_STRLEN], dev[64], path[128];
	struct irq_host *v = NULL;
	size_t n = 0;
	uint64_t line = 0;
	int r;

	snprintf(dev, sizeof(dev), "/sys/bus/pci/devices/%s", pci_addr_format(addr, name));
	if (!root_exists(dev))
		return -ENODEV;
	r = list_msi(dev, &v, &n);
	if (r < 0)
		goto fail;
	/* With MSI on, the kernel reports the first MSI vector in `irq`; only an IRQ no MSI entry
	 * claims is the INTx line. 0 means the device has no interrupt pin routed. */
	snprintf(path, sizeof(path), "%s/irq", dev);
	if (n == 0 && root_read_u64(path, 10, &line) >= 0 && line > 0 && line <= UINT_MAX) {
		r = add_irq(&v, &n, (unsigned)line, IRQ_HOST_INTX);
		if (r < 0)
			goto fail;
	}
	if (n > 0) {
		qsort(v, n, sizeof(*v), cmp_host);
		r = read_proc_interrupts(v, n);
		if (r < 0 && r != -ENOENT)
			goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		char p[64];
		_cleanup_free_ char *eff = NULL;

		r = irq_affinity_get(v[i].irq, &v[i].affinity);
		if (r < 0 && r != -ENOENT && r != -EACCES)
			goto fail;
		snprintf(p, sizeof(p), "/proc/irq/%u/effective_affinity_list", v[i].irq);
		if (root_read(p, &eff) >= 0)
			v[i].effective = strdup(strstrip(eff));
	}
	*ret = v;
	*ret_n = n;
	return 0;
fail:
	irq_host_list_free(v, n);
	return r;
}
