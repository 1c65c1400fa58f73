/* model.c: raw sections -> typed objects. Drop-ins override the keys of the object they name, every
 * value is checked by type, then the objects are checked against each other (contradictions). */
#include <ctype.h>
#include <limits.h>
#include <net/if.h>

#include "internal.h"
#include "util/log.h"
#include "util/root.h"
#include "vm/vm.h"

enum key_type { T_ADDR, T_MATCH, T_DRIVER, T_BOOL, T_PF, T_UINT, T_MAC, T_ENUM, T_PATH, T_TEXT, T_SIZE, T_HUGE,
		T_NIC, T_ASSIGN, T_NAME };

struct key {
	const char *name;
	enum key_type type;
	bool repeatable;
	uint64_t max; /* T_UINT */
};

static const struct key device_keys[] = {
	{ .name = "Address", .type = T_ADDR }, { .name = "Match", .type = T_MATCH }, { .name = "Driver", .type = T_DRIVER }, { .name = "Group", .type = T_BOOL }, { .name = NULL },
};
static const struct key sriov_keys[] = {
	{ .name = "PhysicalFunction", .type = T_PF }, { .name = "VirtualFunctions", .type = T_UINT, .max = 65535 }, { .name = "DriversAutoprobe", .type = T_BOOL },
	{ .name = NULL },
};
static const struct key vf_keys[] = {
	{ .name = "PhysicalFunction", .type = T_PF }, { .name = "VirtualFunction", .type = T_UINT, .max = 65534 }, { .name = "MACAddress", .type = T_MAC },
	{ .name = "VLANId", .type = T_UINT, .max = 4095 }, { .name = "QualityOfService", .type = T_UINT, .max = 7 }, { .name = "VLANProtocol", .type = T_ENUM },
	{ .name = "MACSpoofCheck", .type = T_BOOL }, { .name = "Trust", .type = T_BOOL }, { .name = "LinkState", .type = T_ENUM },
	{ .name = "MinTxRate", .type = T_UINT, .max = UINT32_MAX }, { .name = "MaxTxRate", .type = T_UINT, .max = UINT32_MAX }, { .name = "Driver", .type = T_DRIVER },
	{ .name = NULL },
};
static const struct key vm_keys[] = {
	{ .name = "Name", .type = T_NAME }, { .name = "Kernel", .type = T_PATH }, { .name = "Initrd", .type = T_PATH }, { .name = "CommandLine", .type = T_TEXT }, { .name = "Memory", .type = T_SIZE },
	{ .name = "CPUs", .type = T_UINT, .max = 64 }, { .name = "HugePages", .type = T_HUGE }, { .name = "NIC", .type = T_NIC, .repeatable = true }, { .name = "Assign", .type = T_ASSIGN, .repeatable = true },
	{ .name = "Autostart", .type = T_BOOL }, { .name = NULL },
};
static const struct key *const kind_keys[] = { device_keys, sriov_keys, vf_keys, vm_keys };
static const char *const kind_sections[] = { "Device", "SR-IOV", "VirtualFunction", "VM" };
static const char *const kind_names[] = { "device", "sriov", "vf", "vm" };

const char *cfg_kind_section(enum cfg_kind k)
{
	return k < _CFG_KIND_MAX ? kind_sections[k] : "?";
}

const char *cfg_kind_name(enum cfg_kind k)
{
	return k < _CFG_KIND_MAX ? kind_names[k] : "?";
}

static const struct key *find_key(enum cfg_kind k, const char *name)
{
	for (const struct key *p = kind_keys[k]; p->name; p++)
		if (streq(p->name, name))
			return p;
	return NULL;
}

static void key_list(enum cfg_kind k, char *buf, size_t len)
{
	size_t used = 0;
	buf[0] = '\0';
	for (const struct key *p = kind_keys[k]; p->name && used < len; p++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s=", p == kind_keys[k] ? "" : ", ", p->name);
}

/* ---- value parsers ---- */

int cfg_parse_bool(const char *s, bool *ret)
{
	static const char *const yes[] = { "1", "yes", "y", "true", "t", "on" };
	static const char *const no[] = { "0", "no", "n", "false", "f", "off" };
	for (size_t i = 0; i < ARRAY_SIZE(yes); i++)
		if (strcasecmp(s, yes[i]) == 0)
			return *ret = true, 0;
	for (size_t i = 0; i < ARRAY_SIZE(no); i++)
		if (strcasecmp(s, no[i]) == 0)
			return *ret = false, 0;
	return -EINVAL;
}

static bool ifname_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n >= IFNAMSIZ || streq(s, ".") || streq(s, ".."))
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '/' || s[i] == ':' || isspace((unsigned char)s[i]) || !isprint((unsigned char)s[i]))
			return false;
	return true;
}

int cfg_parse_pf(const char *s, struct cfg_pf_ref *ret)
{
	struct cfg_pf_ref p = { 0 };
	char buf[PCI_ADDR_STRLEN];

	if (pci_addr_parse(s, &p.addr) >= 0) {
		p.is_addr = true;
		p.text = strdup(pci_addr_format(&p.addr, buf));
	} else if (ifname_ok(s)) {
		p.text = strdup(s);
	} else {
		return -EINVAL;
	}
	if (!p.text)
		return -ENOMEM;
	*ret = p;
	return 0;
}

void cfg_pf_ref_done(struct cfg_pf_ref *p)
{
	free(p->text);
	p->text = NULL;
}

int cfg_pf_resolve(const struct cfg_pf_ref *p, char addr[PCI_ADDR_STRLEN])
{
	_cleanup_free_ char *base = NULL;
	char path[PATH_MAX];
	struct pci_addr a;
	int r;

	if (p->is_addr) {
		pci_addr_format(&p->addr, addr);
		return 0;
	}
	/* /sys/class/net/NAME -> ../../devices/pci0000:00/.../0000:01:00.0/net/NAME: the device is the
	 * component before "net" (virtual interfaces have no PCI device there). */
	snprintf(path, sizeof(path), "/sys/class/net/%s", p->text);
	r = root_readlink(path, &base);
	if (r == -ENOENT)
		return -ENODEV;
	if (r < 0)
		return r;
	char *net = strstr(base, "/net/"), *slash;
	if (!net)
		return -ENODEV;
	*net = '\0';
	slash = strrchr(base, '/');
	if (pci_addr_parse(slash ? slash + 1 : base, &a) < 0)
		return -ENODEV; /* not a PCI network device */
	pci_addr_format(&a, addr);
	return 0;
}

static int parse_hex16(const char *s, size_t len, uint16_t *ret)
{
	char buf[8];
	uint64_t v;
	if (len == 0 || len > 4)
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (parse_u64(buf, 16, &v) < 0 || v > 0xffff)
		return -EINVAL;
	*ret = (uint16_t)v;
	return 0;
}

/* vendor:device[,subvendor:subdevice], hex. */
static int parse_match(const char *s, struct cfg_object *o)
{
	const char *c1 = strchr(s, ':'), *comma = strchr(s, ','), *c2;
	const char *end = comma ? comma : s + strlen(s);

	if (!c1 || c1 > end || parse_hex16(s, (size_t)(c1 - s), &o->dev.vendor) < 0 ||
	    parse_hex16(c1 + 1, (size_t)(end - c1 - 1), &o->dev.device) < 0)
		return -EINVAL;
	o->dev.has_match = true;
	if (!comma)
		return 0;
	c2 = strchr(comma + 1, ':');
	if (!c2 || parse_hex16(comma + 1, (size_t)(c2 - comma - 1), &o->dev.subsys_vendor) < 0 ||
	    parse_hex16(c2 + 1, strlen(c2 + 1), &o->dev.subsys_device) < 0)
		return -EINVAL;
	o->dev.has_subsys = true;
	return 0;
}

static bool driver_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '-' || s[i] == '_'))
			return false;
	return true;
}

static bool vm_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 32 || s[0] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '-' || s[i] == '_' || s[i] == '.'))
			return false;
	return true;
}

/* PF:INDEX (the PF an address or an interface name) or a PCI address. */
static int parse_assign(const char *s, struct cfg_assign *a)
{
	const char *colon = strrchr(s, ':');
	uint64_t idx;
	int r;

	if (pci_addr_parse(s, &a->addr) >= 0)
		return 0;
	if (!colon || parse_u64(colon + 1, 10, &idx) < 0 || idx > 65534)
		return -EINVAL;
	_cleanup_free_ char *pf = strndup(s, (size_t)(colon - s));
	if (!pf)
		return -ENOMEM;
	if ((r = cfg_parse_pf(pf, &a->pf)) < 0)
		return r;
	a->is_vf = true;
	a->vf = (unsigned)idx;
	return 0;
}

/* ---- merging raw sections into objects ---- */

struct proto {
	enum cfg_kind kind;
	char *identity; /* NULL until known */
	const char *file;
	unsigned line;
	size_t unit;
	size_t n;
	struct cfg_entry *e; /* borrowed from the raw sections */
};

static const struct cfg_entry *raw_get(const struct cfg_section *s, const char *key)
{
	const struct cfg_entry *found = NULL;
	for (size_t i = 0; i < s->n; i++)
		if (streq(s->e[i].key, key))
			found = &s->e[i];
	return found;
}

/* The identity of a section (what drop-ins and duplicates are matched on), or NULL when its keys do
 * not say (a drop-in may leave it out when its main file has one object of that kind). */
static char *identity(const struct cfg_section *s)
{
	const struct cfg_entry *a, *b;
	struct pci_addr addr;
	char buf[PCI_ADDR_STRLEN], *id = NULL;

	switch (s->kind) {
	case CFG_DEVICE:
		if ((a = raw_get(s, "Address")) && pci_addr_parse(a->value, &addr) >= 0)
			return asprintf(&id, "%s", pci_addr_format(&addr, buf)) < 0 ? NULL : id;
		if ((a = raw_get(s, "Match")))
			return asprintf(&id, "%s", a->value) < 0 ? NULL : id;
		return NULL;
	case CFG_SRIOV:
		if ((a = raw_get(s, "PhysicalFunction")) && pci_addr_parse(a->value, &addr) >= 0)
			return strdup(pci_addr_format(&addr, buf));
		return a ? strdup(a->value) : NULL;
	case CFG_VF:
		a = raw_get(s, "PhysicalFunction");
		b = raw_get(s, "VirtualFunction");
		if (!a || !b)
			return NULL;
		if (pci_addr_parse(a->value, &addr) >= 0)
			return asprintf(&id, "%s/%s", pci_addr_format(&addr, buf), b->value) < 0 ? NULL : id;
		return asprintf(&id, "%s/%s", a->value, b->value) < 0 ? NULL : id;
	case CFG_VM:
		return (a = raw_get(s, "Name")) ? strdup(a->value) : NULL;
	default:
		return NULL;
	}
}

static int proto_set(struct proto *p, const struct cfg_entry *e, const struct key *k)
{
	struct cfg_entry *v;
	if (!k->repeatable)
		for (size_t i = 0; i < p->n; i++)
			if (streq(p->e[i].key, e->key)) {
				/* A drop-in overrides; repeating the same value (the keys that name the object)
				 * keeps where it was first said. */
				if (!streq(p->e[i].value, e->value))
					p->e[i] = *e;
				return 0;
			}
	if (k->repeatable && !*e->value) {
		/* An empty repeatable key resets the list, as in systemd. */
		size_t w = 0;
		for (size_t i = 0; i < p->n; i++)
			if (!streq(p->e[i].key, e->key))
				p->e[w++] = p->e[i];
		p->n = w;
		return 0;
	}
	v = realloc(p->e, (p->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	p->e = v;
	v[p->n++] = *e;
	return 0;
}

/* Checks keys of one section (known, not given twice) and merges them into p. */
static int merge_section(struct proto *p, const struct cfg_section *s, struct cfg_errors *errs)
{
	char known[256];
	int r;

	for (size_t i = 0; i < s->n; i++) {
		const struct cfg_entry *e = &s->e[i];
		const struct key *k = find_key(s->kind, e->key);
		if (!k) {
			key_list(s->kind, known, sizeof(known));
			if ((r = cfg_error_add(errs, e->file, e->line, "unknown key %s= in [%s] (known: %s)", e->key,
					       cfg_kind_section(s->kind), known)) < 0)
				return r;
			continue;
		}
		if (!k->repeatable) {
			const struct cfg_entry *first = NULL;
			for (size_t j = 0; j < i && !first; j++)
				if (streq(s->e[j].key, e->key))
					first = &s->e[j];
			if (first) {
				if ((r = cfg_error_add(errs, e->file, e->line,
						       "%s= given twice in this [%s] section (first at line %u); "
						       "keep one",
						       e->key, cfg_kind_section(s->kind), first->line)) < 0)
					return r;
				continue;
			}
		}
		if ((r = proto_set(p, e, k)) < 0)
			return r;
	}
	return 0;
}

static int merge_all(const struct cfg_raw *raw, struct proto **ret, size_t *ret_n, struct cfg_errors *errs)
{
	struct proto *v = NULL;
	size_t n = 0;
	int r = 0;

	for (size_t i = 0; i < raw->n && r >= 0; i++) {
		const struct cfg_section *s = &raw->s[i];
		_cleanup_free_ char *id = identity(s);
		struct proto *target = NULL;

		if (s->dropin && !id) {
			/* No identity: the one object of this kind in the main file. */
			size_t count = 0;
			for (size_t k = 0; k < n; k++)
				if (v[k].kind == s->kind && v[k].unit == s->unit)
					count++, target = &v[k];
			if (count != 1) {
				r = cfg_error_add(errs, s->file, s->line,
						  "[%s] in a drop-in must name its object (%s) when the main file has %s",
						  cfg_kind_section(s->kind),
						  s->kind == CFG_DEVICE ? "Address= or Match=" :
						  s->kind == CFG_VF ? "PhysicalFunction= and VirtualFunction=" :
						  s->kind == CFG_VM ? "Name=" : "PhysicalFunction=",
						  count ? "several of that kind" : "none of that kind");
				continue;
			}
		} else if (id) {
			for (size_t k = 0; k < n && !target; k++)
				if (v[k].kind == s->kind && streq(v[k].identity, id))
					target = &v[k];
			if (target && !s->dropin) {
				r = cfg_error_add(errs, s->file, s->line, "[%s] %s is configured twice (first at %s:%u); "
					      "merge the sections, or change it with a drop-in (NAME.conf.d/*.conf)",
					      cfg_kind_section(s->kind), id, target->file, target->line);
				continue;
			}
		}
		if (!target) {
			struct proto *nv = realloc(v, (n + 1) * sizeof(*nv));
			if (!nv) {
				r = -ENOMEM;
				break;
			}
			v = nv;
			target = &v[n++];
			*target = (struct proto){ .kind = s->kind, .identity = TAKE_PTR(id), .file = s->file,
						  .line = s->line, .unit = s->unit };
		}
		r = merge_section(target, s, errs);
	}
	*ret = v;
	*ret_n = n;
	return r;
}

/* ---- typing ---- */

struct typer {
	struct cfg_object *o;
	struct cfg_errors *errs;
	int err;
};

static void bad(struct typer *t, const struct cfg_entry *e, const char *why)
{
	if (cfg_error_add(t->errs, e->file, e->line, "%s=%s: %s", e->key, e->value, why) < 0)
		t->err = -ENOMEM;
}

static void type_entry(struct typer *t, const struct cfg_entry *e)
{
	struct cfg_object *o = t->o;
	const struct key *k = find_key(o->kind, e->key);
	uint64_t u = 0;
	bool b = false;

	switch (k->type) {
	case T_ADDR:
		if (pci_addr_parse(e->value, &o->dev.addr) < 0)
			return bad(t, e, "not a PCI address (DDDD:BB:DD.F, e.g. 0000:03:00.0)");
		o->dev.has_addr = true;
		return;
	case T_MATCH:
		if (parse_match(e->value, o) < 0)
			return bad(t, e, "expected VENDOR:DEVICE[,SUBVENDOR:SUBDEVICE] in hex, e.g. 8086:10d3");
		return;
	case T_DRIVER: {
		char **dst = o->kind == CFG_DEVICE ? &o->dev.driver : &o->vf.driver;
		if (!driver_ok(e->value))
			return bad(t, e, "expected vfio-pci, host, or a kernel driver name");
		free(*dst);
		if (!(*dst = strdup(e->value)))
			t->err = -ENOMEM;
		return;
	}
	case T_BOOL:
		if (cfg_parse_bool(e->value, &b) < 0)
			return bad(t, e, "expected a boolean (yes/no, true/false, on/off, 1/0)");
		if (streq(e->key, "Group"))
			o->dev.group = b;
		else if (streq(e->key, "DriversAutoprobe"))
			o->sriov.autoprobe = b;
		else if (streq(e->key, "MACSpoofCheck"))
			o->vf.set.spoofchk = b, o->vf.set.mask |= SRIOV_SET_SPOOFCHK;
		else if (streq(e->key, "Trust"))
			o->vf.set.trust = b, o->vf.set.mask |= SRIOV_SET_TRUST;
		else if (streq(e->key, "Autostart"))
			o->vm.autostart = b;
		return;
	case T_PF: {
		struct cfg_pf_ref *p = o->kind == CFG_SRIOV ? &o->sriov.pf : &o->vf.pf;
		int r = cfg_parse_pf(e->value, p);
		if (r == -ENOMEM)
			t->err = r;
		else if (r < 0)
			bad(t, e, "expected the PF's PCI address (0000:01:00.0) or its network interface name");
		return;
	}
	case T_UINT:
		if (parse_u64(e->value, 10, &u) < 0 || u > k->max) {
			char why[64];
			snprintf(why, sizeof(why), "expected a whole number from %s to %llu",
				 streq(e->key, "CPUs") ? "1" : "0", (unsigned long long)k->max);
			return bad(t, e, why);
		}
		if (streq(e->key, "CPUs") && u == 0)
			return bad(t, e, "expected a whole number from 1 to 64");
		if (streq(e->key, "VirtualFunctions"))
			o->sriov.num_vfs = (int)u;
		else if (streq(e->key, "VirtualFunction"))
			o->vf.index = (unsigned)u;
		else if (streq(e->key, "VLANId"))
			o->vf.set.vlan = (uint16_t)u, o->vf.set.mask |= SRIOV_SET_VLAN;
		else if (streq(e->key, "QualityOfService"))
			o->vf.set.qos = (uint8_t)u, o->vf.set.mask |= SRIOV_SET_VLAN;
		else if (streq(e->key, "MinTxRate"))
			o->vf.set.min_rate = (uint32_t)u, o->vf.set.mask |= SRIOV_SET_RATE;
		else if (streq(e->key, "MaxTxRate"))
			o->vf.set.max_rate = (uint32_t)u, o->vf.set.mask |= SRIOV_SET_RATE;
		else if (streq(e->key, "CPUs"))
			o->vm.cpus = (unsigned)u;
		return;
	case T_MAC:
		if (sriov_mac_parse(e->value, o->vf.set.mac) < 0)
			return bad(t, e, "not a MAC address (six hex pairs, e.g. 02:00:00:00:00:01)");
		if ((o->vf.set.mac[0] & 1) || !memcmp(o->vf.set.mac, "\0\0\0\0\0\0", 6))
			return bad(t, e, "a VF needs a unicast, non-zero MAC address");
		o->vf.set.mask |= SRIOV_SET_MAC;
		return;
	case T_ENUM:
		if (streq(e->key, "VLANProtocol")) {
			if (strcasecmp(e->value, "802.1Q") == 0)
				return;
			if (strcasecmp(e->value, "802.1ad") == 0)
				return bad(t, e, "802.1ad (QinQ) VF VLANs are not supported by ptctl yet; use 802.1Q");
			return bad(t, e, "expected 802.1Q or 802.1ad");
		}
		/* LinkState=: systemd.network's auto or a boolean; enable/disable as ip link says. */
		if (streq(e->value, "auto"))
			o->vf.set.state = SRIOV_STATE_AUTO;
		else if (streq(e->value, "enable") || (cfg_parse_bool(e->value, &b) >= 0 && b))
			o->vf.set.state = SRIOV_STATE_ENABLE;
		else if (streq(e->value, "disable") || cfg_parse_bool(e->value, &b) >= 0)
			o->vf.set.state = SRIOV_STATE_DISABLE;
		else
			return bad(t, e, "expected auto, or a boolean (yes: always up, no: always down)");
		o->vf.set.mask |= SRIOV_SET_STATE;
		return;
	case T_PATH: {
		char **dst = streq(e->key, "Kernel") ? &o->vm.kernel : &o->vm.initrd;
		if (e->value[0] != '/')
			return bad(t, e, "expected an absolute path");
		free(*dst);
		if (!(*dst = strdup(e->value)))
			t->err = -ENOMEM;
		return;
	}
	case T_TEXT:
		free(o->vm.cmdline);
		if (!(o->vm.cmdline = strdup(e->value)))
			t->err = -ENOMEM;
		return;
	case T_SIZE:
		if (parse_size(e->value, &u) < 0 || u < (16ull << 20) || u % (2ull << 20))
			return bad(t, e, "expected a size of at least 16M in whole 2M units, e.g. 512M or 2G");
		o->vm.memory = u;
		return;
	case T_HUGE:
		if (strcasecmp(e->value, "2M") == 0)
			o->vm.hugepage_size = 2ull << 20;
		else if (strcasecmp(e->value, "1G") == 0)
			o->vm.hugepage_size = 1ull << 30;
		else if (cfg_parse_bool(e->value, &b) >= 0 && !b)
			o->vm.hugepage_size = 0;
		else
			return bad(t, e, "expected 2M, 1G or no");
		return;
	case T_NIC: {
		/* none, or the command line's --nic MODEL[,tap=NAME][,mac=MAC], checked by vm/'s own parser. */
		struct vm_nic_config nic;
		const char *why = NULL;
		_cleanup_free_ char *copy = strdup(e->value);
		if (!copy) {
			t->err = -ENOMEM;
			return;
		}
		if (!streq(e->value, "none") && vm_nic_parse(copy, &nic, &why) < 0)
			return bad(t, e, why ? why : "expected none or MODEL[,tap=NAME][,mac=MAC] (MODEL: e1000, virtio, vhost)");
		free(o->vm.nic);
		if (!(o->vm.nic = strdup(e->value)))
			t->err = -ENOMEM;
		return;
	}
	case T_ASSIGN: {
		struct cfg_assign a = { .file = e->file, .line = e->line }, *v;
		int r = parse_assign(e->value, &a);
		if (r == -ENOMEM) {
			t->err = r;
			return;
		}
		if (r < 0)
			return bad(t, e, "expected a PCI address (0000:01:10.0) or PF:VF-INDEX (enp1s0:2, 0000:01:00.0:2)");
		if (!(a.text = strdup(e->value)) || !(v = realloc(o->vm.assign, (o->vm.n_assign + 1) * sizeof(*v)))) {
			free(a.text);
			cfg_pf_ref_done(&a.pf);
			t->err = -ENOMEM;
			return;
		}
		o->vm.assign = v;
		v[o->vm.n_assign++] = a;
		return;
	}
	case T_NAME:
		if (!vm_name_ok(e->value))
			return bad(t, e, "a VM name is 1-32 of A-Z a-z 0-9 - _ . (not starting with . or -)");
		free(o->vm.name);
		if (!(o->vm.name = strdup(e->value)))
			t->err = -ENOMEM;
		return;
	}
}

static const struct cfg_entry *obj_get(const struct cfg_object *o, const char *key)
{
	for (size_t i = 0; i < o->n_entries; i++)
		if (streq(o->entries[i].key, key))
			return &o->entries[i];
	return NULL;
}

static int need(struct typer *t, const char *key)
{
	if (obj_get(t->o, key))
		return 1;
	if (cfg_error_add(t->errs, t->o->file, t->o->line, "[%s] needs %s=", cfg_kind_section(t->o->kind), key) < 0)
		t->err = -ENOMEM;
	return 0;
}

/* Checks within one object: required keys and keys that contradict each other. */
static void check_object(struct typer *t)
{
	struct cfg_object *o = t->o;
	const struct cfg_entry *e;

	switch (o->kind) {
	case CFG_DEVICE:
		if (obj_get(o, "Address") && (e = obj_get(o, "Match")))
			bad(t, e, "give Address= or Match=, not both");
		else if (!obj_get(o, "Address") && !obj_get(o, "Match") &&
			 cfg_error_add(t->errs, o->file, o->line, "[Device] needs Address= or Match=") < 0)
			t->err = -ENOMEM;
		need(t, "Driver");
		break;
	case CFG_SRIOV:
		need(t, "PhysicalFunction");
		if (!obj_get(o, "VirtualFunctions") && !obj_get(o, "DriversAutoprobe") &&
		    cfg_error_add(t->errs, o->file, o->line, "[SR-IOV] sets nothing: give VirtualFunctions= or "
							       "DriversAutoprobe=") < 0)
			t->err = -ENOMEM;
		break;
	case CFG_VF:
		need(t, "PhysicalFunction");
		need(t, "VirtualFunction");
		if ((e = obj_get(o, "QualityOfService")) && o->vf.set.qos && !o->vf.set.vlan)
			bad(t, e, "a priority needs a VLAN: set VLANId= (1-4095) too");
		if ((e = obj_get(o, "MinTxRate")) && obj_get(o, "MaxTxRate") && o->vf.set.max_rate &&
		    o->vf.set.min_rate > o->vf.set.max_rate)
			bad(t, e, "more than MaxTxRate= (the minimum cannot exceed the maximum)");
		if (o->vf.set.mask & SRIOV_SET_VLAN) {
			/* VLANId= alone sets QoS 0; QualityOfService= alone keeps VLAN 0 (checked above). */
		}
		break;
	case CFG_VM:
		need(t, "Name");
		need(t, "Kernel");
		if (o->vm.hugepage_size && o->vm.memory % o->vm.hugepage_size && (e = obj_get(o, "Memory")))
			bad(t, e, "not a multiple of the huge page size (HugePages=)");
		break;
	default:
		break;
	}
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct cfg_entry *)a)->key, ((const struct cfg_entry *)b)->key);
}

static int make_object(const struct proto *p, struct cfg_object *o, struct cfg_errors *errs)
{
	struct typer t = { .o = o, .errs = errs };

	*o = (struct cfg_object){ .kind = p->kind, .file = p->file, .line = p->line };
	if (o->kind == CFG_SRIOV)
		o->sriov.num_vfs = o->sriov.autoprobe = -1;
	if (o->kind == CFG_VM) {
		o->vm.memory = 512ull << 20;
		o->vm.cpus = 1;
	}
	o->entries = calloc(p->n ? p->n : 1, sizeof(*o->entries));
	if (!o->entries)
		return -ENOMEM;
	for (size_t i = 0; i < p->n; i++) {
		o->entries[i] = (struct cfg_entry){ .key = strdup(p->e[i].key), .value = strdup(p->e[i].value),
						    .file = p->e[i].file, .line = p->e[i].line };
		o->n_entries++;
		if (!o->entries[i].key || !o->entries[i].value)
			return -ENOMEM;
	}
	for (size_t i = 0; i < o->n_entries && t.err >= 0; i++)
		type_entry(&t, &o->entries[i]);
	/* Key order for show, stable so repeated Assign= keep theirs. */
	for (size_t i = 1; i < o->n_entries; i++)
		for (size_t k = i; k > 0 && cmp_entry(&o->entries[k - 1], &o->entries[k]) > 0; k--) {
			struct cfg_entry tmp = o->entries[k];
			o->entries[k] = o->entries[k - 1];
			o->entries[k - 1] = tmp;
		}
	if (t.err >= 0)
		check_object(&t);
	if (t.err >= 0) {
		const char *id = p->identity ? p->identity : "?";
		if (o->kind == CFG_VF && o->vf.pf.text)
			t.err = asprintf(&o->id, "vf %s/%u", o->vf.pf.text, o->vf.index) < 0 ? -ENOMEM : 0;
		else if (o->kind == CFG_SRIOV && o->sriov.pf.text)
			t.err = asprintf(&o->id, "sriov %s", o->sriov.pf.text) < 0 ? -ENOMEM : 0;
		else
			t.err = asprintf(&o->id, "%s %s", cfg_kind_name(o->kind), id) < 0 ? -ENOMEM : 0;
	}
	return t.err;
}

void cfg_object_done(struct cfg_object *o)
{
	for (size_t i = 0; i < o->n_entries; i++) {
		free(o->entries[i].key);
		free(o->entries[i].value);
	}
	free(o->entries);
	free(o->id);
	switch (o->kind) {
	case CFG_DEVICE:
		free(o->dev.driver);
		break;
	case CFG_SRIOV:
		cfg_pf_ref_done(&o->sriov.pf);
		break;
	case CFG_VF:
		cfg_pf_ref_done(&o->vf.pf);
		free(o->vf.driver);
		break;
	case CFG_VM:
		free(o->vm.name);
		free(o->vm.kernel);
		free(o->vm.initrd);
		free(o->vm.cmdline);
		free(o->vm.nic);
		for (size_t i = 0; i < o->vm.n_assign; i++) {
			free(o->vm.assign[i].text);
			cfg_pf_ref_done(&o->vm.assign[i].pf);
		}
		free(o->vm.assign);
		break;
	default:
		break;
	}
}

/* ---- checks across objects ---- */

static const struct cfg_object *find_sriov(const struct cfg *c, const struct cfg_pf_ref *pf)
{
	for (size_t i = 0; i < c->n_objects; i++)
		if (c->objects[i].kind == CFG_SRIOV && streq(c->objects[i].sriov.pf.text, pf->text))
			return &c->objects[i];
	return NULL;
}

/* The configured driver of what an Assign= names, with the object saying so, or NULL. */
static const char *assigned_driver(const struct cfg *c, const struct cfg_assign *a, const struct cfg_object **by)
{
	for (size_t i = 0; i < c->n_objects; i++) {
		const struct cfg_object *o = &c->objects[i];
		if (!a->is_vf && o->kind == CFG_DEVICE && o->dev.has_addr && !pci_addr_cmp(&o->dev.addr, &a->addr))
			return *by = o, o->dev.driver;
		if (a->is_vf && o->kind == CFG_VF && streq(o->vf.pf.text, a->pf.text) && o->vf.index == a->vf &&
		    o->vf.driver)
			return *by = o, o->vf.driver;
	}
	return NULL;
}

static int check_across(const struct cfg *c, struct cfg_errors *errs)
{
	int r = 0;

	for (size_t i = 0; i < c->n_objects && r >= 0; i++) {
		const struct cfg_object *o = &c->objects[i], *s, *by = NULL;
		const struct cfg_entry *e;

		if (o->kind == CFG_VF && (s = find_sriov(c, &o->vf.pf)) && s->sriov.num_vfs >= 0 &&
		    o->vf.index >= (unsigned)s->sriov.num_vfs && (e = obj_get(o, "VirtualFunction")))
			r = cfg_error_add(errs, e->file, e->line,
					  "VirtualFunction=%u: beyond VirtualFunctions=%d of %s (%s:%u); VF indexes "
					  "run from 0 to %d",
					  o->vf.index, s->sriov.num_vfs, s->sriov.pf.text, s->file, s->line,
					  s->sriov.num_vfs - 1);
		if (o->kind == CFG_VM && r >= 0) {
			for (size_t k = 0; k < c->n_objects && r >= 0; k++) {
				const struct cfg_object *q = &c->objects[k];
				if (k != i && q->kind == CFG_VM && streq(q->vm.name, o->vm.name) && k < i)
					r = cfg_error_add(errs, o->file, o->line, "VM %s is configured twice", o->vm.name);
			}
			for (size_t a = 0; a < o->vm.n_assign && r >= 0; a++) {
				const struct cfg_assign *x = &o->vm.assign[a];
				const char *drv = assigned_driver(c, x, &by);
				if (drv && !streq(drv, "vfio-pci"))
					r = cfg_error_add(errs, x->file, x->line,
							  "Assign=%s: %s gives it Driver=%s (%s:%u), but an assigned device "
							  "must be on vfio-pci",
							  x->text, by->id, drv, by->file, by->line);
				/* The same device in two VMs, or twice in one. */
				for (size_t k = 0; k <= i && r >= 0; k++) {
					const struct cfg_object *q = &c->objects[k];
					if (q->kind != CFG_VM)
						continue;
					for (size_t b = 0; b < q->vm.n_assign && r >= 0; b++) {
						const struct cfg_assign *y = &q->vm.assign[b];
						if ((k == i && b >= a) || x->is_vf != y->is_vf)
							continue;
						if (x->is_vf ? streq(x->pf.text, y->pf.text) && x->vf == y->vf
							     : !pci_addr_cmp(&x->addr, &y->addr))
							r = cfg_error_add(errs, x->file, x->line,
									  "Assign=%s: already assigned to VM %s "
									  "(%s:%u); a device goes to one VM",
									  x->text, q->vm.name, y->file, y->line);
					}
				}
			}
		}
	}
	return r;
}

static int cmp_kind(const void *a, const void *b)
{
	const struct cfg_object *x = a, *y = b;
	if (x->kind != y->kind)
		return (int)x->kind - (int)y->kind;
	return 0;
}

int cfg_build(struct cfg *c, struct cfg_raw *raw, struct cfg_errors *errs)
{
	struct proto *protos = NULL;
	size_t n = 0;
	int r = merge_all(raw, &protos, &n, errs);

	if (r >= 0 && n) {
		c->objects = calloc(n, sizeof(*c->objects));
		if (!c->objects)
			r = -ENOMEM;
	}
	for (size_t i = 0; i < n && r >= 0; i++) {
		r = make_object(&protos[i], &c->objects[i], errs);
		c->n_objects++;
	}
	for (size_t i = 0; i < n; i++) {
		free(protos[i].identity);
		free(protos[i].e);
	}
	free(protos);
	if (r >= 0) {
		/* Stable by kind: insertion order within a kind is file order. */
		for (size_t i = 1; i < c->n_objects; i++)
			for (size_t k = i; k > 0 && cmp_kind(&c->objects[k - 1], &c->objects[k]) > 0; k--) {
				struct cfg_object tmp = c->objects[k];
				c->objects[k] = c->objects[k - 1];
				c->objects[k - 1] = tmp;
			}
		r = check_across(c, errs);
	}
	return r;
}

void cfg_free(struct cfg *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_objects; i++)
		cfg_object_done(&c->objects[i]);
	free(c->objects);
	strv_free(c->files);
	free(c);
}

static size_t file_rank(const struct cfg *c, const char *file)
{
	for (size_t i = 0; i < c->n_files; i++)
		if (streq(c->files[i], file))
			return i;
	return 0; /* directory and file-level problems first */
}

/* In the order an administrator reads the files: by file (as applied), then by line. */
static void sort_errors(const struct cfg *c, struct cfg_errors *e)
{
	for (size_t i = 1; i < e->n; i++)
		for (size_t k = i; k > 0; k--) {
			struct cfg_error *a = &e->v[k - 1], *b = &e->v[k];
			size_t ra = file_rank(c, a->file), rb = file_rank(c, b->file);
			if (ra < rb || (ra == rb && a->line <= b->line))
				break;
			struct cfg_error tmp = *a;
			*a = *b;
			*b = tmp;
		}
}

int cfg_load(const char *const *dirs, struct cfg **ret, struct cfg_errors *errs)
{
	static const char *const std[] = { CFG_DIR_ETC, CFG_DIR_RUN, CFG_DIR_LIB, NULL };
	struct cfg *c = calloc(1, sizeof(*c));
	struct cfg_raw raw = { 0 };
	int r;

	if (!c)
		return -ENOMEM;
	*errs = (struct cfg_errors){ 0 };
	r = cfg_read_files(dirs ? dirs : std, !dirs, c, &raw, errs);
	if (r >= 0)
		r = cfg_build(c, &raw, errs);
	cfg_raw_clear(&raw);
	sort_errors(c, errs);
	if (r >= 0 && errs->n)
		r = -EINVAL;
	if (r < 0) {
		cfg_free(c);
		return r;
	}
	*ret = c;
	return 0;
}

const struct cfg_object *cfg_find_vm(const struct cfg *c, const char *name)
{
	for (size_t i = 0; i < c->n_objects; i++)
		if (c->objects[i].kind == CFG_VM && streq(c->objects[i].vm.name, name))
			return &c->objects[i];
	return NULL;
}
