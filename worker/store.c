/* store.c: the per-user store of slidge-worker, the only file of the worker that
 * includes lmdb.h (slidge's xmpp_to_legacy_ids, legacy_ids_multi/xmpp_ids_multi and
 * contact_sent tables, reference/slidge.md §4).
 *
 * One LMDB environment, <state_dir>/messages.mdb (plus its -lock file): the state dir is
 * the only directory the sandbox lets a worker write. Every write is one transaction, so
 * a worker killed at any moment leaves the store as it was before or after that write.
 * Named databases:
 *   ids    kind byte + XMPP id   -> legacy id        (kind: STORE_MSG, STORE_THREAD)
 *   lids   kind byte + legacy id -> XMPP id
 *   multi  'X' + XMPP id -> legacy id; 'L' + legacy id -> XMPP ids, NUL-separated
 *   sent   8-byte hash of the contact JID + 8-byte serial -> JID NUL XMPP id
 *   log    8-byte big-endian serial -> what one write added (kind byte + its keys)
 *   kv     tag byte + key -> a record (the contact cache, the user's avatar hash): not
 *          in the log, bounded by the number of contacts (store_kv_*)
 * The log is what keeps the store bounded: past LOG_MAX records the oldest PRUNE_BATCH
 * are undone in the same transaction (an entry is deleted only if a newer write did not
 * replace it). A full map prunes half of the log and retries once.
 *
 * Without the store (it could not be opened), message and thread ids are kept in memory,
 * bounded (idmap.c), and multi-part and sent ids are not kept: the gateway works, with
 * slidge's behaviour for unknown ids. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include "log.h"
#include "worker.h"
#include "parity.h"

#define MAP_SIZE ((size_t)256 << 20)
#define LOG_MAX 100000          /* writes remembered: ~ that many messages of the user */
#define PRUNE_BATCH 1000
#define PARTS_MAX 64            /* XMPP messages of one multi-part legacy message */
#define KEY_BUF (STORE_ID_MAX + 2)
#define HASH_LEN 8
#define SERIAL_LEN 8

static MDB_env *env;
static MDB_dbi db_ids, db_lids, db_multi, db_sent, db_log, db_kv;
static uint64_t next_serial;
static struct idmap *mem_msg, *mem_thread;   /* the fallback */

/* ---- keys ------------------------------------------------------------------------ */

static void
put_be64(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--) {
		p[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

static uint64_t
get_be64(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static uint64_t
hash64(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

/* tag + id as a key in kbuf (KEY_BUF bytes). -1 if the id is empty or too long. */
static int
key_make(int tag, const char *id, unsigned char *kbuf, MDB_val *k)
{
	size_t n = strlen(id);

	if (n == 0 || n > STORE_ID_MAX)
		return -1;
	kbuf[0] = (unsigned char)tag;
	memcpy(kbuf + 1, id, n);
	k->mv_data = kbuf;
	k->mv_size = n + 1;
	return 0;
}

/* Copy a stored id into out (STORE_ID_BUF). -1 if it does not fit (a corrupt value). */
static int
val_copy(const MDB_val *v, char *out)
{
	if (v->mv_size == 0 || v->mv_size > STORE_ID_MAX ||
	    memchr(v->mv_data, '\0', v->mv_size) != NULL)
		return -1;
	memcpy(out, v->mv_data, v->mv_size);
	out[v->mv_size] = '\0';
	return 0;
}

static int
val_eq(const MDB_val *v, const char *s)
{
	return v->mv_size == strlen(s) && memcmp(v->mv_data, s, v->mv_size) == 0;
}

/* ---- open / close ------------------------------------------------------------------ */

int
store_open(const char *dir)
{
	char path[PATH_MAX];
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int rc, dead = 0;

	if (env != NULL)
		return 0;
	if ((size_t)snprintf(path, sizeof path, "%s/messages.mdb", dir) >= sizeof path) {
		log_error("store: path too long: %s", dir);
		return -1;
	}
	if ((rc = mdb_env_create(&env)) != 0) {
		env = NULL;
		goto fail;
	}
	if ((rc = mdb_env_set_mapsize(env, MAP_SIZE)) != 0 ||
	    (rc = mdb_env_set_maxdbs(env, 8)) != 0)
		goto fail;
	/* MDB_NOSUBDIR: two files in the state dir, no directory of our own to create.
	 * MDB_NOTLS: read transactions are not tied to a thread (a module may have some). */
	/* MDB_NOSYNC: no fdatasync per message (two thirds of the worker's relay cost);
	 * store_synced() flushes at most a second later and at close. A killed process
	 * loses nothing (the pages are the kernel's); a machine crash may undo the last
	 * second of id mappings, and LMDB keeps the file consistent on write-ordered
	 * filesystems (MDB_WRITEMAP is not used). */
	if ((rc = mdb_env_open(env, path, MDB_NOSUBDIR | MDB_NOTLS | MDB_NOSYNC, 0600)) != 0)
		goto fail;
	if (mdb_env_get_maxkeysize(env) < KEY_BUF) {
		log_error("store: this LMDB takes keys of %d bytes, %d needed",
		    mdb_env_get_maxkeysize(env), KEY_BUF);
		rc = EINVAL;
		goto fail;
	}
	/* A worker killed in a read leaves its reader slot behind. */
	if ((rc = mdb_reader_check(env, &dead)) != 0)
		goto fail;
	if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0 ||
	    (rc = mdb_dbi_open(txn, "ids", MDB_CREATE, &db_ids)) != 0 ||
	    (rc = mdb_dbi_open(txn, "lids", MDB_CREATE, &db_lids)) != 0 ||
	    (rc = mdb_dbi_open(txn, "multi", MDB_CREATE, &db_multi)) != 0 ||
	    (rc = mdb_dbi_open(txn, "sent", MDB_CREATE, &db_sent)) != 0 ||
	    (rc = mdb_dbi_open(txn, "log", MDB_CREATE, &db_log)) != 0 ||
	    (rc = mdb_dbi_open(txn, "kv", MDB_CREATE, &db_kv)) != 0 ||
	    (rc = mdb_cursor_open(txn, db_log, &cur)) != 0)
		goto fail;
	/* The next serial follows the last one written, so the log stays in write order
	 * across restarts. */
	rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
	if (rc == 0 && k.mv_size == SERIAL_LEN)
		next_serial = get_be64(k.mv_data) + 1;
	else if (rc != 0 && rc != MDB_NOTFOUND)
		goto fail;
	mdb_cursor_close(cur);
	cur = NULL;
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc != 0)
		goto fail;
	log_debug("store: opened %s", path);
	return 0;
fail:
	log_error("store: cannot open %s: %s: keeping message ids in memory only", path,
	    mdb_strerror(rc));
	if (cur != NULL)
		mdb_cursor_close(cur);
	if (txn != NULL)
		mdb_txn_abort(txn);
	if (env != NULL)
		mdb_env_close(env);
	env = NULL;
	return -1;
}

static ev_timer sync_timer;

static void
sync_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)t;
	(void)revents;
	if (env != NULL && mdb_env_sync(env, 1) != 0)
		log_warn("store: sync failed");
}

/* A write happened: make it durable within a second. */
static void
store_dirty(void)
{
	/* The worker runs on libev's default loop. */
	if (ev_is_active(&sync_timer))
		return;
	ev_timer_init(&sync_timer, sync_cb, 1.0, 0.);
	ev_timer_start(EV_DEFAULT, &sync_timer);
}

void
store_close(void)
{
	if (ev_is_active(&sync_timer))
		ev_timer_stop(EV_DEFAULT, &sync_timer);
	if (env != NULL) {
		mdb_env_sync(env, 1);
		mdb_env_close(env);
	}
	env = NULL;
	idmap_free(mem_msg);
	idmap_free(mem_thread);
	mem_msg = mem_thread = NULL;
}

/* ---- the log and pruning ---------------------------------------------------------- */

/* Delete key k of dbi if its value is `expect` (NULL: whatever it is). */
static int
del_if(MDB_txn *txn, MDB_dbi dbi, MDB_val *k, const char *expect)
{
	MDB_val v;
	int rc;

	if ((rc = mdb_get(txn, dbi, k, &v)) == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	if (expect != NULL && !val_eq(&v, expect))
		return 0;
	rc = mdb_del(txn, dbi, k, NULL);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Undo what one log record added. */
static int
undo(MDB_txn *txn, const MDB_val *rec)
{
	unsigned char kbuf[KEY_BUF], kbuf2[KEY_BUF];
	char payload[2 * STORE_ID_BUF + 1], *a, *b, *parts, *p;
	MDB_val k, v;
	size_t n = rec->mv_size;
	int rc, tag;

	if (n < 2 || n > sizeof payload)
		return 0;   /* not ours: skipped */
	tag = ((const unsigned char *)rec->mv_data)[0];
	memcpy(payload, (const char *)rec->mv_data + 1, n - 1);
	payload[n - 1] = '\0';
	switch (tag) {
	case STORE_MSG:
	case STORE_THREAD:
		a = payload;
		if (strlen(a) + 1 >= n - 1)
			return 0;
		b = a + strlen(a) + 1;
		if (key_make(tag, a, kbuf, &k) == 0 && (rc = del_if(txn, db_ids, &k, b)) != 0)
			return rc;
		if (key_make(tag, b, kbuf, &k) == 0 && (rc = del_if(txn, db_lids, &k, a)) != 0)
			return rc;
		return 0;
	case 'P':
		if (key_make('L', payload, kbuf, &k) != 0)
			return 0;
		if ((rc = mdb_get(txn, db_multi, &k, &v)) == MDB_NOTFOUND)
			return 0;
		if (rc != 0)
			return rc;
		if ((parts = malloc(v.mv_size + 1)) == NULL)
			return ENOMEM;
		memcpy(parts, v.mv_data, v.mv_size);
		parts[v.mv_size] = '\0';
		for (p = parts; p < parts + v.mv_size; p += strlen(p) + 1) {
			MDB_val k2;

			if (key_make('X', p, kbuf2, &k2) == 0 &&
			    (rc = del_if(txn, db_multi, &k2, payload)) != 0) {
				free(parts);
				return rc;
			}
		}
		free(parts);
		return del_if(txn, db_multi, &k, NULL);
	case 'S':
		if (n - 1 != HASH_LEN + SERIAL_LEN)
			return 0;
		k.mv_data = payload;
		k.mv_size = HASH_LEN + SERIAL_LEN;
		return del_if(txn, db_sent, &k, NULL);
	default:
		return 0;
	}
}

/* Undo and drop the `count` oldest log records. */
static int
prune(MDB_txn *txn, size_t count)
{
	MDB_cursor *cur;
	MDB_val k, v;
	size_t i;
	int rc;

	if ((rc = mdb_cursor_open(txn, db_log, &cur)) != 0)
		return rc;
	for (i = 0; i < count; i++) {
		if ((rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST)) != 0)
			break;
		if ((rc = undo(txn, &v)) != 0 || (rc = mdb_cursor_del(cur, 0)) != 0)
			break;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Append a log record (tag + payload) and prune past LOG_MAX. */
static int
log_append(MDB_txn *txn, int tag, const void *payload, size_t len)
{
	unsigned char kb[SERIAL_LEN], *rec;
	MDB_val k, v;
	MDB_stat st;
	int rc;

	if ((rec = malloc(len + 1)) == NULL)
		return ENOMEM;
	rec[0] = (unsigned char)tag;
	memcpy(rec + 1, payload, len);
	put_be64(kb, next_serial);
	k.mv_data = kb;
	k.mv_size = sizeof kb;
	v.mv_data = rec;
	v.mv_size = len + 1;
	rc = mdb_put(txn, db_log, &k, &v, 0);
	free(rec);
	if (rc != 0)
		return rc;
	if ((rc = mdb_stat(txn, db_log, &st)) != 0)
		return rc;
	if (st.ms_entries > LOG_MAX)
		return prune(txn, PRUNE_BATCH);
	return 0;
}

/* ---- one write: a function filling a transaction, retried once after a full map --- */

typedef int write_fn(MDB_txn *txn, void *arg);

static int
store_write(write_fn *fn, void *arg, const char *what)
{
	MDB_txn *txn = NULL;
	MDB_stat st;
	int rc, attempt;

	for (attempt = 0; attempt < 2; attempt++) {
		if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0)
			break;
		if (attempt > 0) {
			/* The map is full: forget the older half, then try again. */
			if ((rc = mdb_stat(txn, db_log, &st)) != 0 ||
			    (rc = prune(txn, st.ms_entries / 2 + 1)) != 0) {
				mdb_txn_abort(txn);
				break;
			}
		}
		if ((rc = fn(txn, arg)) != 0) {
			mdb_txn_abort(txn);
			if (rc == MDB_MAP_FULL)
				continue;
			break;
		}
		rc = mdb_txn_commit(txn);
		if (rc == 0) {
			next_serial++;
			store_dirty();
			return 0;
		}
		if (rc != MDB_MAP_FULL)
			break;
	}
	log_error("store: %s: %s", what, mdb_strerror(rc));
	return -1;
}

/* ---- id maps ------------------------------------------------------------------------ */

struct id_put {
	int kind;
	const char *xmpp, *legacy;
};

static int
id_put_fn(MDB_txn *txn, void *arg)
{
	struct id_put *a = arg;
	unsigned char kbuf[KEY_BUF];
	char rec[2 * STORE_ID_BUF];
	size_t lx = strlen(a->xmpp), ll = strlen(a->legacy);
	MDB_val k, v;
	int rc;

	key_make(a->kind, a->xmpp, kbuf, &k);
	v.mv_data = (void *)a->legacy;
	v.mv_size = ll;
	if ((rc = mdb_put(txn, db_ids, &k, &v, 0)) != 0)
		return rc;
	key_make(a->kind, a->legacy, kbuf, &k);
	v.mv_data = (void *)a->xmpp;
	v.mv_size = lx;
	if ((rc = mdb_put(txn, db_lids, &k, &v, 0)) != 0)
		return rc;
	memcpy(rec, a->xmpp, lx + 1);
	memcpy(rec + lx + 1, a->legacy, ll);
	return log_append(txn, a->kind, rec, lx + 1 + ll);
}

/* The in-memory fallback, made only when the store could not be opened: its buckets
 * cost half a megabyte per worker otherwise. NULL on OOM. */
static struct idmap *
mem_map(enum store_kind k)
{
	struct idmap **m = k == STORE_THREAD ? &mem_thread : &mem_msg;

	if (*m == NULL)
		*m = idmap_new(IDMAP_MAX);
	return *m;
}

int
store_id_put(enum store_kind k, const char *xmpp_id, const char *legacy_id)
{
	struct id_put a = { k, xmpp_id, legacy_id };
	size_t lx = strlen(xmpp_id), ll = strlen(legacy_id);

	if (lx == 0 || ll == 0 || lx > STORE_ID_MAX || ll > STORE_ID_MAX) {
		log_debug("store: not keeping an id pair of %zu and %zu bytes", lx, ll);
		return -1;
	}
	if (env == NULL) {
		if (mem_map(k) == NULL || idmap_put(mem_map(k), xmpp_id, legacy_id) < 0) {
			log_error("store: out of memory keeping an id");
			return -1;
		}
		return 0;
	}
	return store_write(id_put_fn, &a, "keeping an id");
}

/* Look tag + id up in dbi, the value into out. */
static int
lookup(MDB_dbi dbi, int tag, const char *id, char *out)
{
	unsigned char kbuf[KEY_BUF];
	MDB_txn *txn;
	MDB_val k, v;
	int rc, found = -1;

	if (key_make(tag, id, kbuf, &k) < 0)
		return -1;
	if ((rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) != 0) {
		log_error("store: read: %s", mdb_strerror(rc));
		return -1;
	}
	if ((rc = mdb_get(txn, dbi, &k, &v)) == 0)
		found = val_copy(&v, out);
	else if (rc != MDB_NOTFOUND)
		log_error("store: read: %s", mdb_strerror(rc));
	mdb_txn_abort(txn);
	return found;
}

static int
mem_lookup(const char *s, char *out)
{
	if (s == NULL || strlen(s) > STORE_ID_MAX)
		return -1;
	memcpy(out, s, strlen(s) + 1);
	return 0;
}

int
store_id_legacy(enum store_kind k, const char *xmpp_id, char *out)
{
	if (env == NULL)
		return mem_map(k) ? mem_lookup(idmap_legacy(mem_map(k), xmpp_id), out) : -1;
	return lookup(db_ids, k, xmpp_id, out);
}

int
store_id_xmpp(enum store_kind k, const char *legacy_id, char *out)
{
	if (env == NULL)
		return mem_map(k) ? mem_lookup(idmap_xmpp(mem_map(k), legacy_id), out) : -1;
	return lookup(db_lids, k, legacy_id, out);
}

/* ---- multi-part messages ---------------------------------------------------------- */

struct multi_put {
	const char *legacy;
	const char *const *xmpp;
	size_t n;
};

static int
multi_put_fn(MDB_txn *txn, void *arg)
{
	struct multi_put *a = arg;
	unsigned char kbuf[KEY_BUF];
	char *joined;
	size_t i, len = 0, off = 0;
	MDB_val k, v;
	int rc;

	for (i = 0; i < a->n; i++)
		len += strlen(a->xmpp[i]) + 1;
	if ((joined = malloc(len)) == NULL)
		return ENOMEM;
	for (i = 0; i < a->n; i++) {
		memcpy(joined + off, a->xmpp[i], strlen(a->xmpp[i]) + 1);
		off += strlen(a->xmpp[i]) + 1;
		key_make('X', a->xmpp[i], kbuf, &k);
		v.mv_data = (void *)a->legacy;
		v.mv_size = strlen(a->legacy);
		if ((rc = mdb_put(txn, db_multi, &k, &v, 0)) != 0) {
			free(joined);
			return rc;
		}
	}
	key_make('L', a->legacy, kbuf, &k);
	v.mv_data = joined;
	v.mv_size = len;
	rc = mdb_put(txn, db_multi, &k, &v, 0);
	free(joined);
	if (rc != 0)
		return rc;
	return log_append(txn, 'P', a->legacy, strlen(a->legacy));
}

int
store_multi_put(const char *legacy_id, const char *const *xmpp_ids, size_t n)
{
	struct multi_put a = { legacy_id, xmpp_ids, n };
	size_t i;

	if (env == NULL || n == 0 || n > PARTS_MAX || *legacy_id == '\0' ||
	    strlen(legacy_id) > STORE_ID_MAX)
		return -1;
	for (i = 0; i < n; i++)
		if (*xmpp_ids[i] == '\0' || strlen(xmpp_ids[i]) > STORE_ID_MAX)
			return -1;
	return store_write(multi_put_fn, &a, "keeping a multi-part message");
}

int
store_multi_legacy(const char *xmpp_id, char *out)
{
	if (env == NULL)
		return -1;
	return lookup(db_multi, 'X', xmpp_id, out);
}

int
store_multi_xmpp(const char *legacy_id, void (*cb)(const char *, void *), void *arg)
{
	unsigned char kbuf[KEY_BUF];
	MDB_txn *txn;
	MDB_val k, v;
	char *parts = NULL, *p;
	int n = 0;

	if (env == NULL || key_make('L', legacy_id, kbuf, &k) < 0 ||
	    mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) != 0)
		return 0;
	/* Copied out first: cb may write to the store. */
	if (mdb_get(txn, db_multi, &k, &v) == 0 && (parts = malloc(v.mv_size + 1)) != NULL) {
		memcpy(parts, v.mv_data, v.mv_size);
		parts[v.mv_size] = '\0';
		k.mv_size = v.mv_size;
	}
	mdb_txn_abort(txn);
	if (parts == NULL)
		return 0;
	for (p = parts; p < parts + k.mv_size; p += strlen(p) + 1, n++)
		cb(p, arg);
	free(parts);
	return n;
}

/* ---- ids sent by contacts (MARK_ALL_MESSAGES) ------------------------------------- */

struct sent_add {
	const char *contact, *xmpp;
};

static int
sent_add_fn(MDB_txn *txn, void *arg)
{
	struct sent_add *a = arg;
	unsigned char kb[HASH_LEN + SERIAL_LEN];
	size_t lc = strlen(a->contact), lx = strlen(a->xmpp);
	char *val;
	MDB_val k, v;
	int rc;

	put_be64(kb, hash64(a->contact));
	put_be64(kb + HASH_LEN, next_serial);
	if ((val = malloc(lc + 1 + lx)) == NULL)
		return ENOMEM;
	memcpy(val, a->contact, lc + 1);
	memcpy(val + lc + 1, a->xmpp, lx);
	k.mv_data = kb;
	k.mv_size = sizeof kb;
	v.mv_data = val;
	v.mv_size = lc + 1 + lx;
	rc = mdb_put(txn, db_sent, &k, &v, 0);
	free(val);
	if (rc != 0)
		return rc;
	return log_append(txn, 'S', kb, sizeof kb);
}

int
store_sent_add(const char *contact, const char *xmpp_id)
{
	struct sent_add a = { contact, xmpp_id };

	if (env == NULL || *xmpp_id == '\0' || strlen(xmpp_id) > STORE_ID_MAX)
		return -1;
	return store_write(sent_add_fn, &a, "keeping a sent id");
}

/* The XMPP id of a sent record if it belongs to contact, else NULL (points into v). */
static const char *
sent_match(const MDB_val *v, const char *contact, size_t *idlen)
{
	size_t lc = strlen(contact);

	if (v->mv_size <= lc + 1 || memcmp(v->mv_data, contact, lc) != 0 ||
	    ((const char *)v->mv_data)[lc] != '\0')
		return NULL;
	*idlen = v->mv_size - lc - 1;
	return (const char *)v->mv_data + lc + 1;
}

struct sent_pop {
	const char *contact, *xmpp;
	char (*ids)[STORE_ID_BUF];
	size_t n, max;
	int found;
};

static int
sent_pop_fn(MDB_txn *txn, void *arg)
{
	struct sent_pop *a = arg;
	unsigned char kb[HASH_LEN + SERIAL_LEN];
	MDB_cursor *cur;
	MDB_val k, v;
	const char *id;
	size_t len;
	int rc, pass, hit;

	put_be64(kb, hash64(a->contact));
	/* Pass 0 finds the horizon; pass 1 deletes up to it. Nothing is popped if the
	 * horizon is unknown (slidge then marks that one message only). */
	for (pass = 0; pass < 2; pass++) {
		if ((rc = mdb_cursor_open(txn, db_sent, &cur)) != 0)
			return rc;
		memset(kb + HASH_LEN, 0, SERIAL_LEN);
		k.mv_data = kb;
		k.mv_size = sizeof kb;
		a->n = 0;
		for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
		    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			if (k.mv_size != sizeof kb || memcmp(k.mv_data, kb, HASH_LEN) != 0)
				break;
			if ((id = sent_match(&v, a->contact, &len)) == NULL)
				continue;
			/* Compared before the delete, which invalidates the value. */
			hit = len == strlen(a->xmpp) && memcmp(id, a->xmpp, len) == 0;
			if (pass == 1) {
				if (a->n < a->max && len <= STORE_ID_MAX) {
					memcpy(a->ids[a->n], id, len);
					a->ids[a->n++][len] = '\0';
				}
				if ((rc = mdb_cursor_del(cur, 0)) != 0)
					break;
			}
			if (hit) {
				a->found = 1;
				rc = MDB_NOTFOUND;
				break;
			}
		}
		mdb_cursor_close(cur);
		if (rc != MDB_NOTFOUND)
			return rc;
		if (!a->found)
			return 0;
	}
	return 0;
}

int
store_sent_pop_up_to(const char *contact, const char *xmpp_id,
    void (*cb)(const char *, void *), void *arg)
{
	struct sent_pop a = { contact, xmpp_id, NULL, 0, 1000, 0 };
	size_t i;
	int rc = -1;

	if (env == NULL)
		return -1;
	if ((a.ids = calloc(a.max, sizeof *a.ids)) == NULL) {
		log_error("store: out of memory reading sent ids");
		return -1;
	}
	if (store_write(sent_pop_fn, &a, "popping sent ids") == 0 && a.found) {
		for (i = 0; i < a.n; i++)
			cb(a.ids[i], arg);
		rc = (int)a.n;
	}
	free(a.ids);
	return rc;
}

/* ---- records (the contact cache, the user's avatar) -------------------------------- */

struct kv_put {
	int tag;
	const char *key;
	const void *val;
	size_t len;
};

static int
kv_put_fn(MDB_txn *txn, void *arg)
{
	struct kv_put *a = arg;
	unsigned char kbuf[KEY_BUF];
	MDB_val k, v;
	int rc;

	key_make(a->tag, a->key, kbuf, &k);
	if (a->val == NULL) {
		rc = mdb_del(txn, db_kv, &k, NULL);
		return rc == MDB_NOTFOUND ? 0 : rc;
	}
	v.mv_data = (void *)a->val;
	v.mv_size = a->len;
	return mdb_put(txn, db_kv, &k, &v, 0);
}

int
store_kv_put(int tag, const char *key, const void *val, size_t len)
{
	struct kv_put a = { tag, key, val, len };
	unsigned char kbuf[KEY_BUF];
	MDB_val k;

	if (env == NULL || key_make(tag, key, kbuf, &k) < 0)
		return -1;
	/* No log record: a record is replaced in place, never pruned. */
	return store_write(kv_put_fn, &a, val != NULL ? "keeping a record" :
	    "deleting a record");
}

int
store_kv_get(int tag, const char *key, void **val, size_t *len)
{
	unsigned char kbuf[KEY_BUF];
	MDB_txn *txn;
	MDB_val k, v;
	int rc, found = -1;

	*val = NULL;
	*len = 0;
	if (env == NULL || key_make(tag, key, kbuf, &k) < 0)
		return -1;
	if ((rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) != 0) {
		log_error("store: read: %s", mdb_strerror(rc));
		return -1;
	}
	/* Copied out (plus a NUL, so that text records are strings): the map's pages are
	 * only valid inside the transaction. */
	if ((rc = mdb_get(txn, db_kv, &k, &v)) == 0) {
		if ((*val = malloc(v.mv_size + 1)) != NULL) {
			memcpy(*val, v.mv_data, v.mv_size);
			((char *)*val)[v.mv_size] = '\0';
			*len = v.mv_size;
			found = 0;
		} else {
			log_error("store: out of memory reading a record");
		}
	} else if (rc != MDB_NOTFOUND) {
		log_error("store: read: %s", mdb_strerror(rc));
	}
	mdb_txn_abort(txn);
	return found;
}
