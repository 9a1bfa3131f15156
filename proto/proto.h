/* proto.h: messages between slidged and slidge-worker: types and fields generated from
 * messages.def, u32-length + msgpack framing, encoding (msgpack-c) and a bounded strict
 * decoder of our own (msgpack-c's unpacker maps gigabytes for hostile headers).
 *
 * Wire format of one frame: 4-byte big-endian payload length, then the payload: a
 * msgpack array [type, field1, field2, ...] whose elements match messages.def exactly. */
#ifndef SLIDGE_PROTO_H
#define SLIDGE_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define PROTO_VERSION 1
#define PROTO_FRAME_MAX (1024 * 1024)  /* no frame of any type is larger */
#define PROTO_ITEM_MAX (64 * 1024)     /* any string inside LIST, KV or TABLE */
#define PROTO_FIELDS_MAX 16

/* Rows of a form field TABLE (MANIFEST registration_fields, search_fields):
 * [var, type, label, required "1"/"0", value, desc, opt1value, opt1label, ...].
 * type is the XEP-0004 type ("text-single", "text-private", "boolean", ...). */
enum { PROTO_FIELD_VAR, PROTO_FIELD_TYPE, PROTO_FIELD_LABEL, PROTO_FIELD_REQUIRED,
	PROTO_FIELD_VALUE, PROTO_FIELD_DESC, PROTO_FIELD_OPTIONS };

/* VALIDATE_RESULT flags */
#define PROTO_VALIDATE_NO_2FA 1u /* validate() said no second factor is needed */

enum proto_dir { PROTO_S2W = 1, PROTO_W2S = 2, PROTO_BOTH = 3, PROTO_REC = 4,
	PROTO_C2S = 8,   /* slidgectl -> slidged (control.def) */
	PROTO_S2C = 16 };/* slidged -> slidgectl */
enum proto_kind { PROTO_U64 = 1, PROTO_STR, PROTO_BIN, PROTO_LIST, PROTO_KV, PROTO_TABLE };

/* Message types: PROTO_HELLO, PROTO_MANIFEST, ... */
#define MSG(n, t, d, sz) PROTO_##n = t,
#define FIELD(m, f, k, max)
#define END(n)
enum proto_type {
#include "messages.def"
	PROTO_TYPE_MAX = 65
};
#undef MSG
#undef FIELD
#undef END

/* Field indexes per message: HELLO_version, START_user_jid, ... and n##__NFIELDS. */
#define MSG(n, t, d, sz) enum proto_fields_##n {
#define FIELD(m, f, k, max) m##_##f,
#define END(n) n##__NFIELDS };
#include "messages.def"
#undef MSG
#undef FIELD
#undef END

/* A list of strings (LIST), or of key/value pairs (KV: v[2i] key, v[2i+1] value). */
struct proto_list {
	size_t n;      /* number of strings in v (for KV: twice the pairs) */
	char **v;      /* each NUL-terminated */
};

struct proto_table {
	size_t n;
	struct proto_list *rows;
};

struct proto_val {
	uint64_t u;               /* U64 */
	const char *s;            /* STR/BIN: for encoding, may be NULL (= ""); decoded
	                             strings are NUL-terminated copies */
	size_t len;               /* STR/BIN length; for encoding STR, 0 means strlen(s) */
	struct proto_list list;   /* LIST, KV */
	struct proto_table table; /* TABLE */
};

/* A decoded message; owns all its strings. */
struct proto_msg {
	enum proto_type type;
	size_t nfields;
	struct proto_val v[PROTO_FIELDS_MAX];
};

struct proto_desc_field {
	const char *name;
	enum proto_kind kind;
	size_t max;
};

struct proto_desc {
	enum proto_type type;     /* 0 for unused slots */
	const char *name;         /* lower-case, for logs */
	enum proto_dir dir;
	size_t max_frame;
	size_t nfields;
	const struct proto_desc_field *fields;
};

/* The descriptor of a type, or NULL if the number is not in the table. */
const struct proto_desc *proto_desc(uint32_t type);
/* Name of a type for logs ("unknown" if not in the table). */
const char *proto_name(uint32_t type);

/* Append one frame (length prefix + payload) encoding message type t with the values
 * v[0..nfields-1] (as many as the table says) to out. -1 if a value breaks the table's
 * limits or allocation fails (out is then unchanged). A STR with len 0 is strlen(s), s
 * NULL is ""; a STR or list string holding a NUL byte, a NULL list string and a KV list
 * with an odd count are refused, since the decoder would refuse them. */
int proto_encode(struct buf *out, enum proto_type t, const struct proto_val *v);
/* Same, without the 4-byte length prefix (for stored records). */
int proto_encode_payload(struct buf *out, enum proto_type t, const struct proto_val *v);

enum proto_err {
	PROTO_OK = 0,
	PROTO_ERR_INCOMPLETE = -1,  /* need more bytes */
	PROTO_ERR_TOO_BIG = -2,     /* length prefix above PROTO_FRAME_MAX or the type's max */
	PROTO_ERR_MALFORMED = -3,   /* not the msgpack the table says, or trailing bytes */
	PROTO_ERR_UNKNOWN = -4,     /* type not in the table */
	PROTO_ERR_DIRECTION = -5,   /* type not allowed in this direction */
	PROTO_ERR_NOMEM = -6,
};

/* Try to take one frame from the front of data[0..len). On PROTO_OK, *consumed is the
 * frame's size and m holds the message (free with proto_msg_free). dir is the direction
 * the reader accepts (PROTO_S2W in a worker, PROTO_W2S in the supervisor, PROTO_REC for
 * records): a type is accepted when its direction shares a bit with dir, so BOTH types
 * pass S2W and W2S readers, REC types only REC readers. Every count and length is checked
 * against the bytes left and the table before anything is allocated. A length prefix over
 * PROTO_FRAME_MAX is PROTO_ERR_TOO_BIG with only 4 bytes in; over the type's max_frame as
 * soon as the type is readable; an unknown type or a wrong direction is reported as soon
 * as the type is readable too. PROTO_ERR_INCOMPLETE allocates nothing. On any error m is
 * left zeroed. */
enum proto_err proto_decode_frame(const char *data, size_t len, enum proto_dir dir,
    size_t *consumed, struct proto_msg *m);
/* Decode a payload without length prefix (a stored record): the whole of data[0..len)
 * must be exactly one message (a short payload is PROTO_ERR_MALFORMED, never
 * INCOMPLETE). On any error m is left zeroed. */
enum proto_err proto_decode_payload(const char *data, size_t len, enum proto_dir dir,
    struct proto_msg *m);
/* Read the length prefix and, if already there, the type of the frame at the front of
 * data[0..len) without decoding the rest (for error messages). 0 if the prefix was
 * readable (*type is then the type, or UINT32_MAX if not readable yet or not a valid
 * header), -1 if fewer than 4 bytes. */
int proto_frame_peek(const char *data, size_t len, uint32_t *length, uint32_t *type);
const char *proto_strerror(enum proto_err e);
/* Free what a decoded message owns; m itself is not freed. Safe on a zeroed msg. */
void proto_msg_free(struct proto_msg *m);

/* KV helpers: value for key or NULL. */
const char *proto_kv_get(const struct proto_list *kv, const char *key);
/* Set key=value in a KV list (copies both; replaces an existing key). -1 on OOM. */
int proto_kv_set(struct proto_list *kv, const char *key, const char *value);
/* Append one string to a LIST (copied). -1 on OOM. */
int proto_list_add(struct proto_list *l, const char *s);
/* Deep copy into dst (whatever dst held is overwritten, not freed). -1 on OOM (dst is
 * then empty). */
int proto_list_copy(struct proto_list *dst, const struct proto_list *src);
void proto_list_free(struct proto_list *l);
void proto_table_free(struct proto_table *t);
/* Append a row (copied). -1 on OOM. */
int proto_table_add(struct proto_table *t, const struct proto_list *row);

/* Test hook: when set (non-NULL), fn is called with the size of every allocation the
 * decoder and the list/KV/table helpers are about to make. proto_test.c uses it to prove
 * that hostile frames cannot make the decoder allocate much. NULL removes it. */
void proto_set_alloc_observer(void (*fn)(size_t n));

#endif
