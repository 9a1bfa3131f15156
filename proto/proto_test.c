/* proto_test.c: round trip of every message in the table, encoder limits, and the
 * decoder against hostile, truncated and malformed frames (checking that none of them
 * makes it allocate more than a few KiB). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

static int failures;

#define CHECK(cond, ...) do { \
	if (!(cond)) { \
		failures++; \
		fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
		fprintf(stderr, __VA_ARGS__); \
		fputc('\n', stderr); \
	} \
} while (0)

/* ---- allocation accounting through proto's observer hook ---- */

static size_t alloc_total;

static void observe(size_t n)
{
	alloc_total += n;
}

/* Every hostile frame below must be refused with at most this much allocated. */
#define HOSTILE_ALLOC_MAX 4096

/* ---- generated values ---- */

/* Everything the generator allocates, freed after each message. */
static void **arena;
static size_t arena_n, arena_cap;

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p) {
		perror("malloc");
		exit(2);
	}
	if (arena_n == arena_cap) {
		arena_cap = arena_cap ? arena_cap * 2 : 256;
		arena = realloc(arena, arena_cap * sizeof(*arena));
		if (!arena) {
			perror("realloc");
			exit(2);
		}
	}
	arena[arena_n++] = p;
	return p;
}

static void arena_free(void)
{
	while (arena_n > 0)
		free(arena[--arena_n]);
}

/* A string of len bytes, every byte from 1 to 255 (no NUL), varying with seed. */
static char *gen_str(size_t len, unsigned seed)
{
	char *s = xmalloc(len + 1);
	size_t i;

	for (i = 0; i < len; i++)
		s[i] = (char)(1 + (seed * 31u + i * 7u) % 255u);
	s[len] = '\0';
	return s;
}

static void gen_list(struct proto_list *l, size_t n, size_t itemlen, unsigned seed)
{
	size_t i;

	l->n = n;
	l->v = n ? xmalloc(n * sizeof(*l->v)) : NULL;
	for (i = 0; i < n; i++)
		l->v[i] = gen_str(itemlen ? itemlen : i % 40, seed + (unsigned)i);
}

/* KV with distinct keys ("k0", "k1", ...). */
static void gen_kv(struct proto_list *l, size_t pairs, size_t vlen, unsigned seed)
{
	size_t i;

	l->n = 2 * pairs;
	l->v = pairs ? xmalloc(2 * pairs * sizeof(*l->v)) : NULL;
	for (i = 0; i < pairs; i++) {
		l->v[2 * i] = xmalloc(24);
		snprintf(l->v[2 * i], 24, "k%zu", i);
		l->v[2 * i + 1] = gen_str(vlen ? vlen : i % 50, seed + (unsigned)i);
	}
}

enum variant { V_EMPTY, V_SMALL, V_EDGE, V_MAX, V_COUNT };
static const char *variant_name[] = { "empty", "small", "edge", "max" };

static const uint64_t u64_edges[] = { 0, 1, 127, 128, 255, 256, 65535, 65536,
	UINT32_MAX, (uint64_t)UINT32_MAX + 1, UINT64_MAX - 1, UINT64_MAX };
static const size_t len_edges[] = { 31, 32, 255, 256, 65535, 65536 };
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static size_t clip(size_t n, size_t max)
{
	return n < max ? n : max;
}

/* Fill v with values of each field's kind for one variant. */
static void gen_values(const struct proto_desc *d, enum variant var, struct proto_val *v)
{
	size_t i, r, n;
	unsigned seed;

	memset(v, 0, PROTO_FIELDS_MAX * sizeof(*v));
	for (i = 0; i < d->nfields; i++) {
		const struct proto_desc_field *f = &d->fields[i];

		seed = (unsigned)(d->type * 100 + i);
		switch (f->kind) {
		case PROTO_U64:
			v[i].u = var == V_EMPTY ? 0 : var == V_SMALL ? i + 1 :
			    var == V_EDGE ? u64_edges[(i + d->type) % NELEM(u64_edges)] : UINT64_MAX;
			break;
		case PROTO_STR:
		case PROTO_BIN:
			if (var == V_EMPTY)
				break; /* s NULL: "" */
			n = var == V_SMALL ? clip(5 + i, f->max) : var == V_EDGE ?
			    clip(len_edges[(i + d->type) % NELEM(len_edges)], f->max) : f->max;
			v[i].s = gen_str(n, seed);
			/* Both ways of giving a STR's length: explicit and strlen (len 0). */
			v[i].len = f->kind == PROTO_BIN || i % 2 ? n : 0;
			break;
		case PROTO_LIST:
			n = var == V_EMPTY ? 0 : var == V_SMALL ? clip(3, f->max) :
			    var == V_EDGE ? clip(16, f->max) : f->max;
			gen_list(&v[i].list, n, var == V_MAX ? 1 : 0, seed);
			break;
		case PROTO_KV:
			n = var == V_EMPTY ? 0 : var == V_SMALL ? clip(2, f->max) :
			    var == V_EDGE ? clip(16, f->max) : f->max;
			gen_kv(&v[i].list, n, var == V_MAX ? 3 : 0, seed);
			break;
		case PROTO_TABLE:
			n = var == V_EMPTY ? 0 : var == V_SMALL ? clip(2, f->max) :
			    var == V_EDGE ? clip(16, f->max) : f->max;
			v[i].table.n = n;
			v[i].table.rows = n ? xmalloc(n * sizeof(*v[i].table.rows)) : NULL;
			/* At max, a huge table (a control reply) gets rows of one byte so
			 * that it fits its frame; small ones get form-field-like rows. */
			for (r = 0; r < n; r++)
				gen_list(&v[i].table.rows[r],
				    var == V_MAX ? (n > 1024 ? 1 : PROTO_FIELD_OPTIONS + 2) :
				    r % 3 == 0 ? 0 : r % 20,
				    var == V_MAX ? (n > 1024 ? 1 : 3) : 0, seed + (unsigned)r);
			break;
		}
	}
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

/* Compare what was encoded (v) with what was decoded (m). */
static int msg_eq(const struct proto_desc *d, const struct proto_val *v,
    const struct proto_msg *m)
{
	size_t i, r, len;

	if (m->type != d->type || m->nfields != d->nfields)
		return 0;
	for (i = 0; i < d->nfields; i++) {
		switch (d->fields[i].kind) {
		case PROTO_U64:
			if (m->v[i].u != v[i].u)
				return 0;
			break;
		case PROTO_STR:
			len = v[i].s ? (v[i].len ? v[i].len : strlen(v[i].s)) : 0;
			if (!m->v[i].s || m->v[i].len != len || strlen(m->v[i].s) != len ||
			    memcmp(m->v[i].s, v[i].s ? v[i].s : "", len) != 0)
				return 0;
			break;
		case PROTO_BIN:
			if (!m->v[i].s || m->v[i].len != v[i].len || m->v[i].s[v[i].len] != '\0' ||
			    (v[i].len && memcmp(m->v[i].s, v[i].s, v[i].len) != 0))
				return 0;
			break;
		case PROTO_LIST:
		case PROTO_KV:
			if (!list_eq(&v[i].list, &m->v[i].list))
				return 0;
			break;
		case PROTO_TABLE:
			if (v[i].table.n != m->v[i].table.n)
				return 0;
			for (r = 0; r < v[i].table.n; r++)
				if (!list_eq(&v[i].table.rows[r], &m->v[i].table.rows[r]))
					return 0;
			break;
		}
	}
	return 1;
}

/* A reader direction that accepts d, and every one that must refuse it. */
static enum proto_dir accepting_dir(const struct proto_desc *d)
{
	return d->dir == PROTO_BOTH ? PROTO_S2W : d->dir;
}

static const enum proto_dir all_dirs[] = { PROTO_S2W, PROTO_W2S, PROTO_REC, PROTO_C2S,
	PROTO_S2C };

/* Encode v as type d, decode it back every way, compare. Also checks every truncation
 * of the frame gives INCOMPLETE with nothing allocated. */
static void round_trip(const struct proto_desc *d, const struct proto_val *v, const char *what)
{
	struct buf b = BUF_INIT;
	struct proto_msg m;
	enum proto_err e;
	size_t consumed, cut, k;

	CHECK(proto_encode(&b, d->type, v) == 0, "%s %s: encode", d->name, what);
	if (buf_avail(&b) == 0)
		goto done;
	CHECK(buf_avail(&b) - 4 <= d->max_frame, "%s %s: frame over max", d->name, what);

	for (k = 0; k < NELEM(all_dirs); k++) {
		e = proto_decode_frame(buf_head(&b), buf_avail(&b), all_dirs[k], &consumed, &m);
		if (d->dir & all_dirs[k]) {
			CHECK(e == PROTO_OK, "%s %s: decode: %s", d->name, what, proto_strerror(e));
			CHECK(consumed == buf_avail(&b), "%s %s: consumed %zu of %zu", d->name,
			    what, consumed, buf_avail(&b));
			CHECK(e != PROTO_OK || msg_eq(d, v, &m), "%s %s: decoded differs",
			    d->name, what);
		} else {
			CHECK(e == PROTO_ERR_DIRECTION, "%s %s: dir %d gave %s", d->name, what,
			    all_dirs[k], proto_strerror(e));
			CHECK(m.type == 0 && m.nfields == 0, "%s: m not zeroed", d->name);
		}
		proto_msg_free(&m);
	}

	/* Every truncation: "need more", and nothing allocated for it. */
	for (cut = 0; cut < buf_avail(&b); cut += (cut < 64 || buf_avail(&b) < 4096) ? 1 : 997) {
		alloc_total = 0;
		e = proto_decode_frame(buf_head(&b), cut, accepting_dir(d), &consumed, &m);
		CHECK(e == PROTO_ERR_INCOMPLETE, "%s %s: truncated at %zu gave %s", d->name, what,
		    cut, proto_strerror(e));
		CHECK(alloc_total == 0, "%s %s: truncated at %zu allocated %zu", d->name, what,
		    cut, alloc_total);
	}

	/* Bytes of a next frame after this one are left alone. */
	buf_append(&b, "\0\0\0\x02\x92", 5);
	e = proto_decode_frame(buf_head(&b), buf_avail(&b), accepting_dir(d), &consumed, &m);
	CHECK(e == PROTO_OK && consumed == buf_avail(&b) - 5, "%s %s: followed by more: %s",
	    d->name, what, proto_strerror(e));
	proto_msg_free(&m);

	/* The same as a payload (a stored record). */
	buf_reset(&b);
	CHECK(proto_encode_payload(&b, d->type, v) == 0, "%s %s: encode payload", d->name, what);
	e = proto_decode_payload(buf_head(&b), buf_avail(&b), accepting_dir(d), &m);
	CHECK(e == PROTO_OK && msg_eq(d, v, &m), "%s %s: payload round trip: %s", d->name,
	    what, proto_strerror(e));
	proto_msg_free(&m);
	/* A truncated record is malformed, not incomplete. */
	if (buf_avail(&b) > 1) {
		e = proto_decode_payload(buf_head(&b), buf_avail(&b) - 1, accepting_dir(d), &m);
		CHECK(e == PROTO_ERR_MALFORMED, "%s %s: short payload gave %s", d->name, what,
		    proto_strerror(e));
	}
done:
	buf_free(&b, 0);
}

/* proto_encode must fail and leave out exactly as it was. */
static void expect_refused(enum proto_type t, const struct proto_val *v, const char *what)
{
	struct buf b = BUF_INIT;

	buf_append(&b, "keep", 4);
	CHECK(proto_encode(&b, t, v) < 0, "%s %s: encoder accepted", proto_name(t), what);
	CHECK(buf_avail(&b) == 4 && memcmp(buf_head(&b), "keep", 5) == 0,
	    "%s %s: out changed", proto_name(t), what);
	CHECK(proto_encode_payload(&b, t, v) < 0, "%s %s: payload encoder accepted",
	    proto_name(t), what);
	CHECK(buf_avail(&b) == 4, "%s %s: out changed by payload encoder", proto_name(t), what);
	buf_free(&b, 0);
}

/* At the max variant: one byte or one entry over a field's limit is refused; an item of
 * exactly PROTO_ITEM_MAX is accepted, one byte more refused. */
static void limits(const struct proto_desc *d, struct proto_val *v)
{
	struct proto_table tsaved;
	char what[96];
	size_t i;

	for (i = 0; i < d->nfields; i++) {
		const struct proto_desc_field *f = &d->fields[i];
		struct proto_val keep = v[i];

		snprintf(what, sizeof(what), "field %s over max", f->name);
		switch (f->kind) {
		case PROTO_U64:
			continue;
		case PROTO_STR:
		case PROTO_BIN:
			v[i].s = gen_str(f->max + 1, 3);
			v[i].len = f->max + 1;
			expect_refused(d->type, v, what);
			v[i].len = 0; /* strlen path */
			if (f->kind == PROTO_STR)
				expect_refused(d->type, v, what);
			break;
		case PROTO_LIST:
			gen_list(&v[i].list, f->max + 1, 1, 5);
			expect_refused(d->type, v, what);
			break;
		case PROTO_KV:
			gen_kv(&v[i].list, f->max + 1, 1, 5);
			expect_refused(d->type, v, what);
			/* An odd count is not a KV. */
			v[i].list = keep.list;
			v[i].list.n = keep.list.n ? keep.list.n - 1 : 0;
			if (keep.list.n)
				expect_refused(d->type, v, "odd kv");
			break;
		case PROTO_TABLE:
			tsaved = v[i].table;
			v[i].table.n = f->max + 1;
			v[i].table.rows = xmalloc((f->max + 1) * sizeof(*v[i].table.rows));
			memcpy(v[i].table.rows, tsaved.rows, f->max * sizeof(*tsaved.rows));
			gen_list(&v[i].table.rows[f->max], 1, 1, 5);
			expect_refused(d->type, v, what);
			break;
		}
		v[i] = keep;

		if (f->kind != PROTO_LIST && f->kind != PROTO_KV && f->kind != PROTO_TABLE)
			continue;
		/* Item limits, tested on an otherwise empty message: an item of exactly
		 * PROTO_ITEM_MAX is accepted where the type's frame can hold it and refused
		 * (frame too big) where it cannot. */
		{
			struct proto_val w[PROTO_FIELDS_MAX];
			struct proto_list one;

			gen_values(d, V_EMPTY, w);
			gen_list(&one, 2, PROTO_ITEM_MAX, 9);
			if (f->kind == PROTO_TABLE) {
				w[i].table.n = 1;
				w[i].table.rows = &one;
			} else {
				w[i].list = one;
			}
			snprintf(what, sizeof(what), "field %s items at PROTO_ITEM_MAX", f->name);
			if (2 * (PROTO_ITEM_MAX + 5) + 64 <= d->max_frame)
				round_trip(d, w, what);
			else
				expect_refused(d->type, w, what);
			one.v[1] = gen_str(PROTO_ITEM_MAX + 1, 9);
			snprintf(what, sizeof(what), "field %s item over PROTO_ITEM_MAX", f->name);
			expect_refused(d->type, w, what);
			one.v[1] = NULL;
			snprintf(what, sizeof(what), "field %s NULL item", f->name);
			expect_refused(d->type, w, what);
		}
	}
}

static void test_table(void)
{
	struct proto_val v[PROTO_FIELDS_MAX];
	uint32_t t;
	int n = 0, var;
	char what[64];

	for (t = 0; t < PROTO_TYPE_MAX + 10; t++) {
		const struct proto_desc *d = proto_desc(t);

		if (!d) {
			CHECK(strcmp(proto_name(t), "unknown") == 0, "name of %u", t);
			continue;
		}
		n++;
		CHECK(d->type == t, "descriptor %u has type %d", t, d->type);
		CHECK(d->nfields <= PROTO_FIELDS_MAX, "%s nfields", d->name);
		CHECK(d->max_frame <= PROTO_FRAME_MAX, "%s max_frame", d->name);
		CHECK(strcmp(d->name, proto_name(t)) == 0, "%s name", d->name);
		for (const char *c = d->name; *c; c++)
			CHECK(!(*c >= 'A' && *c <= 'Z'), "name %s not lower-case", d->name);
		for (var = 0; var < V_COUNT; var++) {
			gen_values(d, var, v);
			snprintf(what, sizeof(what), "variant %s", variant_name[var]);
			round_trip(d, v, what);
			if (var == V_MAX)
				limits(d, v);
			arena_free();
		}
	}
	CHECK(n >= 15, "only %d messages in the table", n);
	CHECK(proto_desc(0) == NULL && proto_desc(PROTO_TYPE_MAX) == NULL &&
	    proto_desc(UINT32_MAX) == NULL, "out-of-table descriptors");
	CHECK(strcmp(proto_name(PROTO_VALIDATE_RESULT), "validate_result") == 0, "%s",
	    proto_name(PROTO_VALIDATE_RESULT));
	CHECK(proto_desc(PROTO_HELLO)->fields[HELLO_role].kind == PROTO_STR, "HELLO role kind");
	CHECK(proto_desc(PROTO_MANIFEST)->fields[MANIFEST_ports].max == 64, "ports max");
}

/* ---- encoder specifics ---- */

static void test_encoder(void)
{
	struct proto_val v[PROTO_FIELDS_MAX];
	struct buf b = BUF_INIT;
	struct proto_msg m;
	size_t consumed;

	/* STR: NULL is "", len 0 is strlen, an explicit len takes a prefix. */
	memset(v, 0, sizeof(v));
	v[HELLO_version].u = PROTO_VERSION;
	v[HELLO_role].s = "supervisor-and-more";
	v[HELLO_role].len = 10;
	v[HELLO_pid].u = 4242;
	CHECK(proto_encode(&b, PROTO_HELLO, v) == 0, "hello with explicit len");
	CHECK(proto_decode_frame(buf_head(&b), buf_avail(&b), PROTO_W2S, &consumed, &m) ==
	    PROTO_OK, "decode hello");
	CHECK(m.v[HELLO_role].s && strcmp(m.v[HELLO_role].s, "supervisor") == 0 &&
	    m.v[HELLO_role].len == 10, "role: %s", m.v[HELLO_role].s);
	CHECK(m.v[HELLO_pid].u == 4242, "pid");
	proto_msg_free(&m);
	CHECK(m.type == 0 && m.nfields == 0, "free zeroes");
	proto_msg_free(&m); /* safe twice */

	/* A NUL inside an explicit length would not decode: refused. */
	v[HELLO_role].s = "ab\0cd";
	v[HELLO_role].len = 5;
	expect_refused(PROTO_HELLO, v, "embedded NUL");
	/* NULL with a length is nonsense. */
	v[HELLO_role].s = NULL;
	v[HELLO_role].len = 3;
	expect_refused(PROTO_HELLO, v, "NULL with len");
	/* Exactly 16 bytes (the max) by strlen is fine, 17 refused. */
	v[HELLO_role].s = "0123456789abcdef";
	v[HELLO_role].len = 0;
	buf_reset(&b);
	CHECK(proto_encode(&b, PROTO_HELLO, v) == 0, "role at max");
	v[HELLO_role].s = "0123456789abcdefg";
	expect_refused(PROTO_HELLO, v, "role over max");
	/* Types outside the table. */
	v[HELLO_role].s = "x";
	expect_refused((enum proto_type)0, v, "type 0");
	expect_refused((enum proto_type)15, v, "type 15");
	expect_refused((enum proto_type)PROTO_TYPE_MAX, v, "type max");

	/* A list with n set and no vector. */
	memset(v, 0, sizeof(v));
	v[MANIFEST_ports].list.n = 2;
	expect_refused(PROTO_MANIFEST, v, "list without vector");
	memset(v, 0, sizeof(v));
	v[MANIFEST_search_fields].table.n = 2;
	expect_refused(PROTO_MANIFEST, v, "table without rows");

	/* The frame limit of the type, beyond the field limits: STANZA's xml at its max
	 * fits; an EMIT of the same fits too. Nothing in the table lets fields overflow
	 * max_frame, so check the length prefix is right instead. */
	memset(v, 0, sizeof(v));
	v[STANZA_seq].u = 1;
	v[STANZA_xml].s = gen_str(256 * 1024, 1);
	buf_reset(&b);
	CHECK(proto_encode(&b, PROTO_STANZA, v) == 0, "stanza at max");
	CHECK(buf_avail(&b) == 4 + 1 + 1 + 1 + 5 + 256 * 1024, "stanza size %zu", buf_avail(&b));
	CHECK((unsigned char)buf_head(&b)[0] == 0 && (unsigned char)buf_head(&b)[1] == 0x04 &&
	    (unsigned char)buf_head(&b)[2] == 0 && (unsigned char)buf_head(&b)[3] == 8,
	    "length prefix");
	arena_free();

	/* Fields each within their limits that together overflow the type's frame: a
	 * control reply with 100000 rows of 8 strings is some 3 MB. */
	memset(v, 0, sizeof(v));
	{
		const struct proto_desc *d = proto_desc(PROTO_CTL_REPLY);
		size_t r;

		v[CTL_REPLY_rows].table.n = d->fields[CTL_REPLY_rows].max;
		v[CTL_REPLY_rows].table.rows = xmalloc(v[CTL_REPLY_rows].table.n *
		    sizeof(struct proto_list));
		for (r = 0; r < v[CTL_REPLY_rows].table.n; r++)
			gen_list(&v[CTL_REPLY_rows].table.rows[r], 8, 2, (unsigned)r);
		expect_refused(PROTO_CTL_REPLY, v, "rows over the frame");
		/* Rows of 25 bytes: 42000 (1050000 bytes) are over PROTO_FRAME_MAX... */
		v[CTL_REPLY_rows].table.n = 42000;
		expect_refused(PROTO_CTL_REPLY, v, "rows just over PROTO_FRAME_MAX");
		/* ...41000 (1025007 bytes) are not. */
		v[CTL_REPLY_rows].table.n = 41000;
		buf_reset(&b);
		CHECK(proto_encode(&b, PROTO_CTL_REPLY, v) == 0, "41000 rows");
		CHECK(buf_avail(&b) == 4 + 1025007, "size %zu", buf_avail(&b));
		CHECK(buf_avail(&b) - 4 <= PROTO_FRAME_MAX, "size %zu", buf_avail(&b));
		arena_free();
	}
	buf_free(&b, 0);
}

/* ---- helpers ---- */

static void test_helpers(void)
{
	struct proto_list kv = { 0, NULL }, l = { 0, NULL }, c;
	struct proto_table t = { 0, NULL };

	CHECK(proto_kv_get(&kv, "a") == NULL, "empty kv");
	CHECK(proto_kv_set(&kv, "a", "1") == 0 && proto_kv_set(&kv, "b", "2") == 0, "kv set");
	CHECK(proto_kv_set(&kv, "a", "3") == 0, "kv replace");
	CHECK(kv.n == 4, "kv n %zu", kv.n);
	CHECK(proto_kv_get(&kv, "a") && strcmp(proto_kv_get(&kv, "a"), "3") == 0, "kv get a");
	CHECK(proto_kv_get(&kv, "b") && strcmp(proto_kv_get(&kv, "b"), "2") == 0, "kv get b");
	CHECK(proto_kv_get(&kv, "c") == NULL, "kv get c");
	/* A stolen key (set to NULL by a consumer) is skipped, not dereferenced. */
	free(kv.v[0]);
	kv.v[0] = NULL;
	CHECK(proto_kv_get(&kv, "a") == NULL, "stolen key");
	CHECK(proto_list_copy(&c, &kv) == 0 && c.n == 4 && c.v[0] == NULL &&
	    strcmp(c.v[3], "2") == 0, "copy with a NULL entry");
	proto_list_free(&c);
	proto_list_free(&kv);
	CHECK(kv.n == 0 && kv.v == NULL, "list free zeroes");

	CHECK(proto_list_add(&l, "x") == 0 && proto_list_add(&l, "") == 0 &&
	    proto_list_add(&l, "zz") == 0 && l.n == 3, "list add");
	CHECK(proto_list_copy(&c, &l) == 0 && list_eq(&c, &l) && c.v[0] != l.v[0], "copy");
	CHECK(proto_table_add(&t, &l) == 0 && proto_table_add(&t, &c) == 0 && t.n == 2 &&
	    list_eq(&t.rows[1], &l), "table add");
	proto_list_free(&c);
	CHECK(proto_list_copy(&c, &(struct proto_list){ 0, NULL }) == 0 && c.n == 0 &&
	    c.v == NULL, "copy empty");
	proto_list_free(&l);
	proto_table_free(&t);
	CHECK(t.n == 0 && t.rows == NULL, "table free zeroes");

	CHECK(strcmp(proto_strerror(PROTO_ERR_TOO_BIG), "frame too big") == 0, "strerror");
	CHECK(strcmp(proto_strerror((enum proto_err)-99), "unknown error") == 0, "strerror ?");
}

/* ---- hostile and malformed frames ---- */

struct hostile {
	const char *name;
	int raw;              /* hex is the whole input (with its prefix); else the payload */
	enum proto_dir dir;
	enum proto_err want;
	const char *hex;
};

static const struct hostile hostile[] = {
	/* Length prefixes: refused with only the prefix (or the head) in. */
	{ "prefix ffffffff", 1, PROTO_S2W, PROTO_ERR_TOO_BIG, "ffffffff" },
	{ "prefix FRAME_MAX+1", 1, PROTO_W2S, PROTO_ERR_TOO_BIG, "00100001" },
	{ "prefix FRAME_MAX, stanza head", 1, PROTO_S2W, PROTO_ERR_TOO_BIG, "00100000 93 04" },
	{ "ack over its max", 1, PROTO_W2S, PROTO_ERR_TOO_BIG, "00000041 92 05" },
	{ "ping 256K", 1, PROTO_S2W, PROTO_ERR_TOO_BIG, "00040000 92 0a" },
	{ "hello 513", 1, PROTO_S2W, PROTO_ERR_TOO_BIG, "00000201 94 01" },
	{ "empty payload", 1, PROTO_S2W, PROTO_ERR_MALFORMED, "00000000" },
	{ "short prefix", 1, PROTO_S2W, PROTO_ERR_INCOMPLETE, "000000" },
	{ "head not in yet", 1, PROTO_S2W, PROTO_ERR_INCOMPLETE, "00000002 92" },
	/* msgpack-c maps gigabytes for these (facts.md). */
	{ "facts dd04000000", 0, PROTO_S2W, PROTO_ERR_MALFORMED, "dd 04 00 00 00" },
	{ "facts ddffffffff", 0, PROTO_W2S, PROTO_ERR_MALFORMED, "dd ff ff ff ff" },
	{ "facts dd04 in a longer frame", 1, PROTO_S2W, PROTO_ERR_INCOMPLETE,
	  "000003e8 dd 04 00 00 00" },
	{ "array32 huge with type", 1, PROTO_S2W, PROTO_ERR_MALFORMED, "000003e8 dd ff ff ff ff 04" },
	{ "map as payload", 1, PROTO_S2W, PROTO_ERR_MALFORMED, "000003e8 82" },
	{ "nil as payload", 0, PROTO_S2W, PROTO_ERR_MALFORMED, "c0" },
	/* Huge lengths inside fields. */
	{ "str32 huge", 0, PROTO_S2W, PROTO_ERR_MALFORMED, "93 04 01 db ff ff ff ff" },
	{ "str32 max+1", 0, PROTO_S2W, PROTO_ERR_MALFORMED, "93 04 01 db 00 04 00 01 61" },
	{ "str32 over bytes left", 0, PROTO_S2W, PROTO_ERR_MALFORMED,
	  "93 04 01 db 00 00 00 64 61 62" },
	{ "str8 over bytes left", 0, PROTO_S2W, PROTO_ERR_MALFORMED, "93 04 01 d9 05 61" },
	{ "bin32 huge for str", 0, PROTO_S2W, PROTO_ERR_MALFORMED, "93 04 01 c6 ff ff ff ff" },
	{ "bin8 for str", 0, PROTO_S2W, PROTO_ERR_MALFORMED, "93 04 01 c4 01 61" },
	{ "map32 huge", 0, PROTO_S2W, PROTO_ERR_MALFORMED,
	  "97 03 a1 61 a1 62 df ff ff ff ff 80 00 00" },
	{ "map16 at max, no bytes", 0, PROTO_S2W, PROTO_ERR_MALFORMED,
	  "97 03 a1 61 a1 62 de 01 00" },
	{ "map16 max+1", 0, PROTO_S2W, PROTO_ERR_MALFORMED,
	  "97 03 a1 61 a1 62 de 01 01 a0 a0" },
	{ "map with a third key", 0, PROTO_S2W, PROTO_ERR_MALFORMED,
	  "97 03 a1 61 a1 62 82 a1 6b a1 76 80 00 00" },
	{ "array32 huge list", 0, PROTO_W2S, PROTO_ERR_MALFORMED,
	  "9d 02 a0 a0 a0 a0 00 a0 90 a0 a0 90 dd ff ff ff ff a0" },
	{ "list count over bytes", 0, PROTO_W2S, PROTO_ERR_MALFORMED,
	  "9d 02 a0 a0 a0 a0 00 a0 90 a0 a0 90 dc 00 40 a0" },
	{ "list max+1", 0, PROTO_W2S, PROTO_ERR_MALFORMED,
	  "9d 02 a0 a0 a0 a0 00 a0 90 a0 a0 90 dc 00 41 a0" },
	{ "array32 huge table", 0, PROTO_W2S, PROTO_ERR_MALFORMED,
	  "9d 02 a0 a0 a0 a0 00 a0 dd ff ff ff ff" },
	{ "table rows at max, no bytes", 0, PROTO_W2S, PROTO_ERR_MALFORMED,
	  "9d 02 a0 a0 a0 a0 00 a0 dc 00 40 a0 a0 90 90 a0" },
	{ "table row array16 huge", 0, PROTO_W2S, PROTO_ERR_MALFORMED,
	  "9d 02 a0 a0 a0 a0 00 a0 91 dc ff ff a0 a0 90 90 a0" },
	{ "table row array32 huge", 0, PROTO_W2S, PROTO_ERR_MALFORMED,
	  "9d 02 a0 a0 a0 a0 00 a0 91 dd ff ff ff ff a0 a0 90 90 a0" },
	/* Nested arrays where strings are expected. */
	{ "array for str", 0, PROTO_S2W, PROTO_ERR_MALFORMED, "94 01 01 91 a0 00" },
	{ "array in list", 0, PROTO_W2S, PROTO_ERR_MALFORMED,
	  "9d 02 a0 a0 a0 a0 00 a0 90 a0 a0 90 91 91 a0 a0" },
	{ "array in table row", 0, PROTO_W2S, PROTO_ERR_MALFORMED,
	  "9d 02 a0 a0 a0 a0 00 a0 91 91 91 a0 a0 a0 90 90 a0" },
	{ "array as kv value", 0, PROTO_S2W, PROTO_ERR_MALFORMED,
	  "97 03 a1 61 a1 62 81 a1 6b 90 80 00 00" },
	{ "map as kv key", 0, PROTO_S2W, PROTO_ERR_MALFORMED,
	  "97 03 a1 61 a1 62 81 80 a0 80 00 00" },
	{ "deep nesting", 0, PROTO_S2W, PROTO_ERR_MALFORMED,
	  "94 01 01 91 91 91 91 91 91 91 91 91 91 91 91 91 91 91 91 90 00" },
	/* Trailing bytes, field counts. */
	{ "trailing byte", 0, PROTO_S2W, PROTO_ERR_MALFORMED, "94 01 01 a0 00 00" },
	{ "trailing frame", 0, PROTO_S2W, PROTO_ERR_MALFORMED, "94 01 01 a0 00 94 01 01 a0 00" },
	{ "too few fields", 0, PROTO_S2W, PROTO_ERR_MALFORMED, "93 01 01 a0" },
	{ "too many fields", 0, PROTO_S2W, PROTO_ERR_MALFORMED, "95 01 01 a0 00 00" },
	{ "only the type", 0, PROTO_S2W, PROTO_ERR_MALFORMED, "91 01" },
	{ "empty array", 0, PROTO_S2W, PROTO_ERR_MALFORMED, "90" },
	{ "count right, bytes short", 0, PROTO_S2W, PROTO_ERR_MALFORMED, "94 01 01 a0" },
	/* Wrong kinds. */
	{ "str for u64", 0, PROTO_S2W, PROTO_ERR_MALFORMED, "94 01 a0 a0 00" },
	{ "int for str", 0, PROTO_S2W, PROTO_ERR_MALFORMED, "94 01 01 05 00" },
	{ "nil for u64", 0, PROTO_S2W, PROTO_ERR_MALFORMED, "94 01 c0 a0 00" },
	{ "bool for u64", 0, PROTO_S2W, PROTO_ERR_MALFORMED, "94 01 c3 a0 00" },
	{ "float32 for u64", 0, PROTO_S2W, PROTO_ERR_MALFORMED, "94 01 ca 3f 80 00 00 a0 00" },
	{ "float64 for u64", 0, PROTO_S2W, PROTO_ERR_MALFORMED,
	  "94 01 cb 3f f0 00 00 00 00 00 00 a0 00" },
	{ "ext for str", 0, PROTO_S2W, PROTO_ERR_MALFORMED, "94 01 01 d4 01 00 00" },
	{ "array for kv", 0, PROTO_S2W, PROTO_ERR_MALFORMED, "97 03 a1 61 a1 62 90 80 00 00" },
	{ "map for list", 0, PROTO_W2S, PROTO_ERR_MALFORMED,
	  "9d 02 a0 a0 a0 a0 00 a0 90 a0 a0 90 80 a0" },
	{ "str for table", 0, PROTO_W2S, PROTO_ERR_MALFORMED,
	  "9d 02 a0 a0 a0 a0 00 a0 a0 a0 a0 90 90 a0" },
	{ "str as type", 0, PROTO_S2W, PROTO_ERR_MALFORMED, "94 a1 01 01 a0 00" },
	/* Negative integers. */
	{ "negative fixint", 0, PROTO_S2W, PROTO_ERR_MALFORMED, "94 01 01 a0 ff" },
	{ "negative int8", 0, PROTO_S2W, PROTO_ERR_MALFORMED, "94 01 01 a0 d0 80" },
	{ "negative int16", 0, PROTO_S2W, PROTO_ERR_MALFORMED, "94 01 01 a0 d1 ff ff" },
	{ "negative int32", 0, PROTO_S2W, PROTO_ERR_MALFORMED, "94 01 01 a0 d2 80 00 00 00" },
	{ "negative int64", 0, PROTO_S2W, PROTO_ERR_MALFORMED,
	  "94 01 01 a0 d3 ff ff ff ff ff ff ff ff" },
	{ "negative type", 0, PROTO_S2W, PROTO_ERR_MALFORMED, "92 ff 01" },
	{ "u64 cut", 0, PROTO_S2W, PROTO_ERR_MALFORMED, "94 01 01 a0 cf 00 00" },
	/* Unknown types. */
	{ "type 0", 0, PROTO_S2W, PROTO_ERR_UNKNOWN, "92 00 01" },
	{ "type 15", 0, PROTO_S2W, PROTO_ERR_UNKNOWN, "92 0f 01" },
	{ "type 63", 0, PROTO_S2W, PROTO_ERR_UNKNOWN, "91 3f" },
	{ "type 65", 0, PROTO_REC, PROTO_ERR_UNKNOWN, "91 41" },
	{ "type 200", 0, PROTO_W2S, PROTO_ERR_UNKNOWN, "91 cc c8" },
	{ "type 2^32-1", 0, PROTO_W2S, PROTO_ERR_UNKNOWN, "91 ce ff ff ff ff" },
	{ "type 2^32+1", 0, PROTO_W2S, PROTO_ERR_UNKNOWN, "91 cf 00 00 00 01 00 00 00 01" },
	{ "unknown type early", 1, PROTO_W2S, PROTO_ERR_UNKNOWN, "00010000 93 63" },
	/* Directions. */
	{ "ack to a worker", 0, PROTO_S2W, PROTO_ERR_DIRECTION, "92 05 01" },
	{ "ping to the supervisor", 0, PROTO_W2S, PROTO_ERR_DIRECTION, "92 0a 01" },
	{ "hello as a record", 0, PROTO_REC, PROTO_ERR_DIRECTION, "94 01 01 a0 00" },
	{ "record on the wire", 0, PROTO_W2S, PROTO_ERR_DIRECTION, "95 40 a0 00 80 80" },
	{ "user record", 0, PROTO_REC, PROTO_OK, "95 40 a0 00 80 80" },
	{ "record to a worker", 0, PROTO_S2W, PROTO_ERR_DIRECTION, "95 40 a0 00 80 80" },
	{ "wrong direction early", 1, PROTO_S2W, PROTO_ERR_DIRECTION, "00010000 93 06" },
	/* Embedded NUL. */
	{ "NUL in str", 0, PROTO_S2W, PROTO_ERR_MALFORMED, "94 01 01 a3 61 00 62 00" },
	{ "NUL in kv value", 0, PROTO_S2W, PROTO_ERR_MALFORMED,
	  "97 03 a1 61 a1 62 81 a1 6b a1 00 80 00 00" },
	{ "NUL in list item", 0, PROTO_W2S, PROTO_ERR_MALFORMED,
	  "9d 02 a0 a0 a0 a0 00 a0 90 a0 a0 90 91 a2 00 61 a0" },
	/* Accepted oddities: non-minimal but valid forms. */
	{ "non-negative int8", 0, PROTO_S2W, PROTO_OK, "94 01 01 a0 d0 05" },
	{ "non-negative int64", 0, PROTO_S2W, PROTO_OK, "94 01 01 a0 d3 7f ff ff ff ff ff ff ff" },
	{ "uint64 max", 0, PROTO_S2W, PROTO_OK, "94 01 01 a0 cf ff ff ff ff ff ff ff ff" },
	{ "type as uint8", 0, PROTO_S2W, PROTO_OK, "94 cc 01 01 a0 00" },
	{ "array16 header", 0, PROTO_S2W, PROTO_OK, "dc 00 04 01 01 a0 00" },
	{ "str16 for short", 0, PROTO_S2W, PROTO_OK, "93 04 01 da 00 03 61 62 63" },
	{ "str32 for empty", 0, PROTO_S2W, PROTO_OK, "94 01 01 db 00 00 00 00 00" },
	{ "map32 for kv", 0, PROTO_S2W, PROTO_OK,
	  "97 03 a1 61 a1 62 df 00 00 00 01 a1 6b a0 80 00 00" },
	{ "utf-8 and high bytes", 0, PROTO_S2W, PROTO_OK, "94 01 01 a3 c3 a9 ff 00" },
};

static size_t unhex(const char *hex, unsigned char *out, size_t cap)
{
	size_t n = 0;
	unsigned v;

	while (*hex) {
		if (*hex == ' ') {
			hex++;
			continue;
		}
		if (sscanf(hex, "%2x", &v) != 1 || n == cap) {
			fprintf(stderr, "bad hex %s\n", hex);
			exit(2);
		}
		out[n++] = (unsigned char)v;
		hex += 2;
	}
	return n;
}

static void test_hostile(void)
{
	unsigned char in[512], frame[520];
	struct proto_msg m;
	enum proto_err e;
	size_t i, n, flen, consumed;

	proto_set_alloc_observer(observe);
	for (i = 0; i < NELEM(hostile); i++) {
		const struct hostile *h = &hostile[i];

		n = unhex(h->hex, in, sizeof(in));
		if (h->raw) {
			memcpy(frame, in, n);
			flen = n;
		} else {
			frame[0] = (unsigned char)(n >> 24);
			frame[1] = (unsigned char)(n >> 16);
			frame[2] = (unsigned char)(n >> 8);
			frame[3] = (unsigned char)n;
			memcpy(frame + 4, in, n);
			flen = n + 4;
		}
		memset(&m, 0x55, sizeof(m));
		alloc_total = 0;
		e = proto_decode_frame((const char *)frame, flen, h->dir, &consumed, &m);
		CHECK(e == h->want, "%s: got %s, want %s", h->name, proto_strerror(e),
		    proto_strerror(h->want));
		CHECK(alloc_total <= HOSTILE_ALLOC_MAX, "%s: allocated %zu bytes", h->name,
		    alloc_total);
		if (e != PROTO_OK)
			CHECK(m.type == 0 && m.nfields == 0 && m.v[0].s == NULL, "%s: m not zeroed",
			    h->name);
		else
			CHECK(consumed == flen, "%s: consumed %zu", h->name, consumed);
		proto_msg_free(&m);

		/* The same payload as a stored record, where the reader accepts it. */
		if (!h->raw && h->want != PROTO_ERR_DIRECTION) {
			alloc_total = 0;
			e = proto_decode_payload((const char *)in, n, h->dir, &m);
			CHECK(e == h->want, "%s as payload: got %s", h->name, proto_strerror(e));
			CHECK(alloc_total <= HOSTILE_ALLOC_MAX, "%s as payload: allocated %zu",
			    h->name, alloc_total);
			proto_msg_free(&m);
		}
	}

	/* Every truncation of the payloads gives INCOMPLETE (allocating nothing) while the
	 * frame is not complete: the prefix announces the full length. */
	for (i = 0; i < NELEM(hostile); i++) {
		const struct hostile *h = &hostile[i];
		size_t cut;

		if (h->raw)
			continue;
		n = unhex(h->hex, in, sizeof(in));
		frame[0] = (unsigned char)(n >> 24);
		frame[1] = (unsigned char)(n >> 16);
		frame[2] = (unsigned char)(n >> 8);
		frame[3] = (unsigned char)n;
		memcpy(frame + 4, in, n);
		for (cut = 0; cut < n + 4; cut++) {
			alloc_total = 0;
			e = proto_decode_frame((const char *)frame, cut, h->dir, &consumed, &m);
			/* The head may already be judged (unknown type, direction, field
			 * count), with the same verdict as the whole frame's. */
			CHECK(e == PROTO_ERR_INCOMPLETE || (e == h->want && e != PROTO_OK),
			    "%s cut %zu: %s", h->name, cut, proto_strerror(e));
			CHECK(alloc_total == 0, "%s cut %zu: allocated %zu", h->name, cut, alloc_total);
		}
	}

	/* A record over its type's size limit and one over PROTO_FRAME_MAX. */
	{
		size_t big = PROTO_FRAME_MAX + 1;
		char *p = calloc(1, big);

		p[0] = (char)0x95;
		p[1] = 0x40;
		alloc_total = 0;
		CHECK(proto_decode_payload(p, 512 * 1024 + 1, PROTO_REC, &m) == PROTO_ERR_TOO_BIG,
		    "record over max_frame");
		CHECK(proto_decode_payload(p, big, PROTO_REC, &m) == PROTO_ERR_TOO_BIG,
		    "record over PROTO_FRAME_MAX");
		CHECK(alloc_total == 0, "big record allocated %zu", alloc_total);
		free(p);
	}
	proto_set_alloc_observer(NULL);
}

/* Two frames back to back, and the stream cut at every byte. */
static void test_stream(void)
{
	struct proto_val v[PROTO_FIELDS_MAX];
	struct buf b = BUF_INIT;
	struct proto_msg m;
	size_t consumed, off, n = 0;

	memset(v, 0, sizeof(v));
	for (uint64_t seq = 0; seq < 50; seq++) {
		v[PING_seq].u = seq * 1000003u;
		CHECK(proto_encode(&b, PROTO_PING, v) == 0, "ping %llu", (unsigned long long)seq);
	}
	for (off = 0; off < buf_avail(&b); off += consumed, n++) {
		CHECK(proto_decode_frame(buf_head(&b) + off, buf_avail(&b) - off, PROTO_S2W,
		    &consumed, &m) == PROTO_OK, "frame %zu", n);
		CHECK(m.type == PROTO_PING && m.v[PING_seq].u == n * 1000003u, "seq of %zu", n);
		proto_msg_free(&m);
		if (consumed == 0)
			break;
	}
	CHECK(n == 50, "decoded %zu frames", n);
	buf_free(&b, 0);
}

int main(void)
{
	test_table();
	test_encoder();
	test_helpers();
	test_hostile();
	test_stream();
	arena_free();
	free(arena);
	if (failures) {
		fprintf(stderr, "proto_test: %d failures\n", failures);
		return 1;
	}
	printf("proto_test: ok\n");
	return 0;
}
