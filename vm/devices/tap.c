/* tap.c: the host end of a guest NIC: a tap interface opened or created by name (or with a generated
 * name), optionally with the virtio-net header in front of every frame and the offloads it allows. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/log.h"
#include "util/root.h"
#include "vm/devices/devices.h"

/* A valid interface name: 1..IFNAMSIZ-1 bytes, no '/', no whitespace, not "." or "..", and no '%'
 * (the kernel would treat it as a template and pick a name we did not ask for). */
bool vm_tap_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n >= IFNAMSIZ || streq(name, ".") || streq(name, ".."))
		return false;
	for (const char *p = name; *p; p++)
		if (*p == '/' || *p == '%' || *p == ':' || (unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
			return false;
	return true;
}

static int tap_set_up(const char *name)
{
	_cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = {};

	if (s < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return -errno;
	if (ifr.ifr_flags & IFF_UP)
		return 0;
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		return -errno;
	return 0;
}

/* TUNSETIFF on a fresh /dev/net/tun fd; returns the fd or -errno, the kernel's name in ifr. */
static int tap_attach(const char *name, short flags, struct ifreq *ifr)
{
	_cleanup_close_ int fd = root_open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK, 0);

	if (fd < 0)
		return fd;
	*ifr = (struct ifreq){ .ifr_flags = flags };
	snprintf(ifr->ifr_name, sizeof(ifr->ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, ifr) < 0)
		return -errno;
	return TAKE_FD(fd);
}

int vm_tap_open(const char *name, bool vnet_hdr, struct vm_tap **ret, const char **why)
{
	_cleanup_(vm_tap_freep) struct vm_tap *t = NULL;
	short flags = IFF_TAP | IFF_NO_PI | (vnet_hdr ? IFF_VNET_HDR : 0);
	struct ifreq ifr;
	int fd, r;

	if (name && !vm_tap_name_valid(name)) {
		*why = "not a valid interface name (1-15 characters, no '/', '%', ':' or spaces)";
		return -EINVAL;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->fd = -1;

	if (name) {
		/* IFF_TUN_EXCL fails with EBUSY when the name exists: that tells "ours" from "the user's"
		 * without a window in which someone else could create it. */
		fd = tap_attach(name, flags | IFF_TUN_EXCL, &ifr);
		if (fd == -EBUSY)
			fd = tap_attach(name, flags, &ifr);
		else if (fd >= 0)
			t->created = true;
	} else {
		fd = tap_attach("ptctl%d", flags, &ifr);
		if (fd >= 0)
			t->created = true;
	}
	if (fd < 0) {
		*why = fd == -ENOENT   ? "/dev/net/tun does not exist (load the tun module)"
		       : fd == -EPERM  ? "no permission to create or attach a tap (run as root, or own the tap)"
		       : fd == -EBUSY  ? "the tap is in use by another process"
		       : fd == -EINVAL ? "the interface exists and is not a tap (or its flags differ)"
				       : "cannot open the tap";
		return fd;
	}
	t->fd = fd;
	snprintf(t->name, sizeof(t->name), "%s", ifr.ifr_name);
	t->vnet_hdr = vnet_hdr;

	if (vnet_hdr) {
		/* virtio 1.x always has num_buffers: the 12-byte struct virtio_net_hdr_mrg_rxbuf. */
		int sz = VM_TAP_VNET_HDR_LEN;

		if (ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0) {
			*why = "the tap does not take a 12-byte virtio-net header (TUNSETVNETHDRSZ)";
			return -errno;
		}
		/* No offload until the guest accepts one: the tap hands us only whole, checksummed frames. */
		r = vm_tap_set_offload(t, 0);
		if (r < 0) {
			*why = "the tap refuses TUNSETOFFLOAD";
			return r;
		}
	}
	r = tap_set_up(t->name);
	if (r < 0) {
		*why = "cannot bring the tap up";
		return r;
	}
	log_debug("tap %s: %s, vnet header %s", t->name, t->created ? "created" : "attached",
		  vnet_hdr ? "on" : "off");
	*ret = TAKE_PTR(t);
	return 0;
}

int vm_tap_set_offload(struct vm_tap *t, unsigned tun_flags)
{
	if (ioctl(t->fd, TUNSETOFFLOAD, tun_flags) < 0)
		return -errno;
	t->offload = tun_flags;
	return 0;
}

int vm_tap_probe_offload(struct vm_tap *t, unsigned tun_flags, unsigned *ret)
{
	unsigned ok = 0, old = t->offload;
	int r;

	/* The kernel rejects a set with a flag it does not know (and TSO without CSUM): try the whole set,
	 * then CSUM alone, then CSUM with each TSO flag. */
	if (vm_tap_set_offload(t, tun_flags) == 0)
		ok = tun_flags;
	else if ((tun_flags & TUN_F_CSUM) && vm_tap_set_offload(t, TUN_F_CSUM) == 0) {
		ok = TUN_F_CSUM;
		for (unsigned bit = TUN_F_TSO4; bit <= TUN_F_UFO; bit <<= 1)
			if ((tun_flags & bit) && vm_tap_set_offload(t, ok | bit) == 0)
				ok |= bit;
	}
	r = vm_tap_set_offload(t, old);
	if (r < 0)
		return r;
	*ret = ok;
	return 0;
}

struct vm_tap *vm_tap_free(struct vm_tap *t)
{
	if (!t)
		return NULL;
	/* A tap we created is not persistent: it goes with its last fd (ours, and vhost's reference). */
	if (t->fd >= 0)
		close(t->fd);
	free(t);
	return NULL;
}
