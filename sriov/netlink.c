/* netlink.c: VF settings over rtnetlink with libnl-route-3: building one-setting requests, reading a
 * VF back from RTM_GETLINK, verifying and rolling back, and the real kernel transport. */
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/link/sriov.h>
#include <sys/socket.h>

#include "sriov.h"
#include "util/log.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

static void link_putp(struct rtnl_link **l)
{
	if (*l)
		rtnl_link_put(*l);
}
static void vf_putp(struct rtnl_link_vf **v)
{
	if (*v)
		rtnl_link_vf_put(*v);
}
static void msg_freep(struct nl_msg **m)
{
	if (*m)
		nlmsg_free(*m);
}
#define _cleanup_link_ _cleanup_(link_putp)
#define _cleanup_vf_ _cleanup_(vf_putp)
#define _cleanup_msg_ _cleanup_(msg_freep)

/* libnl mirrors the kernel's enum values; a mismatch would silently send the wrong state. */
_Static_assert((int)SRIOV_STATE_AUTO == (int)IFLA_VF_LINK_STATE_AUTO &&
		       (int)SRIOV_STATE_ENABLE == (int)IFLA_VF_LINK_STATE_ENABLE &&
		       (int)SRIOV_STATE_DISABLE == (int)IFLA_VF_LINK_STATE_DISABLE,
	       "link state values");

static int fill_vf(struct rtnl_link_vf *v, const struct sriov_vf_settings *s)
{
	if (s->mask & SRIOV_SET_MAC) {
		struct nl_addr *a = nl_addr_build(AF_LLC, s->mac, 6);
		if (!a)
			return -ENOMEM;
		rtnl_link_vf_set_addr(v, a); /* takes its own reference */
		nl_addr_put(a);
	}
	if (s->mask & SRIOV_SET_VLAN) {
		nl_vf_vlans_t *vl;
		int r = rtnl_link_vf_vlan_alloc(&vl, 1);
		if (r < 0)
			return sriov_nl_errno(r);
		vl->vlans[0] = (nl_vf_vlan_info_t){ .vf_vlan = s->vlan, .vf_vlan_qos = s->qos,
						    .vf_vlan_proto = ETH_P_8021Q };
		rtnl_link_vf_set_vlans(v, vl);
		rtnl_link_vf_vlan_put(vl);
	}
	if (s->mask & SRIOV_SET_RATE) {
		struct nl_vf_rate rate = { .api = RTNL_LINK_VF_RATE_API_NEW,
					   .min_tx_rate = s->min_rate,
					   .max_tx_rate = s->max_rate };
		rtnl_link_vf_set_rate(v, &rate);
	}
	if (s->mask & SRIOV_SET_SPOOFCHK)
		rtnl_link_vf_set_spoofchk(v, s->spoofchk);
	if (s->mask & SRIOV_SET_TRUST)
		rtnl_link_vf_set_trust(v, s->trust);
	if (s->mask & SRIOV_SET_STATE)
		rtnl_link_vf_set_linkstate(v, (uint32_t)s->state);
	return 0;
}

int sriov_nl_build_set(int ifindex, unsigned vf, const struct sriov_vf_settings *s, struct nl_msg **ret)
{
	_cleanup_link_ struct rtnl_link *orig = rtnl_link_alloc(), *changes = rtnl_link_alloc();
	_cleanup_vf_ struct rtnl_link_vf *v = rtnl_link_vf_alloc();
	struct nl_msg *msg = NULL;
	int r;

	if (ifindex <= 0 || !s->mask)
		return -EINVAL;
	if (!orig || !changes || !v)
		return -ENOMEM;
	rtnl_link_set_ifindex(orig, ifindex);
	rtnl_link_vf_set_index(v, vf);
	r = fill_vf(v, s);
	if (r < 0)
		return r;
	r = rtnl_link_vf_add(changes, v);
	if (r < 0)
		return sriov_nl_errno(r);
	r = rtnl_link_build_change_request(orig, changes, 0, &msg);
	if (r < 0)
		return sriov_nl_errno(r);
	*ret = msg;
	return 0;
}

/* Built here rather than with rtnl_link_build_get_request() to leave out the per-VF statistics: with
 * dozens of VFs the answer is large enough as it is. Kernels that predate a filter bit ignore it. */
int sriov_nl_build_get(int ifindex, struct nl_msg **ret)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex };
	struct nl_msg *msg;

	if (ifindex <= 0)
		return -EINVAL;
	msg = nlmsg_alloc_simple(RTM_GETLINK, 0);
	if (!msg)
		return -ENOMEM;
	if (nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0 ||
	    nla_put_u32(msg, IFLA_EXT_MASK, RTEXT_FILTER_VF | RTEXT_FILTER_SKIP_STATS) < 0) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	*ret = msg;
	return 0;
}

static void take_link(struct nl_object *obj, void *arg)
{
	struct rtnl_link **l = arg;
	if (!*l) {
		nl_object_get(obj);
		*l = (struct rtnl_link *)obj;
	}
}

int sriov_nl_parse_vf(struct nl_msg *reply, unsigned vf, struct sriov_vf_settings *ret, unsigned *num_vfs)
{
	_cleanup_link_ struct rtnl_link *link = NULL;
	_cleanup_vf_ struct rtnl_link_vf *v = NULL;
	struct sriov_vf_settings s = { .mask = SRIOV_SET_MAC | SRIOV_SET_VLAN | SRIOV_SET_RATE };
	struct nl_addr *addr;
	nl_vf_vlans_t *vl;
	struct nl_vf_rate rate;
	uint32_t n = 0, u;
	int r;

	nlmsg_set_proto(reply, NETLINK_ROUTE);
	r = nl_msg_parse(reply, take_link, &link);
	if (r < 0)
		return sriov_nl_errno(r);
	if (!link)
		return -EBADMSG;
	(void)rtnl_link_get_num_vf(link, &n);
	if (num_vfs)
		*num_vfs = n;
	/* libnl only builds the list when the kernel sent IFLA_NUM_VF and IFLA_VFINFO_LIST. */
	if (!rtnl_link_has_vf_list(link) || !(v = rtnl_link_vf_get(link, vf)))
		return -ENOENT;

	if (rtnl_link_vf_get_addr(v, &addr) < 0 || nl_addr_get_len(addr) < 6)
		s.mask &= ~(unsigned)SRIOV_SET_MAC; /* the kernel always sends one; be safe */
	else
		memcpy(s.mac, nl_addr_get_binary_addr(addr), 6);
	/* libnl leaves VLAN 0 and rate 0 out of its object: absent means untagged / no limit. */
	if (rtnl_link_vf_get_vlans(v, &vl) >= 0) {
		if (vl->size > 0) {
			s.vlan = (uint16_t)vl->vlans[0].vf_vlan;
			s.qos = (uint8_t)vl->vlans[0].vf_vlan_qos;
		}
		rtnl_link_vf_vlan_put(vl);
	}
	if (rtnl_link_vf_get_rate(v, &rate) >= 0) {
		if (rate.api == RTNL_LINK_VF_RATE_API_OLD) {
			s.max_rate = rate.rate;
		} else {
			s.min_rate = rate.min_tx_rate;
			s.max_rate = rate.max_tx_rate;
		}
	}
	/* The kernel reports -1 (left out by libnl) when the driver does not say. */
	if (rtnl_link_vf_get_spoofchk(v, &u) >= 0) {
		s.spoofchk = u != 0;
		s.mask |= SRIOV_SET_SPOOFCHK;
	}
	if (rtnl_link_vf_get_trust(v, &u) >= 0) {
		s.trust = u != 0;
		s.mask |= SRIOV_SET_TRUST;
	}
	if (rtnl_link_vf_get_linkstate(v, &u) >= 0 && u <= SRIOV_STATE_DISABLE) {
		s.state = (enum sriov_link_state)u;
		s.mask |= SRIOV_SET_STATE;
	}
	*ret = s;
	return 0;
}

int sriov_vf_get(const struct sriov_nl_ops *ops, int ifindex, unsigned vf, struct sriov_vf_settings *ret)
{
	_cleanup_msg_ struct nl_msg *req = NULL, *reply = NULL;
	char emsg[128];
	int r = sriov_nl_build_get(ifindex, &req);

	if (r < 0)
		return r;
	r = ops->transact(ops->userdata, req, &reply, emsg, sizeof(emsg));
	if (r < 0)
		return r;
	if (!reply)
		return -EBADMSG;
	return sriov_nl_parse_vf(reply, vf, ret, NULL);
}

static int send_one(const struct sriov_nl_ops *ops, int ifindex, unsigned vf, const struct sriov_vf_settings *s,
		    unsigned bit, char *emsg, size_t elen)
{
	_cleanup_msg_ struct nl_msg *req = NULL, *reply = NULL;
	struct sriov_vf_settings one = *s;
	int r;

	one.mask = bit;
	r = sriov_nl_build_set(ifindex, vf, &one, &req);
	if (r < 0)
		return r;
	emsg[0] = '\0';
	r = ops->transact(ops->userdata, req, &reply, emsg, elen);
	log_debug("ifindex %d vf %u: set %s: %d%s%s", ifindex, vf, sriov_setting_name(bit), r, *emsg ? ": " : "",
		  emsg);
	return r;
}

static bool same(unsigned bit, const struct sriov_vf_settings *want, const struct sriov_vf_settings *got)
{
	if (!(got->mask & bit))
		return false;
	switch (bit) {
	case SRIOV_SET_MAC:
		return memcmp(want->mac, got->mac, 6) == 0;
	case SRIOV_SET_VLAN:
		return want->vlan == got->vlan && want->qos == got->qos;
	case SRIOV_SET_SPOOFCHK:
		return want->spoofchk == got->spoofchk;
	case SRIOV_SET_TRUST:
		return want->trust == got->trust;
	case SRIOV_SET_STATE:
		return want->state == got->state;
	case SRIOV_SET_RATE:
		return want->min_rate == got->min_rate && want->max_rate == got->max_rate;
	}
	return false;
}

/* The kernel applies the attributes of one IFLA_VF_INFO in this order and stops at the first refusal;
 * sending them one by one in the same order keeps the effect identical and the blame exact. */
static const unsigned order[] = { SRIOV_SET_MAC,      SRIOV_SET_VLAN,  SRIOV_SET_RATE,
				  SRIOV_SET_SPOOFCHK, SRIOV_SET_STATE, SRIOV_SET_TRUST };

int sriov_vf_set(const struct sriov_nl_ops *ops, int ifindex, unsigned vf, const struct sriov_vf_settings *s,
		 struct sriov_set_error *err)
{
	struct sriov_vf_settings old, now;
	unsigned applied = 0;
	int r;

	*err = (struct sriov_set_error){ 0 };
	r = sriov_vf_get(ops, ifindex, vf, &old);
	if (r < 0)
		return r;
	for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
		if (!(s->mask & order[i]))
			continue;
		r = send_one(ops, ifindex, vf, s, order[i], err->kernel_msg, sizeof(err->kernel_msg));
		if (r < 0) {
			err->setting = order[i];
			goto rollback;
		}
		applied |= order[i];
	}
	r = sriov_vf_get(ops, ifindex, vf, &now);
	if (r < 0)
		goto rollback;
	for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
		if ((s->mask & order[i]) && !same(order[i], s, &now)) {
			err->setting = order[i];
			err->got = now;
			r = -EIO;
			goto rollback;
		}
	}
	return 0;

rollback:
	for (size_t i = ARRAY_SIZE(order); i-- > 0;) {
		char ignored[128];
		int k;
		/* Only what was applied and what the driver told us the old value of can be put back. */
		if (!(applied & order[i]))
			continue;
		if (!(old.mask & order[i])) {
			err->rollback = -ENODATA;
			continue;
		}
		k = send_one(ops, ifindex, vf, &old, order[i], ignored, sizeof(ignored));
		if (k < 0 && !err->rollback)
			err->rollback = k;
	}
	return r;
}

/* ---- the real kernel ---- */

struct tx {
	struct nl_msg *reply;
	int error;
	bool done;
	char *emsg;
	size_t elen;
};

static int on_valid(struct nl_msg *msg, void *arg)
{
	struct tx *t = arg;
	struct nlmsghdr *h = nlmsg_hdr(msg);

	if (h->nlmsg_type == RTM_NEWLINK && !t->reply)
		t->reply = nlmsg_convert(h);
	return NL_OK;
}

static int on_ack(struct nl_msg *msg, void *arg)
{
	struct tx *t = arg;
	(void)msg;
	t->done = true;
	return NL_STOP;
}

/* The extended ack's text follows the error header and (unless capped) the echoed request. */
static void copy_ext_ack(const struct nlmsgerr *e, char *buf, size_t len)
{
	const struct nlmsghdr *h = (const struct nlmsghdr *)((const char *)e - NLMSG_HDRLEN);
	size_t off = NLMSG_HDRLEN + sizeof(*e);
	struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];

	if (!(h->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	if (!(h->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len > NLMSG_HDRLEN ? NLMSG_ALIGN(e->msg.nlmsg_len - NLMSG_HDRLEN) : 0;
	if (off >= h->nlmsg_len)
		return;
	if (nla_parse(tb, NLMSGERR_ATTR_MAX, (struct nlattr *)((char *)h + off), (int)(h->nlmsg_len - off), NULL) < 0)
		return;
	if (tb[NLMSGERR_ATTR_MSG])
		nla_strlcpy(buf, tb[NLMSGERR_ATTR_MSG], len);
}

static int on_error(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	struct tx *t = arg;
	(void)nla;
	t->error = e->error;
	t->done = true;
	copy_ext_ack(e, t->emsg, t->elen);
	return NL_STOP;
}

static int kernel_transact(void *userdata, struct nl_msg *req, struct nl_msg **reply, char *emsg, size_t elen)
{
	struct nl_sock *sk = nl_socket_alloc();
	struct nl_cb *cb = nl_cb_alloc(NL_CB_DEFAULT);
	struct tx t = { .emsg = emsg, .elen = elen };
	int one = 1, r;

	(void)userdata;
	if (elen)
		emsg[0] = '\0';
	if (!sk || !cb) {
		r = -ENOMEM;
		goto out;
	}
	r = nl_connect(sk, NETLINK_ROUTE);
	if (r < 0) {
		r = sriov_nl_errno(r);
		goto out;
	}
	/* The answer for a PF with many VFs outgrows libnl's default receive buffer: size it first. */
	nl_socket_enable_msg_peek(sk);
	/* Older kernels lack extended acks; the errno alone still says enough. */
	(void)setsockopt(nl_socket_get_fd(sk), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, on_valid, &t);
	nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, on_ack, &t);
	nl_cb_err(cb, NL_CB_CUSTOM, on_error, &t);
	r = nl_send_auto(sk, req);
	if (r < 0) {
		r = sriov_nl_errno(r);
		goto out;
	}
	while (!t.done) {
		r = nl_recvmsgs(sk, cb);
		if (r < 0 && !t.done) {
			r = sriov_nl_errno(r);
			goto out;
		}
	}
	/* The kernel's own errno, which libnl would have folded into a coarser -NLE_* code. */
	r = t.error;
	if (r >= 0) {
		*reply = TAKE_PTR(t.reply);
		r = 0;
	}
out:
	if (t.reply)
		nlmsg_free(t.reply);
	nl_cb_put(cb);
	nl_socket_free(sk);
	return r;
}

const struct sriov_nl_ops sriov_nl_kernel = { .transact = kernel_transact };
