/* fakenl.h: a model PF driver behind rtnetlink (VF MAC, VLAN/QoS, rate, spoofchk, trust, link state),
 * answering the requests sriov/ sends through its replaceable transport. Header-only: the sriov and cfg
 * tests include it. Refusals, ignored settings and igb's min-rate quirk can be switched on. */
#pragma once

#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>

#include "sriov/sriov.h"

#define IFINDEX 7
#define NVF 4

/* ---- a model PF driver behind rtnetlink ---- */

struct model_vf {
	uint8_t mac[6];
	uint32_t vlan, qos, min_rate, max_rate, link_state;
	int32_t spoofchk, trust; /* -1: the driver does not report it */
};

struct model {
	struct model_vf vf[NVF];
	unsigned unsupported;  /* SRIOV_SET_* bits answered with -EOPNOTSUPP */
	unsigned ignored;      /* accepted but not applied (a buggy driver) */
	bool min_rate_einval;  /* igb: a minimum rate is -EINVAL */
	const char *ext_ack;   /* text for refusals */
	unsigned sets, gets;   /* requests seen */
	unsigned attrs_per_set_max;
	char order[128];       /* the settings in the order they arrived */
};

static void note(struct model *m, const char *what)
{
	size_t len = strlen(m->order);
	snprintf(m->order + len, sizeof(m->order) - len, "%s ", what);
}

static int model_set_attr(struct model *m, struct nlattr *a, char *emsg, size_t elen)
{
	unsigned bit;
	uint32_t vf;
	void *d = nla_data(a);

	switch (nla_type(a)) {
	case IFLA_VF_MAC: bit = SRIOV_SET_MAC; vf = ((struct ifla_vf_mac *)d)->vf; break;
	case IFLA_VF_VLAN: bit = SRIOV_SET_VLAN; vf = ((struct ifla_vf_vlan *)d)->vf; break;
	case IFLA_VF_RATE: bit = SRIOV_SET_RATE; vf = ((struct ifla_vf_rate *)d)->vf; break;
	case IFLA_VF_SPOOFCHK: bit = SRIOV_SET_SPOOFCHK; vf = ((struct ifla_vf_spoofchk *)d)->vf; break;
	case IFLA_VF_TRUST: bit = SRIOV_SET_TRUST; vf = ((struct ifla_vf_trust *)d)->vf; break;
	case IFLA_VF_LINK_STATE: bit = SRIOV_SET_STATE; vf = ((struct ifla_vf_link_state *)d)->vf; break;
	default: return -EINVAL; /* anything else is a bug in what we send */
	}
	note(m, sriov_setting_name(bit));
	if (vf >= NVF)
		return -EINVAL;
	if (m->unsupported & bit) {
		if (m->ext_ack)
			snprintf(emsg, elen, "%s", m->ext_ack);
		return -EOPNOTSUPP;
	}
	if (m->ignored & bit)
		return 0;
	struct model_vf *v = &m->vf[vf];
	switch (bit) {
	case SRIOV_SET_MAC: memcpy(v->mac, ((struct ifla_vf_mac *)d)->mac, 6); break;
	case SRIOV_SET_VLAN:
		v->vlan = ((struct ifla_vf_vlan *)d)->vlan;
		v->qos = ((struct ifla_vf_vlan *)d)->qos;
		break;
	case SRIOV_SET_RATE:
		if (m->min_rate_einval && ((struct ifla_vf_rate *)d)->min_tx_rate)
			return -EINVAL;
		v->min_rate = ((struct ifla_vf_rate *)d)->min_tx_rate;
		v->max_rate = ((struct ifla_vf_rate *)d)->max_tx_rate;
		break;
	case SRIOV_SET_SPOOFCHK: v->spoofchk = ((struct ifla_vf_spoofchk *)d)->setting != 0; break;
	case SRIOV_SET_TRUST: v->trust = ((struct ifla_vf_trust *)d)->setting != 0; break;
	case SRIOV_SET_STATE: v->link_state = ((struct ifla_vf_link_state *)d)->link_state; break;
	}
	return 0;
}

static int model_setlink(struct model *m, struct nlmsghdr *h, char *emsg, size_t elen)
{
	struct nlattr *tb[IFLA_MAX + 1], *info, *a;
	struct ifinfomsg *ifi = nlmsg_data(h);
	int rem, rem2, r;
	unsigned n = 0;

	m->sets++;
	if (ifi->ifi_index != IFINDEX)
		return -ENODEV;
	if (nlmsg_parse(h, sizeof(*ifi), tb, IFLA_MAX, NULL) < 0 || !tb[IFLA_VFINFO_LIST])
		return -EINVAL;
	nla_for_each_nested(info, tb[IFLA_VFINFO_LIST], rem) {
		if (nla_type(info) != IFLA_VF_INFO)
			return -EINVAL;
		nla_for_each_nested(a, info, rem2) {
			n++;
			r = model_set_attr(m, a, emsg, elen);
			if (r < 0)
				return r; /* like the kernel: the first refusal ends the request */
		}
	}
	if (n > m->attrs_per_set_max)
		m->attrs_per_set_max = n;
	return 0;
}

/* A RTM_NEWLINK shaped as the kernel's rtnl_fill_vfinfo shapes it. */
static struct nl_msg *model_newlink(struct model *m)
{
	struct nl_msg *msg = nlmsg_alloc_simple(RTM_NEWLINK, 0);
	struct ifinfomsg ifi = { .ifi_index = IFINDEX };
	struct nlattr *list;

	nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO);
	nla_put_string(msg, IFLA_IFNAME, "eth0");
	nla_put_u32(msg, IFLA_NUM_VF, NVF);
	list = nla_nest_start(msg, IFLA_VFINFO_LIST);
	for (uint32_t i = 0; i < NVF; i++) {
		struct model_vf *v = &m->vf[i];
		struct nlattr *info = nla_nest_start(msg, IFLA_VF_INFO), *vl;
		struct ifla_vf_mac mac = { .vf = i };
		struct ifla_vf_vlan vlan = { .vf = i, .vlan = v->vlan, .qos = v->qos };
		struct ifla_vf_vlan_info vinfo = { .vf = i, .vlan = v->vlan, .qos = v->qos, .vlan_proto = htons(0x8100) };
		struct ifla_vf_tx_rate txr = { .vf = i, .rate = v->max_rate };
		struct ifla_vf_rate rate = { .vf = i, .min_tx_rate = v->min_rate, .max_tx_rate = v->max_rate };
		struct ifla_vf_spoofchk sc = { .vf = i, .setting = (uint32_t)v->spoofchk };
		struct ifla_vf_link_state ls = { .vf = i, .link_state = v->link_state };
		struct ifla_vf_trust tr = { .vf = i, .setting = (uint32_t)v->trust };

		memcpy(mac.mac, v->mac, 6);
		nla_put(msg, IFLA_VF_MAC, sizeof(mac), &mac);
		nla_put(msg, IFLA_VF_VLAN, sizeof(vlan), &vlan);
		vl = nla_nest_start(msg, IFLA_VF_VLAN_LIST);
		nla_put(msg, IFLA_VF_VLAN_INFO, sizeof(vinfo), &vinfo);
		nla_nest_end(msg, vl);
		nla_put(msg, IFLA_VF_TX_RATE, sizeof(txr), &txr);
		nla_put(msg, IFLA_VF_RATE, sizeof(rate), &rate);
		nla_put(msg, IFLA_VF_SPOOFCHK, sizeof(sc), &sc);
		nla_put(msg, IFLA_VF_LINK_STATE, sizeof(ls), &ls);
		nla_put(msg, IFLA_VF_TRUST, sizeof(tr), &tr);
		nla_nest_end(msg, info);
	}
	nla_nest_end(msg, list);
	return msg;
}

static int model_transact(void *userdata, struct nl_msg *req, struct nl_msg **reply, char *emsg, size_t elen)
{
	struct model *m = userdata;
	struct nlmsghdr *h = nlmsg_hdr(req);

	*reply = NULL;
	if (h->nlmsg_type == RTM_GETLINK) {
		struct nlattr *tb[IFLA_MAX + 1];
		m->gets++;
		/* without the VF filter bit the kernel leaves the VF list out */
		if (nlmsg_parse(h, sizeof(struct ifinfomsg), tb, IFLA_MAX, NULL) < 0 || !tb[IFLA_EXT_MASK] ||
		    !(nla_get_u32(tb[IFLA_EXT_MASK]) & RTEXT_FILTER_VF))
			return -EINVAL;
		*reply = model_newlink(m);
		return 0;
	}
	if (h->nlmsg_type == RTM_NEWLINK || h->nlmsg_type == RTM_SETLINK)
		return model_setlink(m, h, emsg, elen);
	return -EOPNOTSUPP;
}

static struct model model;
static const struct sriov_nl_ops model_ops = { .transact = model_transact, .userdata = &model };
