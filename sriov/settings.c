/* settings.c: VF settings as users type them: names, MAC parsing, input validation, and what a
 * refused setting means, plus libnl's error codes turned into our -errno at the boundary. */
#include <netlink/errno.h>

#include "sriov.h"

static const struct {
	unsigned bit;
	const char *name;
} setting_names[] = {
	{ SRIOV_SET_MAC, "mac" },	  { SRIOV_SET_VLAN, "vlan" },	{ SRIOV_SET_SPOOFCHK, "spoofchk" },
	{ SRIOV_SET_TRUST, "trust" }, { SRIOV_SET_STATE, "state" }, { SRIOV_SET_RATE, "rate" },
};

const char *sriov_setting_name(unsigned bit)
{
	for (size_t i = 0; i < ARRAY_SIZE(setting_names); i++)
		if (setting_names[i].bit == bit)
			return setting_names[i].name;
	return "?";
}

static const char *const state_names[] = {
	[SRIOV_STATE_AUTO] = "auto",
	[SRIOV_STATE_ENABLE] = "enable",
	[SRIOV_STATE_DISABLE] = "disable",
};

const char *sriov_link_state_to_string(enum sriov_link_state s)
{
	return (unsigned)s < ARRAY_SIZE(state_names) ? state_names[s] : "unknown";
}

int sriov_link_state_from_string(const char *s)
{
	for (size_t i = 0; i < ARRAY_SIZE(state_names); i++)
		if (streq(s, state_names[i]))
			return (int)i;
	return -EINVAL;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int sriov_mac_parse(const char *s, uint8_t mac[6])
{
	uint8_t m[6];

	if (!s || strlen(s) != 17)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		int hi = hexval(s[3 * i]), lo = hexval(s[3 * i + 1]);
		if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':'))
			return -EINVAL;
		m[i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(mac, m, 6);
	return 0;
}

void sriov_mac_format(const uint8_t mac[6], char buf[18])
{
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}

int sriov_vf_settings_validate(const struct sriov_vf_settings *s, const char **what)
{
	static const uint8_t zero[6];

	if (s->mask & ~(unsigned)SRIOV_SET_ALL) {
		*what = "settings";
		return -EINVAL;
	}
	/* The I/G bit set means multicast (or broadcast): never a station address. */
	if ((s->mask & SRIOV_SET_MAC) && (memcmp(s->mac, zero, 6) == 0 || (s->mac[0] & 1))) {
		*what = "mac";
		return -EINVAL;
	}
	if ((s->mask & SRIOV_SET_VLAN) && (s->vlan > 4095 || s->qos > 7 || (s->qos && !s->vlan))) {
		*what = "vlan";
		return -EINVAL;
	}
	if ((s->mask & SRIOV_SET_STATE) && (unsigned)s->state > SRIOV_STATE_DISABLE) {
		*what = "state";
		return -EINVAL;
	}
	if ((s->mask & SRIOV_SET_RATE) && s->max_rate && s->min_rate > s->max_rate) {
		*what = "rate";
		return -EINVAL;
	}
	return 0;
}

int sriov_nl_errno(int nle)
{
	static const int map[] = {
		[NLE_SUCCESS] = 0,
		[NLE_FAILURE] = EIO,
		[NLE_INTR] = EINTR,
		[NLE_BAD_SOCK] = EBADF,
		[NLE_AGAIN] = EAGAIN,
		[NLE_NOMEM] = ENOMEM,
		[NLE_EXIST] = EEXIST,
		[NLE_INVAL] = EINVAL,
		[NLE_RANGE] = ERANGE,
		[NLE_MSGSIZE] = EMSGSIZE,
		[NLE_OPNOTSUPP] = EOPNOTSUPP,
		[NLE_AF_NOSUPPORT] = EAFNOSUPPORT,
		[NLE_OBJ_NOTFOUND] = ENOENT,
		[NLE_NOATTR] = ENODATA,
		[NLE_MISSING_ATTR] = EINVAL,
		[NLE_AF_MISMATCH] = EAFNOSUPPORT,
		[NLE_SEQ_MISMATCH] = EPROTO,
		[NLE_MSG_OVERFLOW] = EOVERFLOW,
		[NLE_MSG_TRUNC] = EMSGSIZE,
		[NLE_NOADDR] = EADDRNOTAVAIL,
		[NLE_SRCRT_NOSUPPORT] = EOPNOTSUPP,
		[NLE_MSG_TOOSHORT] = EBADMSG,
		[NLE_MSGTYPE_NOSUPPORT] = EOPNOTSUPP,
		[NLE_OBJ_MISMATCH] = EINVAL,
		[NLE_NOCACHE] = ENOENT,
		[NLE_BUSY] = EBUSY,
		[NLE_PROTO_MISMATCH] = EPROTONOSUPPORT,
		[NLE_NOACCESS] = EACCES,
		[NLE_PERM] = EPERM,
		[NLE_PKTLOC_FILE] = ENOENT,
		[NLE_PARSE_ERR] = EBADMSG,
		[NLE_NODEV] = ENODEV,
		[NLE_IMMUTABLE] = EPERM,
		[NLE_DUMP_INTR] = EINTR,
		[NLE_ATTRSIZE] = EBADMSG,
	};
	int n = nle < 0 ? -nle : nle;

	if (n == 0)
		return 0;
	if ((size_t)n >= ARRAY_SIZE(map) || !map[n])
		return -EIO;
	return -map[n];
}

const char *sriov_set_strerror(int err)
{
	switch (err < 0 ? -err : err) {
	case EOPNOTSUPP:
		return "the PF driver does not support this setting";
	case EINVAL:
		return "the PF driver rejected the value (out of range for this device, or not possible in its "
		       "current state)";
	case ERANGE:
		return "the value is out of the range the PF driver accepts";
	case EPERM:
	case EACCES:
		return "permission denied (changing VF settings needs CAP_NET_ADMIN: run as root)";
	case ENODEV:
	case ENOENT:
		return "the network interface or VF went away";
	case EBUSY:
	case EAGAIN:
		return "the PF driver is busy (try again)";
	case EIO:
		return "the kernel accepted the setting but reports a different value";
	default:
		return strerror(err < 0 ? -err : err);
	}
}
