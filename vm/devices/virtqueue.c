/* virtqueue.c: split virtqueues (virtio 1.x) over guest RAM: taking descriptor chains (direct and
 * indirect) from the avail ring, returning them through the used ring, and notification suppression. */
#include <errno.h>
#include <string.h>

#include "vm/devices/virtio.h"
#include "vm/internal.h"

#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY 1

/* Ring layout (2.7): desc[num] of 16 bytes; avail: flags, idx, ring[num], used_event; used: flags, idx,
 * ring[num] of {id, len}, avail_event. All little-endian, which x86 is natively. */
#define DESC_SIZE 16
#define AVAIL_SIZE(num) (4 + 2 * (uint64_t)(num) + 2)
#define USED_SIZE(num) (4 + 8 * (uint64_t)(num) + 2)

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

/* The guest writes the rings while we read them: every shared word is loaded once. */
static inline uint16_t load16(const uint8_t *p)
{
	return __atomic_load_n((const uint16_t *)p, __ATOMIC_RELAXED);
}

static inline void store16(uint8_t *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)p, v, __ATOMIC_RELAXED);
}

static void desc_read(const uint8_t *table, unsigned i, struct desc *d)
{
	uint8_t b[DESC_SIZE];

	memcpy(b, table + (size_t)i * DESC_SIZE, DESC_SIZE);
	d->addr = get_le64(b);
	d->len = get_le32(b + 8);
	d->flags = get_le16(b + 12);
	d->next = get_le16(b + 14);
}

int virtq_init(struct virtq *q, const struct virtq_mem *mem, uint16_t num, uint64_t desc, uint64_t avail,
	       uint64_t used, bool event_idx, bool indirect)
{
	uint8_t *d, *a, *u;

	if (num == 0 || num > VIRTQ_MAX_SIZE || (num & (num - 1)))
		return -EINVAL;
	if ((desc & 15) || (avail & 1) || (used & 3))
		return -EINVAL;
	d = mem->map(mem->opaque, desc, DESC_SIZE * (uint64_t)num);
	a = mem->map(mem->opaque, avail, AVAIL_SIZE(num));
	u = mem->map(mem->opaque, used, USED_SIZE(num));
	if (!d || !a || !u)
		return -EFAULT;
	*q = (struct virtq){
		.mem = mem,
		.num = num,
		.event_idx = event_idx,
		.indirect = indirect,
		.desc = d,
		.avail = a,
		.used = u,
		/* The driver starts both rings at index 0 (a reset zeroes them); we trust nothing else. */
		.last_avail = 0,
		.used_idx = 0,
	};
	return 0;
}

bool virtq_has_avail(struct virtq *q)
{
	if (!q->num || q->broken)
		return false;
	return load16(q->avail + 2) != q->last_avail;
}

/* Appends one buffer to the chain being built, checking it against RAM and the limits. */
static int chain_add(struct virtq *q, const struct desc *d, struct iovec *iov, unsigned max_iov,
		     struct virtq_chain *c, uint64_t *out, uint64_t *in)
{
	bool writable = d->flags & VIRTQ_DESC_F_WRITE;
	void *hva;

	if (!writable && c->nin)
		return -EINVAL; /* readable after writable (2.7.4.2) */
	if (d->len == 0)
		return 0;
	hva = q->mem->map(q->mem->opaque, d->addr, d->len);
	if (!hva)
		return -EFAULT;
	if (c->nout + c->nin >= max_iov)
		return -E2BIG;
	iov[c->nout + c->nin] = (struct iovec){ .iov_base = hva, .iov_len = d->len };
	if (writable) {
		c->nin++;
		*in += d->len;
	} else {
		c->nout++;
		*out += d->len;
	}
	if (*in > UINT32_MAX || *out > UINT32_MAX)
		return -E2BIG;
	return 0;
}

/* Walks an indirect table: its own descriptors, indices into it, no further indirection (2.7.5.3). */
static int chain_indirect(struct virtq *q, const struct desc *ind, struct iovec *iov, unsigned max_iov,
			  struct virtq_chain *c, uint64_t *out, uint64_t *in)
{
	unsigned n = ind->len / DESC_SIZE, i = 0, seen = 0;
	const uint8_t *table;
	struct desc d;
	int r;

	if (!q->indirect || (ind->flags & VIRTQ_DESC_F_NEXT))
		return -EINVAL;
	if (ind->len == 0 || ind->len % DESC_SIZE)
		return -EINVAL;
	if (n > VIRTQ_MAX_INDIRECT)
		return -E2BIG;
	table = q->mem->map(q->mem->opaque, ind->addr, ind->len);
	if (!table)
		return -EFAULT;
	for (;;) {
		if (++seen > n)
			return -ELOOP;
		desc_read(table, i, &d);
		if (d.flags & VIRTQ_DESC_F_INDIRECT)
			return -EINVAL;
		r = chain_add(q, &d, iov, max_iov, c, out, in);
		if (r < 0)
			return r;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		if (d.next >= n)
			return -ERANGE;
		i = d.next;
	}
}

static int chain_walk(struct virtq *q, uint16_t head, struct iovec *iov, unsigned max_iov, struct virtq_chain *c)
{
	uint64_t out = 0, in = 0;
	unsigned i = head, seen = 0;
	struct desc d;
	int r;

	*c = (struct virtq_chain){ .head = head };
	for (;;) {
		/* A chain can visit each descriptor once: more steps than the ring has means a loop. */
		if (++seen > q->num)
			return -ELOOP;
		desc_read(q->desc, i, &d);
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			/* The indirect table is the whole chain (2.7.5.3.1: no NEXT with INDIRECT). */
			if (seen != 1)
				return -EINVAL;
			r = chain_indirect(q, &d, iov, max_iov, c, &out, &in);
			if (r < 0)
				return r;
			break;
		}
		r = chain_add(q, &d, iov, max_iov, c, &out, &in);
		if (r < 0)
			return r;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			break;
		if (d.next >= q->num)
			return -ERANGE;
		i = d.next;
	}
	c->out_len = out;
	c->in_len = in;
	return 0;
}

int virtq_pop(struct virtq *q, struct iovec *iov, unsigned max_iov, struct virtq_chain *ret)
{
	uint16_t avail_idx, head;
	struct virtq_chain c;
	int r;

	if (!q->num || q->broken)
		return q->broken ? -EIO : 0;
	avail_idx = load16(q->avail + 2);
	if (avail_idx == q->last_avail)
		return 0;
	/* The driver cannot have more than num chains outstanding. */
	if ((uint16_t)(avail_idx - q->last_avail) > q->num) {
		r = -ERANGE;
		goto broken;
	}
	/* Read the ring entry and the descriptors only after seeing the index that published them. */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	head = load16(q->avail + 4 + 2 * (q->last_avail % q->num));
	if (head >= q->num) {
		r = -ERANGE;
		goto broken;
	}
	r = chain_walk(q, head, iov, max_iov, &c);
	if (r < 0)
		goto broken;
	q->last_avail++;
	*ret = c;
	return 1;
broken:
	q->broken = true;
	return r;
}

void virtq_unpop(struct virtq *q)
{
	q->last_avail--;
}

void virtq_push(struct virtq *q, uint16_t head, uint32_t len)
{
	uint8_t *e;

	if (!q->num || q->broken)
		return;
	e = q->used + 4 + 8 * (size_t)(q->used_idx % q->num);
	put_le32(e, head);
	put_le32(e + 4, len);
	q->used_idx++;
	/* The entry must be visible before the index that publishes it. */
	__atomic_store_n((uint16_t *)(q->used + 2), q->used_idx, __ATOMIC_RELEASE);
}

bool virtq_should_notify(struct virtq *q)
{
	uint16_t old = q->signalled_used, new = q->used_idx, event;
	bool valid = q->signalled_valid;

	if (!q->num)
		return false;
	/* Our used index store must be ordered before we read the driver's suppression state. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!q->event_idx)
		return !(load16(q->avail) & VIRTQ_AVAIL_F_NO_INTERRUPT);
	q->signalled_used = new;
	q->signalled_valid = true;
	if (!valid)
		return true;
	event = load16(q->avail + 4 + 2 * (size_t)q->num); /* used_event */
	/* Notify when used_event lies in (old, new]: the driver asked to hear of that entry. */
	return (uint16_t)(new - event - 1) < (uint16_t)(new - old);
}

void virtq_set_notification(struct virtq *q, bool enable)
{
	if (!q->num)
		return;
	if (q->event_idx) {
		/* avail_event: kick when the entry after the last one we took is published. */
		if (enable)
			store16(q->used + 4 + 8 * (size_t)q->num, q->last_avail);
	} else {
		store16(q->used, enable ? 0 : VIRTQ_USED_F_NO_NOTIFY);
	}
	/* The store must be visible before the caller re-reads avail->idx. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}
