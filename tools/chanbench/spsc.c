/* SPDX-License-Identifier: MIT */
/*
 * The reference transport: a minimal lock-free single-producer
 * single-consumer ring in its own shared-memory segment, whose ends spin
 * instead of sleeping.  It copies each message in and out, as chan does,
 * so it shows the cost of the copies and the cache-line transfers alone.
 *
 * head (next index to read) is written only by the consumer and tail (next
 * index to write) only by the producer.  Each lives on its own pair of
 * cache lines, so that the adjacent-line prefetcher does not make them
 * share.  The producer publishes a slot with a release store of tail after
 * writing it, and the consumer frees it with a release store of head after
 * reading it.  Each side caches the other's index and reloads it only when
 * the ring looks full or empty.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench.h"

#define SPSC_LINE 128

struct spsc {
	alignas(SPSC_LINE) _Atomic uint64_t head;
	alignas(SPSC_LINE) _Atomic uint64_t tail;
	alignas(SPSC_LINE) uint64_t capacity;
	uint64_t slot_size;
	uint64_t map_size;
	alignas(SPSC_LINE) uint8_t slots[];
};

static uint64_t slot_size_for(size_t msg_size)
{
	return (sizeof(uint64_t) + msg_size + 63) & ~(uint64_t)63;
}

static uint64_t map_size_for(const struct link *link)
{
	return sizeof(struct spsc) +
	       link->capacity * slot_size_for(link->msg_size);
}

int spsc_create(struct link *link)
{
	uint64_t size = map_size_for(link);
	struct spsc *ring;
	int fd, r = 0;

	fd = shm_open(link->name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0) {
		r = -errno;
		goto out;
	}
	ring = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (ring == MAP_FAILED) {
		r = -errno;
		goto out;
	}
	ring->capacity = link->capacity;
	ring->slot_size = slot_size_for(link->msg_size);
	ring->map_size = size;
	munmap(ring, size);
out:
	close(fd);
	return r;
}

int spsc_open(const struct link *link, bool tx, struct endpoint *ep)
{
	uint64_t size = map_size_for(link);
	int fd = shm_open(link->name, O_RDWR | O_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	ep->ring = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (ep->ring == MAP_FAILED) {
		ep->ring = NULL;
		return -errno;
	}
	if (ep->ring->map_size != size) {
		munmap(ep->ring, size);
		ep->ring = NULL;
		return -EBADMSG;
	}
	if (tx) {
		ep->pos =
		    atomic_load_explicit(&ep->ring->tail, memory_order_relaxed);
		ep->cached =
		    atomic_load_explicit(&ep->ring->head, memory_order_acquire);
	} else {
		ep->pos =
		    atomic_load_explicit(&ep->ring->head, memory_order_relaxed);
		ep->cached =
		    atomic_load_explicit(&ep->ring->tail, memory_order_acquire);
	}
	return 0;
}

/*
 * Spin politely.  Every 256 spins the process yields, so that two spinning
 * ends that share a CPU (with --no-pin, or more processes than CPUs) still
 * make progress.
 */
void spin_pause(unsigned *spins)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
	if (++*spins % 256 == 0)
		sched_yield();
}

static uint8_t *slot_at(struct spsc *ring, uint64_t index)
{
	return ring->slots + (index % ring->capacity) * ring->slot_size;
}

int spsc_send(struct endpoint *ep, const void *buf, size_t len)
{
	struct spsc *ring = ep->ring;
	uint64_t tail = ep->pos;
	uint64_t len64 = len;
	unsigned spins = 0;
	uint8_t *slot;

	if (len > ep->link->msg_size)
		return -EMSGSIZE;
	while (tail - ep->cached >= ring->capacity) {
		ep->cached =
		    atomic_load_explicit(&ring->head, memory_order_acquire);
		if (tail - ep->cached >= ring->capacity)
			spin_pause(&spins);
	}

	slot = slot_at(ring, tail);
	memcpy(slot, &len64, sizeof(len64));
	memcpy(slot + sizeof(len64), buf, len);
	atomic_store_explicit(&ring->tail, tail + 1, memory_order_release);
	ep->pos = tail + 1;
	return 0;
}

int spsc_recv(struct endpoint *ep, void *buf, size_t size, size_t *ret_len)
{
	struct spsc *ring = ep->ring;
	uint64_t head = ep->pos;
	unsigned spins = 0;
	uint64_t len;
	uint8_t *slot;

	while (head == ep->cached) {
		ep->cached =
		    atomic_load_explicit(&ring->tail, memory_order_acquire);
		if (head == ep->cached)
			spin_pause(&spins);
	}

	slot = slot_at(ring, head);
	memcpy(&len, slot, sizeof(len));
	if (len > ep->link->msg_size)
		return -EBADMSG;
	if (len > size)
		return -EMSGSIZE;
	memcpy(buf, slot + sizeof(len), len);
	atomic_store_explicit(&ring->head, head + 1, memory_order_release);
	ep->pos = head + 1;
	*ret_len = len;
	return 0;
}

void spsc_close(struct endpoint *ep)
{
	if (ep->ring != NULL)
		munmap(ep->ring, ep->ring->map_size);
	ep->ring = NULL;
}

void spsc_destroy(struct link *link)
{
	shm_unlink(link->name);
}
