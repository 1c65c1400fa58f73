/* nic.c: what every NIC model shares that is not the tap: the command line's NIC form and the default MAC. */
#include <errno.h>
#include <string.h>

#include "vm/devices/devices.h"

void vm_nic_default_mac(const char *vm_name, unsigned index, uint8_t mac[6])
{
	uint32_t h = 2166136261u; /* FNV-1a over the name: spreads similar names apart */

	for (const char *p = vm_name ? vm_name : ""; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	mac[0] = 0x02; /* locally administered, unicast */
	mac[1] = (uint8_t)(h >> 24);
	mac[2] = (uint8_t)(h >> 16);
	mac[3] = (uint8_t)(h >> 8);
	mac[4] = (uint8_t)h;
	mac[5] = (uint8_t)index;
}

const char *vm_nic_model_to_string(enum vm_nic_model m)
{
	switch (m) {
	case VM_NIC_E1000: return "e1000";
	case VM_NIC_VIRTIO: return "virtio";
	case VM_NIC_VHOST: return "vhost";
	}
	return "?";
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Exactly six colon-separated pairs of hex digits. */
static bool parse_mac(const char *s, uint8_t mac[6])
{
	for (unsigned i = 0; i < 6; i++) {
		int hi = hexval(s[0]), lo = hi < 0 ? -1 : hexval(s[1]);
		if (lo < 0 || s[2] != (i < 5 ? ':' : '\0'))
			return false;
		mac[i] = (uint8_t)(hi << 4 | lo);
		s += 3;
	}
	return true;
}

int vm_nic_parse(char *spec, struct vm_nic_config *ret, const char **why)
{
	struct vm_nic_config n = {};
	char *rest = spec, *model = strsep(&rest, ","), *kv;
	static const uint8_t zero[6];

	if (!model || !*model) {
		*why = "no NIC model (give e1000, virtio or vhost)";
		return -EINVAL;
	}
	if (streq(model, "e1000"))
		n.model = VM_NIC_E1000;
	else if (streq(model, "virtio"))
		n.model = VM_NIC_VIRTIO;
	else if (streq(model, "vhost"))
		n.model = VM_NIC_VHOST;
	else {
		*why = "unknown NIC model (give e1000, virtio or vhost)";
		return -EINVAL;
	}
	while ((kv = strsep(&rest, ","))) {
		if (!strncmp(kv, "tap=", 4)) {
			if (n.tap || !vm_tap_name_valid(kv + 4)) {
				*why = n.tap ? "tap= given twice"
					     : "tap= is not an interface name (1-15 characters, no '/', '%', ':' or spaces)";
				return -EINVAL;
			}
			n.tap = kv + 4;
		} else if (!strncmp(kv, "mac=", 4)) {
			if (n.has_mac || !parse_mac(kv + 4, n.mac)) {
				*why = n.has_mac ? "mac= given twice" : "mac= is not a MAC address (six hex pairs: 02:00:00:00:00:01)";
				return -EINVAL;
			}
			if (n.mac[0] & 1 || !memcmp(n.mac, zero, 6)) {
				*why = "mac= must be a unicast address (first byte even, not all zeros)";
				return -EINVAL;
			}
			n.has_mac = true;
		} else {
			*why = "unknown NIC option (give tap=NAME or mac=MAC)";
			return -EINVAL;
		}
	}
	*ret = n;
	return 0;
}
