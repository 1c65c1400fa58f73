/* test-sriov-netlink.c: VF settings without a kernel: the requests libnl builds (decoded here
 * independently), a model PF driver answering them, error mapping, verification and rollback;
 * plus one real RTM_GETLINK/SETLINK round trip on loopback through the kernel transport. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/errno.h>

#include "sriov/fakenl.h"
#include "sriov/sriov.h"

static int reset(void **state)
{
	(void)state;
	memset(&model, 0, sizeof(model));
	for (int i = 0; i < NVF; i++) {
		model.vf[i].spoofchk = 1;
		model.vf[i].trust = 0;
	}
	return 0;
}

/* ---- message building, decoded independently ---- */

static struct nlattr *only_vf_attr(struct nl_msg *msg, int *count)
{
	struct nlmsghdr *h = nlmsg_hdr(msg);
	struct nlattr *tb[IFLA_MAX + 1], *info, *a, *found = NULL;
	int rem, rem2, infos = 0;

	assert_true(h->nlmsg_type == RTM_NEWLINK || h->nlmsg_type == RTM_SETLINK);
	assert_int_equal(((struct ifinfomsg *)nlmsg_data(h))->ifi_index, IFINDEX);
	assert_int_equal(nlmsg_parse(h, sizeof(struct ifinfomsg), tb, IFLA_MAX, NULL), 0);
	assert_non_null(tb[IFLA_VFINFO_LIST]);
	*count = 0;
	nla_for_each_nested(info, tb[IFLA_VFINFO_LIST], rem) {
		assert_int_equal(nla_type(info), IFLA_VF_INFO);
		infos++;
		nla_for_each_nested(a, info, rem2) {
			(*count)++;
			found = a;
		}
	}
	assert_int_equal(infos, 1);
	return found;
}

static void test_build_set(void **state)
{
	struct sriov_vf_settings s = { .mac = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 }, .vlan = 100, .qos = 3, .spoofchk = false,
				       .trust = true, .state = SRIOV_STATE_DISABLE, .min_rate = 10, .max_rate = 500 };
	static const struct { unsigned bit; int type; } cases[] = {
		{ SRIOV_SET_MAC, IFLA_VF_MAC },	      { SRIOV_SET_VLAN, IFLA_VF_VLAN },
		{ SRIOV_SET_SPOOFCHK, IFLA_VF_SPOOFCHK }, { SRIOV_SET_TRUST, IFLA_VF_TRUST },
		{ SRIOV_SET_STATE, IFLA_VF_LINK_STATE }, { SRIOV_SET_RATE, IFLA_VF_RATE },
	};
	(void)state;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct nl_msg *msg = NULL;
		struct nlattr *a;
		int n;

		s.mask = cases[i].bit;
		assert_int_equal(sriov_nl_build_set(IFINDEX, 2, &s, &msg), 0);
		a = only_vf_attr(msg, &n);
		assert_int_equal(n, 1);
		assert_int_equal(nla_type(a), cases[i].type);
		switch (cases[i].type) {
		case IFLA_VF_MAC: {
			struct ifla_vf_mac *m = nla_data(a);
			assert_int_equal(m->vf, 2);
			assert_memory_equal(m->mac, s.mac, 6);
			break;
		}
		case IFLA_VF_VLAN: {
			struct ifla_vf_vlan *v = nla_data(a);
			assert_int_equal(v->vf, 2);
			assert_int_equal(v->vlan, 100);
			assert_int_equal(v->qos, 3);
			break;
		}
		case IFLA_VF_SPOOFCHK:
			assert_int_equal(((struct ifla_vf_spoofchk *)nla_data(a))->setting, 0);
			break;
		case IFLA_VF_TRUST:
			assert_int_equal(((struct ifla_vf_trust *)nla_data(a))->setting, 1);
			break;
		case IFLA_VF_LINK_STATE:
			assert_int_equal(((struct ifla_vf_link_state *)nla_data(a))->link_state, IFLA_VF_LINK_STATE_DISABLE);
			break;
		case IFLA_VF_RATE: {
			struct ifla_vf_rate *r = nla_data(a);
			assert_int_equal(r->vf, 2);
			assert_int_equal(r->min_tx_rate, 10);
			assert_int_equal(r->max_tx_rate, 500);
			break;
		}
		}
		nlmsg_free(msg);
	}
	/* everything at once still goes into one IFLA_VF_INFO (not how sriov_vf_set sends, but valid) */
	{
		struct nl_msg *msg = NULL;
		int n;
		s.mask = SRIOV_SET_ALL;
		assert_int_equal(sriov_nl_build_set(IFINDEX, 0, &s, &msg), 0);
		only_vf_attr(msg, &n);
		assert_int_equal(n, 6);
		nlmsg_free(msg);
	}
	s.mask = 0;
	struct nl_msg *msg = NULL;
	assert_int_equal(sriov_nl_build_set(IFINDEX, 0, &s, &msg), -EINVAL);
	s.mask = SRIOV_SET_MAC;
	assert_int_equal(sriov_nl_build_set(0, 0, &s, &msg), -EINVAL);
}

static void test_build_get(void **state)
{
	struct nl_msg *msg = NULL;
	struct nlattr *tb[IFLA_MAX + 1];
	(void)state;

	assert_int_equal(sriov_nl_build_get(IFINDEX, &msg), 0);
	assert_int_equal(nlmsg_hdr(msg)->nlmsg_type, RTM_GETLINK);
	assert_int_equal(((struct ifinfomsg *)nlmsg_data(nlmsg_hdr(msg)))->ifi_index, IFINDEX);
	assert_int_equal(nlmsg_parse(nlmsg_hdr(msg), sizeof(struct ifinfomsg), tb, IFLA_MAX, NULL), 0);
	assert_non_null(tb[IFLA_EXT_MASK]);
	assert_true(nla_get_u32(tb[IFLA_EXT_MASK]) & RTEXT_FILTER_VF);
	assert_true(nla_get_u32(tb[IFLA_EXT_MASK]) & RTEXT_FILTER_SKIP_STATS);
	nlmsg_free(msg);
}

static void test_parse_reply(void **state)
{
	struct sriov_vf_settings s;
	struct nl_msg *reply;
	unsigned n = 0;
	(void)state;

	model.vf[1] = (struct model_vf){ .mac = { 2, 0, 0, 0, 0, 1 }, .vlan = 7, .qos = 2, .min_rate = 0, .max_rate = 300,
					 .link_state = 2, .spoofchk = -1, .trust = 1 };
	reply = model_newlink(&model);
	assert_int_equal(sriov_nl_parse_vf(reply, 1, &s, &n), 0);
	assert_int_equal(n, NVF);
	assert_memory_equal(s.mac, ((uint8_t[]){ 2, 0, 0, 0, 0, 1 }), 6);
	assert_int_equal(s.vlan, 7);
	assert_int_equal(s.qos, 2);
	assert_int_equal(s.max_rate, 300);
	assert_int_equal(s.state, SRIOV_STATE_DISABLE);
	assert_true(s.trust);
	/* -1 from the kernel: the driver does not report spoofchk */
	assert_false(s.mask & SRIOV_SET_SPOOFCHK);
	assert_true(s.mask & SRIOV_SET_TRUST);
	/* VLAN 0 and rate 0 (libnl leaves them out) read as untagged and unlimited */
	assert_int_equal(sriov_nl_parse_vf(reply, 0, &s, NULL), 0);
	assert_int_equal(s.vlan, 0);
	assert_int_equal(s.max_rate, 0);
	assert_true(s.spoofchk);
	assert_int_equal(s.state, SRIOV_STATE_AUTO);
	assert_int_equal(sriov_nl_parse_vf(reply, NVF, &s, NULL), -ENOENT);
	nlmsg_free(reply);

	/* a link without VFs (no IFLA_NUM_VF / IFLA_VFINFO_LIST) */
	reply = nlmsg_alloc_simple(RTM_NEWLINK, 0);
	struct ifinfomsg ifi = { .ifi_index = 1 };
	nlmsg_append(reply, &ifi, sizeof(ifi), NLMSG_ALIGNTO);
	nla_put_string(reply, IFLA_IFNAME, "lo");
	assert_int_equal(sriov_nl_parse_vf(reply, 0, &s, &n), -ENOENT);
	assert_int_equal(n, 0);
	nlmsg_free(reply);
}

/* ---- set: one request per setting, verification, rollback ---- */

static const struct sriov_vf_settings all = {
	.mask = SRIOV_SET_ALL, .mac = { 0x52, 0x54, 0, 0, 0, 0x10 }, .vlan = 100, .qos = 3, .spoofchk = false,
	.trust = true, .state = SRIOV_STATE_ENABLE, .min_rate = 0, .max_rate = 500,
};

static void test_set_all(void **state)
{
	struct sriov_set_error e;
	struct sriov_vf_settings got;
	(void)state;

	assert_int_equal(sriov_vf_set(&model_ops, IFINDEX, 2, &all, &e), 0);
	assert_int_equal(model.sets, 6);
	assert_int_equal(model.attrs_per_set_max, 1);
	assert_int_equal(model.gets, 2); /* the old values, then the verification */
	assert_string_equal(model.order, "mac vlan rate spoofchk state trust ");
	assert_memory_equal(model.vf[2].mac, all.mac, 6);
	assert_int_equal(model.vf[2].vlan, 100);
	assert_int_equal(model.vf[2].qos, 3);
	assert_int_equal(model.vf[2].spoofchk, 0);
	assert_int_equal(model.vf[2].trust, 1);
	assert_int_equal(model.vf[2].link_state, IFLA_VF_LINK_STATE_ENABLE);
	assert_int_equal(model.vf[2].max_rate, 500);
	/* other VFs untouched */
	assert_int_equal(model.vf[1].vlan, 0);
	assert_int_equal(sriov_vf_get(&model_ops, IFINDEX, 2, &got), 0);
	assert_int_equal(got.vlan, 100);
}

static void test_unsupported_setting_rolls_back(void **state)
{
	struct sriov_set_error e;
	(void)state;

	model.vf[2].vlan = 5;
	model.unsupported = SRIOV_SET_STATE; /* igb has no ndo_set_vf_link_state */
	model.ext_ack = "link state not supported";
	assert_int_equal(sriov_vf_set(&model_ops, IFINDEX, 2, &all, &e), -EOPNOTSUPP);
	assert_int_equal(e.setting, SRIOV_SET_STATE);
	assert_string_equal(e.kernel_msg, "link state not supported");
	assert_int_equal(e.rollback, 0);
	/* mac, vlan, rate, spoofchk were applied and then put back, in reverse; trust never sent */
	assert_string_equal(model.order, "mac vlan rate spoofchk state spoofchk rate vlan mac ");
	assert_int_equal(model.vf[2].vlan, 5);
	assert_int_equal(model.vf[2].spoofchk, 1);
	assert_int_equal(model.vf[2].max_rate, 0);
	assert_memory_equal(model.vf[2].mac, ((uint8_t[6]){ 0 }), 6);
	assert_string_equal(sriov_setting_name(e.setting), "state");
	assert_non_null(strstr(sriov_set_strerror(-EOPNOTSUPP), "does not support"));
}

static void test_einval_names_the_setting(void **state)
{
	struct sriov_set_error e;
	struct sriov_vf_settings s = { .mask = SRIOV_SET_RATE | SRIOV_SET_TRUST, .min_rate = 10, .max_rate = 100, .trust = true };
	(void)state;

	model.min_rate_einval = true;
	assert_int_equal(sriov_vf_set(&model_ops, IFINDEX, 0, &s, &e), -EINVAL);
	assert_int_equal(e.setting, SRIOV_SET_RATE);
	assert_string_equal(e.kernel_msg, "");
	assert_int_equal(model.vf[0].trust, 0);
}

static void test_ignored_setting_fails_verification(void **state)
{
	struct sriov_set_error e;
	struct sriov_vf_settings s = { .mask = SRIOV_SET_MAC | SRIOV_SET_TRUST, .mac = { 0x52, 0x54, 0, 0, 0, 0x22 },
				       .trust = true };
	(void)state;

	model.ignored = SRIOV_SET_TRUST;
	assert_int_equal(sriov_vf_set(&model_ops, IFINDEX, 3, &s, &e), -EIO);
	assert_int_equal(e.setting, SRIOV_SET_TRUST);
	assert_false(e.got.trust);
	/* the MAC that did take is put back */
	assert_memory_equal(model.vf[3].mac, ((uint8_t[6]){ 0 }), 6);
}

static void test_vf_absent_from_readback(void **state)
{
	struct sriov_set_error e;
	struct sriov_vf_settings s = { .mask = SRIOV_SET_TRUST, .trust = true };
	(void)state;

	assert_int_equal(sriov_vf_set(&model_ops, IFINDEX, NVF, &s, &e), -ENOENT);
	assert_int_equal(e.setting, 0);
	assert_int_equal(model.sets, 0);
}

/* ---- validation, parsing, error mapping ---- */

static void test_validate(void **state)
{
	struct sriov_vf_settings s = { 0 };
	const char *what = NULL;
	(void)state;

	s.mask = SRIOV_SET_MAC;
	assert_int_equal(sriov_vf_settings_validate(&s, &what), -EINVAL); /* all zero */
	assert_string_equal(what, "mac");
	assert_int_equal(sriov_mac_parse("01:00:5e:00:00:01", s.mac), 0);
	assert_int_equal(sriov_vf_settings_validate(&s, &what), -EINVAL); /* multicast */
	assert_int_equal(sriov_mac_parse("ff:ff:ff:ff:ff:ff", s.mac), 0);
	assert_int_equal(sriov_vf_settings_validate(&s, &what), -EINVAL); /* broadcast */
	assert_int_equal(sriov_mac_parse("52:54:00:AB:cd:01", s.mac), 0);
	assert_int_equal(sriov_vf_settings_validate(&s, &what), 0);
	s = (struct sriov_vf_settings){ .mask = SRIOV_SET_VLAN, .vlan = 4096 };
	assert_int_equal(sriov_vf_settings_validate(&s, &what), -EINVAL);
	s.vlan = 4095;
	s.qos = 8;
	assert_int_equal(sriov_vf_settings_validate(&s, &what), -EINVAL);
	s.qos = 7;
	assert_int_equal(sriov_vf_settings_validate(&s, &what), 0);
	s.vlan = 0;
	assert_int_equal(sriov_vf_settings_validate(&s, &what), -EINVAL); /* qos without a VLAN */
	s = (struct sriov_vf_settings){ .mask = SRIOV_SET_RATE, .min_rate = 200, .max_rate = 100 };
	assert_int_equal(sriov_vf_settings_validate(&s, &what), -EINVAL);
	assert_string_equal(what, "rate");
	s.max_rate = 0; /* no maximum: any minimum */
	assert_int_equal(sriov_vf_settings_validate(&s, &what), 0);
	s = (struct sriov_vf_settings){ .mask = SRIOV_SET_STATE, .state = 3 };
	assert_int_equal(sriov_vf_settings_validate(&s, &what), -EINVAL);
}

static void test_mac_and_names(void **state)
{
	uint8_t mac[6];
	char buf[18];
	(void)state;

	const char *bad[] = { "", "52:54:00:12:34", "52:54:00:12:34:5", "52:54:00:12:34:567", "52-54-00-12-34-56",
			      "g2:54:00:12:34:56", "52:54:00:12:34:56:" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(sriov_mac_parse(bad[i], mac), -EINVAL);
	assert_int_equal(sriov_mac_parse("52:54:00:AB:cd:EF", mac), 0);
	sriov_mac_format(mac, buf);
	assert_string_equal(buf, "52:54:00:ab:cd:ef");
	assert_int_equal(sriov_link_state_from_string("enable"), SRIOV_STATE_ENABLE);
	assert_int_equal(sriov_link_state_from_string("up"), -EINVAL);
	assert_string_equal(sriov_link_state_to_string(SRIOV_STATE_AUTO), "auto");
}

static void test_nl_errno(void **state)
{
	(void)state;
	assert_int_equal(sriov_nl_errno(0), 0);
	assert_int_equal(sriov_nl_errno(-NLE_OPNOTSUPP), -EOPNOTSUPP);
	assert_int_equal(sriov_nl_errno(-NLE_INVAL), -EINVAL);
	assert_int_equal(sriov_nl_errno(-NLE_RANGE), -ERANGE);
	assert_int_equal(sriov_nl_errno(-NLE_PERM), -EPERM);
	assert_int_equal(sriov_nl_errno(-NLE_NODEV), -ENODEV);
	assert_int_equal(sriov_nl_errno(-NLE_NOMEM), -ENOMEM);
	assert_int_equal(sriov_nl_errno(-NLE_BUSY), -EBUSY);
	assert_int_equal(sriov_nl_errno(-NLE_OBJ_NOTFOUND), -ENOENT);
	assert_int_equal(sriov_nl_errno(NLE_AGAIN), -EAGAIN); /* either sign */
	assert_int_equal(sriov_nl_errno(-999), -EIO);
	/* every libnl code maps to some errno, never to success */
	for (int i = 1; i <= NLE_MAX; i++)
		assert_true(sriov_nl_errno(-i) < 0);
}

/* ---- the real kernel transport, on loopback (no VFs, nothing to change) ---- */

static void test_kernel_transport(void **state)
{
	struct sriov_vf_settings s = { .mask = SRIOV_SET_TRUST, .trust = true }, got;
	struct nl_msg *req = NULL, *reply = NULL;
	char emsg[128];
	unsigned n = 99;
	int r;
	(void)state;

	/* RTM_GETLINK with the VF filter: an answer, and "no such VF" for lo */
	assert_int_equal(sriov_nl_build_get(1, &req), 0);
	assert_int_equal(sriov_nl_kernel.transact(NULL, req, &reply, emsg, sizeof(emsg)), 0);
	assert_non_null(reply);
	assert_int_equal(sriov_nl_parse_vf(reply, 0, &got, &n), -ENOENT);
	assert_int_equal(n, 0);
	nlmsg_free(req);
	nlmsg_free(reply);
	reply = NULL;
	/* a missing interface: the kernel's ENODEV, not libnl's coarser code */
	assert_int_equal(sriov_vf_get(&sriov_nl_kernel, 0x7ffffff0, 0, &got), -ENODEV);
	/* a VF setting on lo: refused by the kernel (no VF support, or no permission) */
	assert_int_equal(sriov_nl_build_set(1, 0, &s, &req), 0);
	r = sriov_nl_kernel.transact(NULL, req, &reply, emsg, sizeof(emsg));
	assert_true(r == -EOPNOTSUPP || r == -EPERM || r == -EINVAL);
	assert_null(reply);
	nlmsg_free(req);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_build_set, reset),
		cmocka_unit_test_setup(test_build_get, reset),
		cmocka_unit_test_setup(test_parse_reply, reset),
		cmocka_unit_test_setup(test_set_all, reset),
		cmocka_unit_test_setup(test_unsupported_setting_rolls_back, reset),
		cmocka_unit_test_setup(test_einval_names_the_setting, reset),
		cmocka_unit_test_setup(test_ignored_setting_fails_verification, reset),
		cmocka_unit_test_setup(test_vf_absent_from_readback, reset),
		cmocka_unit_test(test_validate),
		cmocka_unit_test(test_mac_and_names),
		cmocka_unit_test(test_nl_errno),
		cmocka_unit_test(test_kernel_transport),
	};
	return cmocka_run_group_tests_name("sriov-netlink", tests, NULL, NULL);
}
