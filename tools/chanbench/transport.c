/* SPDX-License-Identifier: MIT */
/*
 * The transports under test, behind one interface.  chan, the POSIX
 * message queue and the SPSC ring are created by name in the parent and
 * opened by name in each child, as an unrelated process would.  Pipes and
 * socket pairs are inherited through fork, which is how they are used.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bench.h"

/* Stream receivers read up to this much at a time. */
#define STREAM_READ_SIZE ((size_t)256 << 10)

static int fits_any(size_t len, char *why, size_t why_size)
{
	(void)len;
	(void)why;
	(void)why_size;
	return 0;
}

/* chan ---------------------------------------------------------------- */

static int chan_link_create(struct link *link)
{
	struct chan_params params;
	struct chan *ch;
	int r;

	chan_params_init(&params);
	params.capacity = link->capacity;
	params.max_msg_size = link->msg_size;
	r = chan_create(link->name, &params, &ch);
	if (r < 0)
		return r;
	chan_detach(ch);
	return 0;
}

static int chan_ep_open(const struct link *link, bool tx, struct endpoint *ep)
{
	(void)tx;
	return chan_attach(link->name, &ep->ch);
}

static int chan_ep_send(struct endpoint *ep, const void *buf, size_t len)
{
	return chan_send(ep->ch, buf, len);
}

static int chan_ep_recv(struct endpoint *ep, void *buf, size_t size,
			size_t *ret_len)
{
	return chan_recv(ep->ch, buf, size, ret_len);
}

static void chan_ep_close(struct endpoint *ep)
{
	chan_detach(ep->ch);
	ep->ch = NULL;
}

static void chan_link_destroy(struct link *link)
{
	chan_remove(link->name);
}

/*
 * The path chan uses for a name, mirroring the library's rule: the
 * directory is $CHAN_SHM_DIR when set, else /dev/shm.  The signal handler
 * unlinks this path, because chan_remove() is not async-signal-safe.
 */
const char *transport_chan_path(const char *name, char *buf, size_t size)
{
	const char *dir = secure_getenv("CHAN_SHM_DIR");

	if (dir == NULL || dir[0] == '\0')
		dir = "/dev/shm";
	snprintf(buf, size, "%s/%s%s", dir, CHAN_SHM_PREFIX, name);
	return buf;
}

/* Pipes and stream sockets: length-prefixed frames --------------------- */

static int pipe_create(struct link *link)
{
	return pipe2(link->fd, O_CLOEXEC) < 0 ? -errno : 0;
}

static int socket_create(struct link *link, int type)
{
	if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, link->fd) < 0)
		return -errno;
	return 0;
}

static int stream_create(struct link *link)
{
	return socket_create(link, SOCK_STREAM);
}

static int seqpacket_create(struct link *link)
{
	return socket_create(link, SOCK_SEQPACKET);
}

static int fd_open(const struct link *link, bool tx, struct endpoint *ep)
{
	ep->fd = tx ? link->fd[1] : link->fd[0];
	if (tx)
		return 0;
	ep->rbuf_size = STREAM_READ_SIZE;
	if (ep->rbuf_size < link->msg_size + sizeof(uint32_t))
		ep->rbuf_size = link->msg_size + sizeof(uint32_t);
	ep->rbuf = malloc(ep->rbuf_size);
	return ep->rbuf == NULL ? -ENOMEM : 0;
}

static void fd_close(struct endpoint *ep)
{
	free(ep->rbuf);
	ep->rbuf = NULL;
}

static void fd_destroy(struct link *link)
{
	for (int i = 0; i < 2; i++) {
		if (link->fd[i] >= 0)
			close(link->fd[i]);
		link->fd[i] = -1;
	}
}

/* Write one frame, a 32-bit length then the message, with one writev. */
static int stream_send(struct endpoint *ep, const void *buf, size_t len)
{
	uint32_t frame_len = (uint32_t)len;
	struct iovec iov[2] = {
	    {.iov_base = &frame_len, .iov_len = sizeof(frame_len)},
	    {.iov_base = (void *)buf, .iov_len = len},
	};
	struct iovec *v = iov;
	int n = 2;

	while (n > 0) {
		ssize_t w = writev(ep->fd, v, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		while (n > 0 && (size_t)w >= v->iov_len) {
			w -= (ssize_t)v->iov_len;
			v++;
			n--;
		}
		if (n > 0) {
			v->iov_base = (uint8_t *)v->iov_base + w;
			v->iov_len -= (size_t)w;
		}
	}
	return 0;
}

/* Read more bytes into the receive buffer, moving the unread part first. */
static int stream_fill(struct endpoint *ep)
{
	ssize_t r;

	if (ep->rbuf_start > 0) {
		memmove(ep->rbuf, ep->rbuf + ep->rbuf_start,
			ep->rbuf_end - ep->rbuf_start);
		ep->rbuf_end -= ep->rbuf_start;
		ep->rbuf_start = 0;
	}
	do
		r = read(ep->fd, ep->rbuf + ep->rbuf_end,
			 ep->rbuf_size - ep->rbuf_end);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (r == 0)
		return -EPIPE;
	ep->rbuf_end += (size_t)r;
	return 0;
}

/*
 * Take one whole frame from the stream.  Reads are buffered, as a real
 * receiver would do, so that pipes and sockets are not charged two system
 * calls per message.
 */
static int stream_recv(struct endpoint *ep, void *buf, size_t size,
		       size_t *ret_len)
{
	uint32_t frame_len;
	int r;

	while (ep->rbuf_end - ep->rbuf_start < sizeof(frame_len)) {
		r = stream_fill(ep);
		if (r < 0)
			return r;
	}
	memcpy(&frame_len, ep->rbuf + ep->rbuf_start, sizeof(frame_len));
	if (frame_len > size || frame_len > ep->rbuf_size - sizeof(frame_len))
		return -EMSGSIZE;

	while (ep->rbuf_end - ep->rbuf_start < sizeof(frame_len) + frame_len) {
		r = stream_fill(ep);
		if (r < 0)
			return r;
	}
	memcpy(buf, ep->rbuf + ep->rbuf_start + sizeof(frame_len), frame_len);
	ep->rbuf_start += sizeof(frame_len) + frame_len;
	*ret_len = frame_len;
	return 0;
}

/* SOCK_SEQPACKET: one datagram per message ------------------------------ */

static int seqpacket_open(const struct link *link, bool tx, struct endpoint *ep)
{
	ep->fd = tx ? link->fd[1] : link->fd[0];
	return 0;
}

static int seqpacket_send(struct endpoint *ep, const void *buf, size_t len)
{
	ssize_t w;

	do
		w = send(ep->fd, buf, len, MSG_NOSIGNAL);
	while (w < 0 && errno == EINTR);
	if (w < 0)
		return -errno;
	return (size_t)w == len ? 0 : -EIO;
}

static int seqpacket_recv(struct endpoint *ep, void *buf, size_t size,
			  size_t *ret_len)
{
	ssize_t r;

	do
		r = recv(ep->fd, buf, size, MSG_TRUNC);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (r == 0)
		return -EPIPE;
	if ((size_t)r > size)
		return -EMSGSIZE;
	*ret_len = (size_t)r;
	return 0;
}

static void seqpacket_close(struct endpoint *ep)
{
	(void)ep;
}

/* POSIX message queue --------------------------------------------------- */

static int mq_fits(size_t len, char *why, size_t why_size)
{
	if ((long)len <= cfg.mq_msgsize_max)
		return 0;
	snprintf(why, why_size, "exceeds /proc/sys/fs/mqueue/msgsize_max (%ld)",
		 cfg.mq_msgsize_max);
	return -EMSGSIZE;
}

/*
 * The queue gets the limits an unprivileged user gets by default, read
 * from /proc/sys/fs/mqueue, even when running as root.
 */
static int mq_link_create(struct link *link)
{
	struct mq_attr attr = {
	    .mq_maxmsg = cfg.mq_msg_max,
	    .mq_msgsize = (long)link->msg_size,
	};
	mqd_t mq = mq_open(link->name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC,
			   0600, &attr);

	if (mq == (mqd_t)-1)
		return -errno;
	mq_close(mq);
	return 0;
}

static int mq_ep_open(const struct link *link, bool tx, struct endpoint *ep)
{
	ep->mq = mq_open(link->name, (tx ? O_WRONLY : O_RDONLY) | O_CLOEXEC);
	return ep->mq == (mqd_t)-1 ? -errno : 0;
}

static int mq_ep_send(struct endpoint *ep, const void *buf, size_t len)
{
	int r;

	do
		r = mq_send(ep->mq, buf, len, 0);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : 0;
}

static int mq_ep_recv(struct endpoint *ep, void *buf, size_t size,
		      size_t *ret_len)
{
	ssize_t r;

	do
		r = mq_receive(ep->mq, buf, size, NULL);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	*ret_len = (size_t)r;
	return 0;
}

static void mq_ep_close(struct endpoint *ep)
{
	mq_close(ep->mq);
}

static void mq_link_destroy(struct link *link)
{
	mq_unlink(link->name);
}

/* The table ------------------------------------------------------------- */

static const struct transport chan_transport = {
    .name = "chan",
    .naming = NAMING_CHAN,
    .label = "this library: chan_send and chan_recv",
    .fits = fits_any,
    .create = chan_link_create,
    .open = chan_ep_open,
    .send = chan_ep_send,
    .recv = chan_ep_recv,
    .close = chan_ep_close,
    .destroy = chan_link_destroy,
};

static const struct transport pipe_transport = {
    .name = "pipe",
    .naming = NAMING_NONE,
    .label = "pipe(2), length-prefixed frames",
    .fits = fits_any,
    .create = pipe_create,
    .open = fd_open,
    .send = stream_send,
    .recv = stream_recv,
    .close = fd_close,
    .destroy = fd_destroy,
};

static const struct transport stream_transport = {
    .name = "unix-stream",
    .naming = NAMING_NONE,
    .label = "AF_UNIX SOCK_STREAM socketpair, length-prefixed frames",
    .fits = fits_any,
    .create = stream_create,
    .open = fd_open,
    .send = stream_send,
    .recv = stream_recv,
    .close = fd_close,
    .destroy = fd_destroy,
};

static const struct transport seqpacket_transport = {
    .name = "unix-seqpacket",
    .naming = NAMING_NONE,
    .label = "AF_UNIX SOCK_SEQPACKET socketpair",
    .fits = fits_any,
    .create = seqpacket_create,
    .open = seqpacket_open,
    .send = seqpacket_send,
    .recv = seqpacket_recv,
    .close = seqpacket_close,
    .destroy = fd_destroy,
};

static const struct transport mq_transport = {
    .name = "mq",
    .naming = NAMING_MQ,
    .label = "POSIX message queue, default unprivileged limits",
    .fits = mq_fits,
    .create = mq_link_create,
    .open = mq_ep_open,
    .send = mq_ep_send,
    .recv = mq_ep_recv,
    .close = mq_ep_close,
    .destroy = mq_link_destroy,
};

static const struct transport spsc_transport = {
    .name = "spsc",
    .naming = NAMING_SHM,
    .label = "lock-free spinning SPSC ring in shared memory (reference)",
    .fits = fits_any,
    .create = spsc_create,
    .open = spsc_open,
    .send = spsc_send,
    .recv = spsc_recv,
    .close = spsc_close,
    .destroy = spsc_destroy,
};

const struct transport *const transports[] = {
    &chan_transport,	  &pipe_transport, &stream_transport,
    &seqpacket_transport, &mq_transport,   &spsc_transport,
};

const size_t transport_count = sizeof(transports) / sizeof(transports[0]);

const struct transport *transport_find(const char *name)
{
	for (size_t i = 0; i < transport_count; i++) {
		if (strcmp(transports[i]->name, name) == 0)
			return transports[i];
	}
	return NULL;
}
