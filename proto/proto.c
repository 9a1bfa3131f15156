/* proto.c: the message table built from messages.def, framing, encoding with msgpack-c and
 * our own bounded, strict decoder.
 *
 * The decoder never uses msgpack-c: its unpacker trusts the counts in a header and maps
 * gigabytes for a five-byte hostile frame. Ours reads only the formats the table allows,
 * checks every count and length against the bytes left and against the table before it
 * allocates, and ends with an "at end" check. */
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "proto.h"

/* Field descriptors: one array per message. */
#define MSG(n, t, d, sz) static const struct proto_desc_field fields_##n[] = {
#define FIELD(m, f, k, max) { #f, PROTO_##k, (max) },
#define END(n) };
#include "messages.def"
#undef MSG
#undef FIELD
#undef END

/* Names for logs. messages.def spells them in capitals and the preprocessor cannot
 * lower-case, so they are writable arrays that proto_names_init() lower-cases once at
 * program start, before any thread exists. */
#define MSG(n, t, d, sz) static char name_##n[] = #n;
#define FIELD(m, f, k, max)
#define END(n)
#include "messages.def"
#undef MSG
#undef FIELD
#undef END

/* What the table must satisfy, checked by the compiler: numbers fit the descriptor array,
 * no type exceeds the global frame limit, no message has more fields than proto_msg. */
#define MSG(n, t, d, sz) \
	_Static_assert((t) > 0 && (t) < PROTO_TYPE_MAX, "type number of " #n " out of range"); \
	_Static_assert((sz) > 0 && (sz) <= PROTO_FRAME_MAX, "max_frame of " #n " out of range");
#define FIELD(m, f, k, max)
#define END(n) _Static_assert(n##__NFIELDS <= PROTO_FIELDS_MAX, "too many fields in " #n);
#include "messages.def"
#undef MSG
#undef FIELD
#undef END

/* Indexed by type number; a duplicate number is caught by -Woverride-init. */
static const struct proto_desc descs[PROTO_TYPE_MAX] = {
#define MSG(n, t, d, sz) [t] = { PROTO_##n, name_##n, PROTO_##d, (sz), n##__NFIELDS, fields_##n },
#define FIELD(m, f, k, max)
#define END(n)
#include "messages.def"
#undef MSG
#undef FIELD
#undef END
};

static void lower(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

__attribute__((constructor)) static void proto_names_init(void)
{
#define MSG(n, t, d, sz) lower(name_##n);
#define FIELD(m, f, k, max)
#define END(n)
#include "messages.def"
#undef MSG
#undef FIELD
#undef END
}

const struct proto_desc *proto_desc(uint32_t type)
{
	if (type >= PROTO_TYPE_MAX || descs[type].type == 0)
		return NULL;
	return &descs[type];
}

const char *proto_name(uint32_t type)
{
	const struct proto_desc *d = proto_desc(type);

	return d ? d->name : "unknown";
}

const char *proto_strerror(enum proto_err e)
{
	switch (e) {
	case PROTO_OK: return "ok";
	case PROTO_ERR_INCOMPLETE: return "incomplete frame";
	case PROTO_ERR_TOO_BIG: return "frame too big";
	case PROTO_ERR_MALFORMED: return "malformed frame";
	case PROTO_ERR_UNKNOWN: return "unknown message type";
	case PROTO_ERR_DIRECTION: return "message type not allowed in this direction";
	case PROTO_ERR_NOMEM: return "out of memory";
	}
	return "unknown error";
}

/* ---- allocation (every allocation of decoded data and helpers goes through here) ---- */

static void (*alloc_observer)(size_t n);

void proto_set_alloc_observer(void (*fn)(size_t n))
{
	alloc_observer = fn;
}

static void *p_realloc(void *p, size_t n)
{
	if (alloc_observer)
		alloc_observer(n);
	return realloc(p, n ? n : 1);
}

static void *p_calloc(size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		return NULL;
	if (alloc_observer)
		alloc_observer(n * size);
	return calloc(n ? n : 1, size ? size : 1);
}

/* A NUL-terminated copy of p[0..n). */
static char *p_memdup(const void *p, size_t n)
{
	char *s;

	if (n == SIZE_MAX)
		return NULL;
	s = p_realloc(NULL, n + 1);
	if (!s)
		return NULL;
	if (n)
		memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

static char *p_strdup(const char *s)
{
	return p_memdup(s, strlen(s));
}

/* ---- encoding ---- */

/* Sizes of the msgpack headers msgpack-c writes (it always picks the smallest form). */
static size_t size_uint(uint64_t u)
{
	if (u < 128)
		return 1;
	if (u < 256)
		return 2;
	if (u < 65536)
		return 3;
	if (u <= UINT32_MAX)
		return 5;
	return 9;
}

static size_t size_str_hdr(size_t len)
{
	return len < 32 ? 1 : len < 256 ? 2 : len < 65536 ? 3 : 5;
}

static size_t size_bin_hdr(size_t len)
{
	return len < 256 ? 2 : len < 65536 ? 3 : 5;
}

/* Arrays and maps have the same header sizes. */
static size_t size_container_hdr(size_t n)
{
	return n < 16 ? 1 : n < 65536 ? 3 : 5;
}

/* Add the packed size of the strings of l (without the list's own header) to *sz. Each
 * string must be non-NULL and at most PROTO_ITEM_MAX bytes. Stops as soon as the total
 * passes PROTO_FRAME_MAX, so a huge list costs no long scan. */
static int list_size(const struct proto_list *l, size_t *sz)
{
	size_t i, len;

	if (l->n > 0 && !l->v)
		return -1;
	for (i = 0; i < l->n; i++) {
		if (!l->v[i])
			return -1;
		len = strnlen(l->v[i], PROTO_ITEM_MAX + 1);
		if (len > PROTO_ITEM_MAX)
			return -1;
		*sz += size_str_hdr(len) + len;
		if (*sz > PROTO_FRAME_MAX)
			return -1;
	}
	return 0;
}

/* The string an STR value stands for: NULL is "", len 0 means strlen. */
static int str_value(const struct proto_val *v, size_t max, const char **s, size_t *len)
{
	if (!v->s) {
		if (v->len)
			return -1;
		*s = "";
		*len = 0;
		return 0;
	}
	*s = v->s;
	if (v->len == 0) {
		*len = strnlen(v->s, max + 1);
		return *len > max ? -1 : 0;
	}
	*len = v->len;
	/* The decoder refuses a NUL inside a string (it hands out C strings), so a frame
	 * carrying one could never be read back. */
	if (*len > max || memchr(v->s, '\0', *len))
		return -1;
	return 0;
}

/* Check every value against the table and compute the payload's exact packed size. */
static int payload_size(const struct proto_desc *d, const struct proto_val *v, size_t *out)
{
	size_t i, r, sz, len;
	const char *s;

	sz = size_container_hdr(d->nfields + 1) + size_uint(d->type);
	for (i = 0; i < d->nfields; i++) {
		const struct proto_desc_field *f = &d->fields[i];

		switch (f->kind) {
		case PROTO_U64:
			sz += size_uint(v[i].u);
			break;
		case PROTO_STR:
			if (str_value(&v[i], f->max, &s, &len) < 0)
				return -1;
			sz += size_str_hdr(len) + len;
			break;
		case PROTO_BIN:
			if ((v[i].len && !v[i].s) || v[i].len > f->max)
				return -1;
			sz += size_bin_hdr(v[i].len) + v[i].len;
			break;
		case PROTO_LIST:
			if (v[i].list.n > f->max)
				return -1;
			sz += size_container_hdr(v[i].list.n);
			if (list_size(&v[i].list, &sz) < 0)
				return -1;
			break;
		case PROTO_KV:
			if (v[i].list.n % 2 || v[i].list.n / 2 > f->max)
				return -1;
			sz += size_container_hdr(v[i].list.n / 2);
			if (list_size(&v[i].list, &sz) < 0)
				return -1;
			break;
		case PROTO_TABLE:
			if (v[i].table.n > f->max || (v[i].table.n && !v[i].table.rows))
				return -1;
			sz += size_container_hdr(v[i].table.n);
			for (r = 0; r < v[i].table.n; r++) {
				sz += size_container_hdr(v[i].table.rows[r].n);
				if (list_size(&v[i].table.rows[r], &sz) < 0)
					return -1;
			}
			break;
		default:
			return -1;
		}
		if (sz > PROTO_FRAME_MAX)
			return -1;
	}
	*out = sz;
	return 0;
}

static int pack_write(void *data, const char *p, size_t n)
{
	return buf_append(data, p, n);
}

static int pack_list(msgpack_packer *pk, const struct proto_list *l)
{
	size_t i, len;

	for (i = 0; i < l->n; i++) {
		len = strlen(l->v[i]);
		if (msgpack_pack_str(pk, len) < 0 || msgpack_pack_str_body(pk, l->v[i], len) < 0)
			return -1;
	}
	return 0;
}

/* Pack the payload; the values were checked by payload_size. */
static int pack_payload(msgpack_packer *pk, const struct proto_desc *d,
    const struct proto_val *v)
{
	size_t i, r, len;
	const char *s;

	if (msgpack_pack_array(pk, d->nfields + 1) < 0 || msgpack_pack_uint32(pk, d->type) < 0)
		return -1;
	for (i = 0; i < d->nfields; i++) {
		const struct proto_desc_field *f = &d->fields[i];

		switch (f->kind) {
		case PROTO_U64:
			if (msgpack_pack_uint64(pk, v[i].u) < 0)
				return -1;
			break;
		case PROTO_STR:
			if (str_value(&v[i], f->max, &s, &len) < 0 ||
			    msgpack_pack_str(pk, len) < 0 || msgpack_pack_str_body(pk, s, len) < 0)
				return -1;
			break;
		case PROTO_BIN:
			if (msgpack_pack_bin(pk, v[i].len) < 0 ||
			    msgpack_pack_bin_body(pk, v[i].len ? v[i].s : "", v[i].len) < 0)
				return -1;
			break;
		case PROTO_LIST:
			if (msgpack_pack_array(pk, v[i].list.n) < 0 || pack_list(pk, &v[i].list) < 0)
				return -1;
			break;
		case PROTO_KV:
			if (msgpack_pack_map(pk, v[i].list.n / 2) < 0 || pack_list(pk, &v[i].list) < 0)
				return -1;
			break;
		case PROTO_TABLE:
			if (msgpack_pack_array(pk, v[i].table.n) < 0)
				return -1;
			for (r = 0; r < v[i].table.n; r++)
				if (msgpack_pack_array(pk, v[i].table.rows[r].n) < 0 ||
				    pack_list(pk, &v[i].table.rows[r]) < 0)
					return -1;
			break;
		default:
			return -1;
		}
	}
	return 0;
}

static int encode(struct buf *out, enum proto_type t, const struct proto_val *v, int prefix)
{
	const struct proto_desc *d = proto_desc(t);
	msgpack_packer pk;
	size_t psz, total, before;
	unsigned char hdr[4];

	if (!d || !v || payload_size(d, v, &psz) < 0 || psz > d->max_frame)
		return -1;
	total = psz + (prefix ? 4 : 0);
	/* Reserve it all first: the appends below then cannot fail, and the buffer can be
	 * cut back to "before" if anything still goes wrong. Measured after the reserve,
	 * which may move the unconsumed bytes to the front. */
	if (buf_reserve(out, total) < 0)
		return -1;
	before = buf_avail(out);
	if (prefix) {
		hdr[0] = (unsigned char)(psz >> 24);
		hdr[1] = (unsigned char)(psz >> 16);
		hdr[2] = (unsigned char)(psz >> 8);
		hdr[3] = (unsigned char)psz;
		if (buf_append(out, hdr, 4) < 0)
			goto fail;
	}
	msgpack_packer_init(&pk, out, pack_write);
	if (pack_payload(&pk, d, v) < 0)
		goto fail;
	/* payload_size must agree with msgpack-c to the byte, or the prefix lies. */
	if (buf_avail(out) - before != total)
		goto fail;
	return 0;

fail:
	out->len = out->off + before;
	if (out->data)
		out->data[out->len] = '\0';
	return -1;
}

int proto_encode(struct buf *out, enum proto_type t, const struct proto_val *v)
{
	return encode(out, t, v, 1);
}

int proto_encode_payload(struct buf *out, enum proto_type t, const struct proto_val *v)
{
	return encode(out, t, v, 0);
}

/* ---- decoding ---- */

/* A cursor over bytes that are all there is to read. Running out of bytes is reported as
 * PROTO_ERR_INCOMPLETE; the caller decides whether that means "wait" (a frame whose end
 * has not arrived) or "malformed" (a complete payload that is too short). */
struct rd {
	const uint8_t *p;
	size_t left;
};

static enum proto_err rd_byte(struct rd *r, uint8_t *b)
{
	if (r->left < 1)
		return PROTO_ERR_INCOMPLETE;
	*b = *r->p++;
	r->left--;
	return PROTO_OK;
}

/* A big-endian unsigned integer of n bytes (1, 2, 4 or 8). */
static enum proto_err rd_be(struct rd *r, size_t n, uint64_t *v)
{
	size_t i;

	if (r->left < n)
		return PROTO_ERR_INCOMPLETE;
	*v = 0;
	for (i = 0; i < n; i++)
		*v = (*v << 8) | r->p[i];
	r->p += n;
	r->left -= n;
	return PROTO_OK;
}

/* A non-negative integer: positive fixint, uint8..64, or int8..64 holding a value >= 0. */
static enum proto_err rd_uint(struct rd *r, uint64_t *u)
{
	enum proto_err e;
	uint8_t b;
	size_t n;

	if ((e = rd_byte(r, &b)) != PROTO_OK)
		return e;
	if (b <= 0x7f) {
		*u = b;
		return PROTO_OK;
	}
	if (b >= 0xcc && b <= 0xcf)
		return rd_be(r, (size_t)1 << (b - 0xcc), u);
	if (b >= 0xd0 && b <= 0xd3) {
		n = (size_t)1 << (b - 0xd0);
		if ((e = rd_be(r, n, u)) != PROTO_OK)
			return e;
		if (*u >> (8 * n - 1))
			return PROTO_ERR_MALFORMED; /* negative */
		return PROTO_OK;
	}
	return PROTO_ERR_MALFORMED;
}

enum hdr_kind { HDR_STR, HDR_BIN, HDR_ARRAY, HDR_MAP };

/* The header of a string, binary, array or map: its length or count. Any other format
 * (including the right kind spelt differently, e.g. a bin where a str belongs) is refused. */
static enum proto_err rd_hdr(struct rd *r, enum hdr_kind kind, uint64_t *n)
{
	enum proto_err e;
	uint8_t b;

	if ((e = rd_byte(r, &b)) != PROTO_OK)
		return e;
	switch (kind) {
	case HDR_STR:
		if (b >= 0xa0 && b <= 0xbf) {
			*n = b & 0x1f;
			return PROTO_OK;
		}
		if (b >= 0xd9 && b <= 0xdb)
			return rd_be(r, (size_t)1 << (b - 0xd9), n);
		break;
	case HDR_BIN:
		if (b >= 0xc4 && b <= 0xc6)
			return rd_be(r, (size_t)1 << (b - 0xc4), n);
		break;
	case HDR_ARRAY:
		if (b >= 0x90 && b <= 0x9f) {
			*n = b & 0x0f;
			return PROTO_OK;
		}
		if (b == 0xdc || b == 0xdd)
			return rd_be(r, b == 0xdc ? 2 : 4, n);
		break;
	case HDR_MAP:
		if (b >= 0x80 && b <= 0x8f) {
			*n = b & 0x0f;
			return PROTO_OK;
		}
		if (b == 0xde || b == 0xdf)
			return rd_be(r, b == 0xde ? 2 : 4, n);
		break;
	}
	return PROTO_ERR_MALFORMED;
}

/* A string (or binary when bin is set) of at most max bytes, copied NUL-terminated into
 * *out (caller frees). Strings may not hold a NUL byte: they are handed out as C strings
 * and a NUL would silently cut them. */
static enum proto_err rd_str(struct rd *r, int bin, size_t max, char **out, size_t *outlen)
{
	enum proto_err e;
	uint64_t len;

	if ((e = rd_hdr(r, bin ? HDR_BIN : HDR_STR, &len)) != PROTO_OK)
		return e;
	if (len > max)
		return PROTO_ERR_MALFORMED;
	if (len > r->left)
		return PROTO_ERR_INCOMPLETE;
	if (!bin && memchr(r->p, '\0', (size_t)len))
		return PROTO_ERR_MALFORMED;
	if (!(*out = p_memdup(r->p, (size_t)len)))
		return PROTO_ERR_NOMEM;
	if (outlen)
		*outlen = (size_t)len;
	r->p += len;
	r->left -= (size_t)len;
	return PROTO_OK;
}

/* An array (or, with map set, a map) of strings into l. count is checked against max and
 * against the bytes left (every string needs at least one byte) before the vector is
 * allocated. On error l holds what was read so far (the caller frees it). */
static enum proto_err rd_list(struct rd *r, int map, size_t max, struct proto_list *l)
{
	enum proto_err e;
	uint64_t count, i;

	if ((e = rd_hdr(r, map ? HDR_MAP : HDR_ARRAY, &count)) != PROTO_OK)
		return e;
	if (count > max)
		return PROTO_ERR_MALFORMED;
	if (map) {
		if (count > r->left / 2)
			return PROTO_ERR_INCOMPLETE;
		count *= 2;
	} else if (count > r->left) {
		return PROTO_ERR_INCOMPLETE;
	}
	if (count == 0)
		return PROTO_OK;
	if (!(l->v = p_calloc((size_t)count, sizeof(*l->v))))
		return PROTO_ERR_NOMEM;
	l->n = (size_t)count;
	for (i = 0; i < count; i++)
		if ((e = rd_str(r, 0, PROTO_ITEM_MAX, &l->v[i], NULL)) != PROTO_OK)
			return e;
	return PROTO_OK;
}

static enum proto_err rd_table(struct rd *r, size_t max, struct proto_table *t)
{
	enum proto_err e;
	uint64_t count, i;

	if ((e = rd_hdr(r, HDR_ARRAY, &count)) != PROTO_OK)
		return e;
	if (count > max)
		return PROTO_ERR_MALFORMED;
	if (count > r->left)
		return PROTO_ERR_INCOMPLETE;
	if (count == 0)
		return PROTO_OK;
	if (!(t->rows = p_calloc((size_t)count, sizeof(*t->rows))))
		return PROTO_ERR_NOMEM;
	t->n = (size_t)count;
	for (i = 0; i < count; i++)
		if ((e = rd_list(r, 0, SIZE_MAX, &t->rows[i])) != PROTO_OK)
			return e;
	return PROTO_OK;
}

/* Read the payload's head (array header and type) and check it against the table: the
 * type exists, dir accepts it, the payload size plen fits its max_frame, and the array
 * holds exactly its fields. */
static enum proto_err rd_head(struct rd *r, enum proto_dir dir, size_t plen,
    const struct proto_desc **dp)
{
	enum proto_err e;
	uint64_t count, type;
	const struct proto_desc *d;

	if ((e = rd_hdr(r, HDR_ARRAY, &count)) != PROTO_OK)
		return e;
	if ((e = rd_uint(r, &type)) != PROTO_OK)
		return e;
	if (type > UINT32_MAX || !(d = proto_desc((uint32_t)type)))
		return PROTO_ERR_UNKNOWN;
	if (!(d->dir & dir))
		return PROTO_ERR_DIRECTION;
	if (plen > d->max_frame)
		return PROTO_ERR_TOO_BIG;
	if (count != d->nfields + 1)
		return PROTO_ERR_MALFORMED;
	*dp = d;
	return PROTO_OK;
}

/* Decode a complete payload p[0..n): running out of bytes anywhere is malformed. */
static enum proto_err decode_payload(const uint8_t *p, size_t n, enum proto_dir dir,
    struct proto_msg *m)
{
	struct rd r = { p, n };
	const struct proto_desc *d = NULL;
	enum proto_err e;
	size_t i;

	memset(m, 0, sizeof(*m));
	if (n > PROTO_FRAME_MAX)
		return PROTO_ERR_TOO_BIG;
	if ((e = rd_head(&r, dir, n, &d)) != PROTO_OK)
		goto fail;
	m->type = d->type;
	for (i = 0; i < d->nfields; i++) {
		const struct proto_desc_field *f = &d->fields[i];
		struct proto_val *v = &m->v[i];
		char *s = NULL;

		/* Counted before the field is read, so that proto_msg_free releases a field
		 * left half-read by an error. */
		m->nfields = i + 1;
		switch (f->kind) {
		case PROTO_U64:
			e = rd_uint(&r, &v->u);
			break;
		case PROTO_STR:
		case PROTO_BIN:
			e = rd_str(&r, f->kind == PROTO_BIN, f->max, &s, &v->len);
			v->s = s;
			break;
		case PROTO_LIST:
			e = rd_list(&r, 0, f->max, &v->list);
			break;
		case PROTO_KV:
			e = rd_list(&r, 1, f->max, &v->list);
			break;
		case PROTO_TABLE:
			e = rd_table(&r, f->max, &v->table);
			break;
		default:
			e = PROTO_ERR_MALFORMED;
			break;
		}
		if (e != PROTO_OK)
			goto fail;
	}
	if (r.left != 0) {
		e = PROTO_ERR_MALFORMED; /* trailing bytes */
		goto fail;
	}
	return PROTO_OK;

fail:
	proto_msg_free(m);
	return e == PROTO_ERR_INCOMPLETE ? PROTO_ERR_MALFORMED : e;
}

static uint32_t be32(const char *p)
{
	const uint8_t *u = (const uint8_t *)p;

	return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
}

enum proto_err proto_decode_frame(const char *data, size_t len, enum proto_dir dir,
    size_t *consumed, struct proto_msg *m)
{
	const struct proto_desc *d;
	enum proto_err e;
	struct rd r;
	uint32_t plen;

	memset(m, 0, sizeof(*m));
	*consumed = 0;
	if (len < 4)
		return PROTO_ERR_INCOMPLETE;
	plen = be32(data);
	if (plen > PROTO_FRAME_MAX)
		return PROTO_ERR_TOO_BIG;
	/* Judge the head (type, direction, the type's size limit, field count) as soon as
	 * its bytes are in, so that a hostile frame is refused without waiting for (or
	 * buffering) the megabyte it announces. */
	r.p = (const uint8_t *)data + 4;
	r.left = len - 4 < plen ? len - 4 : plen;
	if ((e = rd_head(&r, dir, plen, &d)) != PROTO_OK) {
		if (e == PROTO_ERR_INCOMPLETE && len - 4 >= plen)
			return PROTO_ERR_MALFORMED;
		return e;
	}
	if (len - 4 < plen)
		return PROTO_ERR_INCOMPLETE;
	if ((e = decode_payload((const uint8_t *)data + 4, plen, dir, m)) != PROTO_OK)
		return e;
	*consumed = 4 + (size_t)plen;
	return PROTO_OK;
}

enum proto_err proto_decode_payload(const char *data, size_t len, enum proto_dir dir,
    struct proto_msg *m)
{
	return decode_payload((const uint8_t *)data, len, dir, m);
}

int proto_frame_peek(const char *data, size_t len, uint32_t *length, uint32_t *type)
{
	struct rd r;
	uint64_t count, t;

	*type = UINT32_MAX;
	if (len < 4)
		return -1;
	*length = be32(data);
	r.p = (const uint8_t *)data + 4;
	r.left = len - 4 < *length ? len - 4 : *length;
	if (rd_hdr(&r, HDR_ARRAY, &count) == PROTO_OK && rd_uint(&r, &t) == PROTO_OK &&
	    t < UINT32_MAX)
		*type = (uint32_t)t;
	return 0;
}

void proto_msg_free(struct proto_msg *m)
{
	const struct proto_desc *d = proto_desc(m->type);
	size_t i;

	for (i = 0; d && i < m->nfields && i < d->nfields; i++) {
		switch (d->fields[i].kind) {
		case PROTO_STR:
		case PROTO_BIN:
			free((char *)m->v[i].s);
			break;
		case PROTO_LIST:
		case PROTO_KV:
			proto_list_free(&m->v[i].list);
			break;
		case PROTO_TABLE:
			proto_table_free(&m->v[i].table);
			break;
		default:
			break;
		}
	}
	memset(m, 0, sizeof(*m));
}

/* ---- lists, KV, tables ---- */

const char *proto_kv_get(const struct proto_list *kv, const char *key)
{
	size_t i;

	for (i = 0; i + 1 < kv->n; i += 2)
		if (kv->v[i] && strcmp(kv->v[i], key) == 0)
			return kv->v[i + 1];
	return NULL;
}

int proto_kv_set(struct proto_list *kv, const char *key, const char *value)
{
	char *k = NULL, *val, **nv;
	size_t i;

	if (!(val = p_strdup(value)))
		return -1;
	for (i = 0; i + 1 < kv->n; i += 2) {
		if (kv->v[i] && strcmp(kv->v[i], key) == 0) {
			free(kv->v[i + 1]);
			kv->v[i + 1] = val;
			return 0;
		}
	}
	if (kv->n > SIZE_MAX / sizeof(*nv) - 2 || !(k = p_strdup(key)))
		goto fail;
	if (!(nv = p_realloc(kv->v, (kv->n + 2) * sizeof(*nv))))
		goto fail;
	nv[kv->n] = k;
	nv[kv->n + 1] = val;
	kv->v = nv;
	kv->n += 2;
	return 0;

fail:
	free(k);
	free(val);
	return -1;
}

int proto_list_add(struct proto_list *l, const char *s)
{
	char *c, **nv;

	if (l->n > SIZE_MAX / sizeof(*nv) - 1 || !(c = p_strdup(s)))
		return -1;
	if (!(nv = p_realloc(l->v, (l->n + 1) * sizeof(*nv)))) {
		free(c);
		return -1;
	}
	nv[l->n++] = c;
	l->v = nv;
	return 0;
}

int proto_list_copy(struct proto_list *dst, const struct proto_list *src)
{
	size_t i;

	memset(dst, 0, sizeof(*dst));
	if (src->n == 0)
		return 0;
	if (!(dst->v = p_calloc(src->n, sizeof(*dst->v))))
		return -1;
	dst->n = src->n;
	for (i = 0; i < src->n; i++)
		if (src->v[i] && !(dst->v[i] = p_strdup(src->v[i])))
			goto fail;
	return 0;

fail:
	proto_list_free(dst);
	return -1;
}

void proto_list_free(struct proto_list *l)
{
	size_t i;

	for (i = 0; i < l->n && l->v; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

void proto_table_free(struct proto_table *t)
{
	size_t i;

	for (i = 0; i < t->n && t->rows; i++)
		proto_list_free(&t->rows[i]);
	free(t->rows);
	memset(t, 0, sizeof(*t));
}

int proto_table_add(struct proto_table *t, const struct proto_list *row)
{
	struct proto_list *nr;

	if (t->n > SIZE_MAX / sizeof(*nr) - 1)
		return -1;
	if (!(nr = p_realloc(t->rows, (t->n + 1) * sizeof(*nr))))
		return -1;
	t->rows = nr;
	if (proto_list_copy(&t->rows[t->n], row) < 0)
		return -1;
	t->n++;
	return 0;
}
