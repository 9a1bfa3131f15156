/* fuzz_frame.c: libFuzzer harness for the frame decoder (proto_decode_frame,
 * proto_decode_payload). Built as a libFuzzer program with -Dfuzz=true and, with replay.c,
 * as a plain program replaying tests/fuzz/corpus/frame/ in every test run.
 *
 * The input is read as a stream of frames by a reader of each direction, and whole as a
 * stored record. Besides "no crash, no leak", it checks:
 * - a decoded message re-encodes, and the re-encoding decodes to the same message;
 * - every prefix of a frame that decodes is PROTO_ERR_INCOMPLETE;
 * - a failed decode leaves the message zeroed;
 * - what decoding allocates stays within a small multiple of the bytes present. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every direction bit: a payload reader that accepts any type. */
#define DIR_ANY ((enum proto_dir)(PROTO_S2W | PROTO_W2S | PROTO_REC | PROTO_C2S | PROTO_S2C))

static size_t alloc_total;

static void observe(size_t n)
{
	alloc_total += n;
}

/* The decoder's worst case per input byte: an empty table row (one byte) costs a
 * struct proto_list; an empty string one pointer plus its NUL. */
static void check_alloc(size_t input)
{
	if (alloc_total > 2 * sizeof(struct proto_list) * input + 1024)
		abort();
}

static int list_eq(const struct proto_list *a, const struct proto_list *b)
{
	size_t i;

	if (a->n != b->n)
		return 0;
	for (i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]) != 0)
			return 0;
	return 1;
}

static int msg_eq(const struct proto_msg *a, const struct proto_msg *b)
{
	const struct proto_desc *d = proto_desc(a->type);
	size_t i, r;

	if (!d || a->type != b->type || a->nfields != d->nfields || b->nfields != d->nfields)
		return 0;
	for (i = 0; i < d->nfields; i++) {
		const struct proto_val *x = &a->v[i], *y = &b->v[i];

		switch (d->fields[i].kind) {
		case PROTO_U64:
			if (x->u != y->u)
				return 0;
			break;
		case PROTO_STR:
		case PROTO_BIN:
			if (x->len != y->len || memcmp(x->s, y->s, x->len + 1) != 0)
				return 0;
			break;
		case PROTO_LIST:
		case PROTO_KV:
			if (!list_eq(&x->list, &y->list))
				return 0;
			break;
		case PROTO_TABLE:
			if (x->table.n != y->table.n)
				return 0;
			for (r = 0; r < x->table.n; r++)
				if (!list_eq(&x->table.rows[r], &y->table.rows[r]))
					return 0;
			break;
		}
	}
	return 1;
}

static int is_zeroed(const struct proto_msg *m)
{
	static const struct proto_msg zero;

	return memcmp(m, &zero, sizeof(zero)) == 0;
}

/* Encode m again (as a frame or a bare payload), decode that, compare. The re-encoding
 * is canonical, so it can only be shorter than the input: it must fit the same limits. */
static void round_trip(const struct proto_msg *m, enum proto_dir dir, int frame)
{
	struct buf b = BUF_INIT;
	struct proto_msg m2;
	size_t consumed = 0;
	enum proto_err e;

	if ((frame ? proto_encode(&b, m->type, m->v) : proto_encode_payload(&b, m->type, m->v)) < 0)
		abort();
	if (frame)
		e = proto_decode_frame(buf_head(&b), buf_avail(&b), dir, &consumed, &m2);
	else
		e = proto_decode_payload(buf_head(&b), buf_avail(&b), dir, &m2);
	if (e != PROTO_OK || (frame && consumed != buf_avail(&b)) || !msg_eq(m, &m2))
		abort();
	proto_msg_free(&m2);
	buf_free(&b, 0);
}

static void decode_stream(const uint8_t *data, size_t size, enum proto_dir dir)
{
	const char *p = (const char *)data;
	size_t off = 0, consumed, cut, ignored;
	struct proto_msg m, t;
	enum proto_err e;

	while (off < size) {
		alloc_total = 0;
		e = proto_decode_frame(p + off, size - off, dir, &consumed, &m);
		check_alloc(size - off);
		if (e != PROTO_OK) {
			if (!is_zeroed(&m) || consumed != 0)
				abort();
			if (e == PROTO_ERR_INCOMPLETE && alloc_total != 0)
				abort();
			return;
		}
		if (consumed < 6 || consumed > size - off || !proto_desc(m.type))
			abort();
		/* A frame that decodes is "incomplete" at every shorter length. */
		for (cut = 0; cut < consumed; cut++) {
			alloc_total = 0;
			if (proto_decode_frame(p + off, cut, dir, &ignored, &t) != PROTO_ERR_INCOMPLETE ||
			    alloc_total != 0)
				abort();
		}
		round_trip(&m, dir, 1);
		proto_msg_free(&m);
		off += consumed;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum proto_dir dirs[] = { PROTO_S2W, PROTO_W2S, PROTO_C2S, PROTO_S2C };
	struct proto_msg m;
	size_t i;

	proto_set_alloc_observer(observe);
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		decode_stream(data, size, dirs[i]);

	/* The whole input as a stored record, then as a payload of any type. */
	alloc_total = 0;
	if (proto_decode_payload((const char *)data, size, PROTO_REC, &m) == PROTO_OK) {
		round_trip(&m, PROTO_REC, 0);
		proto_msg_free(&m);
	} else if (!is_zeroed(&m)) {
		abort();
	}
	check_alloc(size);
	alloc_total = 0;
	if (proto_decode_payload((const char *)data, size, DIR_ANY, &m) == PROTO_OK) {
		round_trip(&m, DIR_ANY, 0);
		round_trip(&m, DIR_ANY, 1);
		proto_msg_free(&m);
	} else if (!is_zeroed(&m)) {
		abort();
	}
	check_alloc(size);
	proto_set_alloc_observer(NULL);
	return 0;
}
