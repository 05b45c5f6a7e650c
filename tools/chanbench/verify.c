/* SPDX-License-Identifier: MIT */
/*
 * Message contents and their verification.
 *
 * A message is a struct msg_hdr followed by a pattern derived from the
 * sequence number and the sender: 64-bit word i of the payload is
 * base + i * PATTERN_STEP, where base mixes seq and sender.  A stale slot,
 * a torn copy, a message delivered twice or out of order, or a wrong
 * length all break either the header or the pattern.  Filling and
 * checking are each one linear pass over the message, which every
 * transport pays alike.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"

#define PATTERN_MUL  UINT64_C(0x9e3779b97f4a7c15)
#define PATTERN_STEP UINT64_C(0xbf58476d1ce4e5b9)

static uint64_t pattern_base(uint64_t seq, uint32_t sender)
{
	return (seq + 1) * PATTERN_MUL ^ (uint64_t)sender << 56;
}

void msg_fill(void *buf, size_t len, uint64_t seq, uint32_t sender)
{
	struct msg_hdr hdr = {
	    .seq = seq, .len = (uint32_t)len, .sender = sender};
	uint8_t *payload = (uint8_t *)buf + sizeof(hdr);
	size_t words = (len - sizeof(hdr)) / 8;
	size_t rest = (len - sizeof(hdr)) % 8;
	uint64_t w = pattern_base(seq, sender);

	memcpy(buf, &hdr, sizeof(hdr));
	for (size_t i = 0; i < words; i++) {
		memcpy(payload + i * 8, &w, 8);
		w += PATTERN_STEP;
	}
	for (size_t j = 0; j < rest; j++)
		payload[words * 8 + j] = (uint8_t)(w >> (8 * j));
}

/* Find the first word that differs, once a difference is known. */
static void describe_mismatch(const uint8_t *payload, size_t words,
			      uint64_t base, char *why, size_t why_size)
{
	uint64_t w = base;

	for (size_t i = 0; i < words; i++) {
		uint64_t got;

		memcpy(&got, payload + i * 8, 8);
		if (got != w) {
			snprintf(why, why_size,
				 "payload word %zu is 0x%016" PRIx64
				 ", expected 0x%016" PRIx64,
				 i, got, w);
			return;
		}
		w += PATTERN_STEP;
	}
	snprintf(why, why_size, "payload tail bytes differ from the pattern");
}

/*
 * Store the header, then check its length against len and the payload
 * against the pattern of its seq and sender.  The caller checks seq and
 * sender against what it expected.  Returns 0, or -1 with a description
 * in why (the header is not stored if len is below its size).
 */
int msg_verify(const void *buf, size_t len, struct msg_hdr *ret_hdr, char *why,
	       size_t why_size)
{
	struct msg_hdr hdr;
	const uint8_t *payload = (const uint8_t *)buf + sizeof(hdr);
	size_t words, rest;
	uint64_t base, w, diff = 0;

	if (len < sizeof(hdr)) {
		snprintf(why, why_size,
			 "length %zu is below the %zu-byte header", len,
			 sizeof(hdr));
		return -1;
	}
	memcpy(&hdr, buf, sizeof(hdr));
	*ret_hdr = hdr;
	if (hdr.len != len) {
		snprintf(why, why_size,
			 "length %zu, but the header says %" PRIu32, len,
			 hdr.len);
		return -1;
	}

	words = (len - sizeof(hdr)) / 8;
	rest = (len - sizeof(hdr)) % 8;
	base = pattern_base(hdr.seq, hdr.sender);
	w = base;
	for (size_t i = 0; i < words; i++) {
		uint64_t got;

		memcpy(&got, payload + i * 8, 8);
		diff |= got ^ w;
		w += PATTERN_STEP;
	}
	for (size_t j = 0; j < rest; j++)
		diff |= payload[words * 8 + j] ^ (uint8_t)(w >> (8 * j));

	if (diff != 0) {
		describe_mismatch(payload, words, base, why, why_size);
		return -1;
	}
	return 0;
}
