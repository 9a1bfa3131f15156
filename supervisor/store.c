/* store.c: the registration store of slidged (store.h), the only file of the supervisor
 * that includes lmdb.h.
 *
 * One LMDB environment, <dir>/slidge.mdb, one unnamed database: key = the user's bare JID,
 * value = a USER_RECORD payload (proto/messages.def). Every write is one transaction, so a
 * kill at any moment leaves either the old record or the new one. Records are decoded with
 * the same strict decoder as frames from workers: a record that does not decode (a disk
 * error, a bug of an older version) is reported with its key and skipped, never trusted.
 *
 * Keys. LMDB keys hold at most 511 bytes (mdb_env_get_maxkeysize with the default
 * MDB_MAXKEYSIZE), a bare JID up to 2047. A JID that fits is its own key, so the database
 * reads as a JID-ordered list (mdb_dump). A longer JID's key is its first KEY_PREFIX bytes,
 * a NUL (no JID contains one, so such a key never equals a short JID's) and a 4-byte
 * big-endian serial; the JIDs that share that prefix are told apart by the full JID inside
 * their records. Those few come in registration order rather than JID order. */
#include "store.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lmdb.h>

#include "buf.h"
#include "log.h"
#include "proto.h"

#define MAP_SIZE ((size_t)1 << 30)
/* fixed rather than taken from the LMDB build, so that the key format never changes */
#define KEY_MAX 511
#define SERIAL_LEN 4
#define KEY_PREFIX (KEY_MAX - 1 - SERIAL_LEN)
#define LONG_KEY_LEN (KEY_PREFIX + 1 + SERIAL_LEN)

static MDB_env *env;
static MDB_dbi dbi;

static int
store_ready(const char *what)
{
	if (env == NULL) {
		log_error("store: %s: the store is not open", what);
		return -1;
	}
	return 0;
}

/* A key for logs: printable bytes up to the NUL of a long key, cut at 64 (a JID could be
 * 2 KiB; a corrupt key could be anything). */
static const char *
key_log(const MDB_val *k, char *out, size_t outsz)
{
	const unsigned char *p = k->mv_data;
	size_t i, n = 0;

	for (i = 0; i < k->mv_size && p[i] != '\0' && n + 4 < outsz && i < 64; i++)
		out[n++] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
	if (i < k->mv_size && p[i] != '\0' && n + 4 < outsz) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
	return out;
}

/* Does key k belong to jid (its own key, or the long-key prefix of it)? */
static int
key_matches(const MDB_val *k, const char *jid)
{
	size_t len = strlen(jid);

	if (len <= KEY_MAX)
		return k->mv_size == len && memcmp(k->mv_data, jid, len) == 0;
	return k->mv_size == LONG_KEY_LEN && memcmp(k->mv_data, jid, KEY_PREFIX) == 0 &&
	    ((const char *)k->mv_data)[KEY_PREFIX] == '\0';
}

/* Secrets (tokens, passwords) live in legacy_module_data: wipe before freeing. */
static void
kv_wipe(struct proto_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i] != NULL)
			explicit_bzero(l->v[i], strlen(l->v[i]));
}

static void
record_free(struct proto_msg *m)
{
	if (m->type == PROTO_USER_RECORD) {
		kv_wipe(&m->v[USER_RECORD_data].list);
		kv_wipe(&m->v[USER_RECORD_preferences].list);
	}
	proto_msg_free(m);
}

/* Decode the record stored under k; on failure log why, with the key, and return -1. */
static int
record_decode(const MDB_val *k, const MDB_val *v, struct proto_msg *m)
{
	enum proto_err e;
	char kl[80];

	e = proto_decode_payload(v->mv_data, v->mv_size, PROTO_REC, m);
	if (e == PROTO_OK && m->type != PROTO_USER_RECORD) {
		proto_msg_free(m);
		e = PROTO_ERR_UNKNOWN;
	}
	if (e != PROTO_OK) {
		log_error("store: bad record for %s (%zu bytes): %s", key_log(k, kl, sizeof(kl)),
		    v->mv_size, proto_strerror(e));
		return -1;
	}
	if (m->v[USER_RECORD_jid].s == NULL || !key_matches(k, m->v[USER_RECORD_jid].s)) {
		log_error("store: the record under %s is not that user's",
		    key_log(k, kl, sizeof(kl)));
		record_free(m);
		return -1;
	}
	return 0;
}

/* Find the key of jid's record in txn. 0: found, key set; 1: not there, key set to where a
 * new record goes; -1: error (logged). key may point into kbuf (KEY_MAX bytes) or jid. */
static int
store_locate(MDB_txn *txn, const char *jid, unsigned char *kbuf, MDB_val *key)
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	uint32_t next = 0;
	size_t len = strlen(jid);
	int rc, found = 1;

	if (len <= KEY_MAX) {
		key->mv_size = len;
		key->mv_data = (void *)(uintptr_t)jid;
		if ((rc = mdb_get(txn, dbi, key, &v)) == MDB_NOTFOUND)
			return 1;
		if (rc != 0) {
			log_error("store: reading %s: %s", jid, mdb_strerror(rc));
			return -1;
		}
		return 0;
	}

	/* a long JID: walk the records whose key has its prefix, compare full JIDs */
	memcpy(kbuf, jid, KEY_PREFIX);
	kbuf[KEY_PREFIX] = '\0';
	if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0)
		goto lmdb_fail;
	k.mv_size = KEY_PREFIX + 1;
	k.mv_data = kbuf;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const unsigned char *kp = k.mv_data;
		struct proto_msg m;
		uint32_t serial;
		int same;

		if (k.mv_size < KEY_PREFIX + 1 || memcmp(kp, kbuf, KEY_PREFIX + 1) != 0)
			break;
		if (k.mv_size != LONG_KEY_LEN)
			continue;
		serial = (uint32_t)kp[KEY_PREFIX + 1] << 24 | (uint32_t)kp[KEY_PREFIX + 2] << 16 |
		    (uint32_t)kp[KEY_PREFIX + 3] << 8 | kp[KEY_PREFIX + 4];
		if (record_decode(&k, &v, &m) == 0) {
			same = strcmp(m.v[USER_RECORD_jid].s, jid) == 0;
			record_free(&m);
			if (same) {
				next = serial;
				found = 0;
				break;
			}
		}
		if (serial == UINT32_MAX) {
			log_error("store: no key left for %.32s...", jid);
			goto fail;
		}
		next = serial + 1;
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		goto lmdb_fail;
	mdb_cursor_close(cur);
	kbuf[KEY_PREFIX + 1] = (unsigned char)(next >> 24);
	kbuf[KEY_PREFIX + 2] = (unsigned char)(next >> 16);
	kbuf[KEY_PREFIX + 3] = (unsigned char)(next >> 8);
	kbuf[KEY_PREFIX + 4] = (unsigned char)next;
	key->mv_size = LONG_KEY_LEN;
	key->mv_data = kbuf;
	return found;
lmdb_fail:
	log_error("store: reading %.32s...: %s", jid, mdb_strerror(rc));
fail:
	if (cur != NULL)
		mdb_cursor_close(cur);
	return -1;
}

/* mkdir -p, every directory created 0700: the store holds the users' credentials. */
static int
mkdir_p(const char *dir)
{
	char path[PATH_MAX];
	struct stat st;
	size_t len = strlen(dir);

	if (len == 0 || len >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(path, dir, len + 1);
	for (char *p = path + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) == -1 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(path, 0700) == -1 && errno != EEXIST)
		return -1;
	if (stat(path, &st) == -1)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}

int
store_open(const char *dir)
{
	char path[PATH_MAX];
	MDB_txn *txn = NULL;
	int rc, dead = 0;

	if (env != NULL) {
		log_error("store: already open");
		return -1;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/slidge.mdb", dir) >= sizeof(path)) {
		log_error("store: path too long: %s", dir);
		return -1;
	}
	if (mkdir_p(path) == -1) {
		log_error("store: cannot create %s: %s", path, strerror(errno));
		return -1;
	}
	if ((rc = mdb_env_create(&env)) != 0) {
		env = NULL;
		goto lmdb_fail;
	}
	if ((rc = mdb_env_set_mapsize(env, MAP_SIZE)) != 0)
		goto lmdb_fail;
	/* MDB_NOTLS: read transactions are not tied to the thread, so that a store_foreach
	 * callback may itself write to the store (one write transaction besides the read) */
	if ((rc = mdb_env_open(env, path, MDB_NOTLS, 0600)) != 0)
		goto lmdb_fail;
	if (mdb_env_get_maxkeysize(env) < KEY_MAX) {
		log_error("store: this LMDB takes keys of %d bytes, %d needed",
		    mdb_env_get_maxkeysize(env), KEY_MAX);
		goto fail;
	}
	/* a slidged killed in the middle of a read leaves its reader slot behind, which would
	 * keep old pages from being reused */
	if ((rc = mdb_reader_check(env, &dead)) != 0)
		goto lmdb_fail;
	if (dead > 0)
		log_info("store: cleared %d stale reader slots", dead);
	if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0 ||
	    (rc = mdb_dbi_open(txn, NULL, 0, &dbi)) != 0)
		goto lmdb_fail;
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc != 0)
		goto lmdb_fail;
	log_debug("store: opened %s", path);
	return 0;
lmdb_fail:
	log_error("store: cannot open %s: %s", path, mdb_strerror(rc));
fail:
	if (txn != NULL)
		mdb_txn_abort(txn);
	if (env != NULL)
		mdb_env_close(env);
	env = NULL;
	return -1;
}

void
store_close(void)
{
	if (env == NULL)
		return;
	mdb_env_close(env);
	env = NULL;
}

int
store_get(const char *jid, struct store_user *u)
{
	unsigned char kbuf[KEY_MAX];
	struct proto_msg m;
	MDB_txn *txn = NULL;
	MDB_val key, v;
	int rc;

	memset(u, 0, sizeof(*u));
	if (store_ready("get") == -1 || jid == NULL || *jid == '\0')
		return -1;
	if ((rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) != 0) {
		log_error("store: reading %s: %s", jid, mdb_strerror(rc));
		return -1;
	}
	if ((rc = store_locate(txn, jid, kbuf, &key)) != 0)
		goto done;
	if ((rc = mdb_get(txn, dbi, &key, &v)) != 0) {
		log_error("store: reading %s: %s", jid, mdb_strerror(rc));
		rc = -1;
		goto done;
	}
	if (record_decode(&key, &v, &m) == -1) {
		rc = -1;
		goto done;
	}
	if (strcmp(m.v[USER_RECORD_jid].s, jid) != 0) {
		log_error("store: the record under %.64s is not that user's", jid);
		record_free(&m);
		rc = -1;
		goto done;
	}
	/* hand the decoded lists over to u rather than copy the credentials once more */
	if ((u->jid = strdup(jid)) == NULL) {
		log_error("store: reading %s: out of memory", jid);
		record_free(&m);
		rc = -1;
		goto done;
	}
	u->registered = m.v[USER_RECORD_registered].u;
	u->data = m.v[USER_RECORD_data].list;
	u->preferences = m.v[USER_RECORD_preferences].list;
	memset(&m.v[USER_RECORD_data].list, 0, sizeof(struct proto_list));
	memset(&m.v[USER_RECORD_preferences].list, 0, sizeof(struct proto_list));
	proto_msg_free(&m);
	rc = 0;
done:
	mdb_txn_abort(txn);
	return rc;
}

int
store_put(const struct store_user *u)
{
	struct buf b = BUF_INIT;
	struct proto_val v[USER_RECORD__NFIELDS];
	unsigned char kbuf[KEY_MAX];
	MDB_txn *txn = NULL;
	MDB_val key, val;
	int rc = -1, mrc;

	if (store_ready("put") == -1 || u->jid == NULL || *u->jid == '\0')
		return -1;
	memset(v, 0, sizeof(v));
	v[USER_RECORD_jid].s = u->jid;
	v[USER_RECORD_registered].u = u->registered;
	v[USER_RECORD_data].list = u->data;
	v[USER_RECORD_preferences].list = u->preferences;
	if (proto_encode_payload(&b, PROTO_USER_RECORD, v) == -1) {
		log_error("store: cannot encode the record of %.64s (too large?)", u->jid);
		goto done;
	}
	if ((mrc = mdb_txn_begin(env, NULL, 0, &txn)) != 0)
		goto lmdb_fail;
	if (store_locate(txn, u->jid, kbuf, &key) == -1)
		goto done;
	val.mv_size = b.len;
	val.mv_data = b.data;
	if ((mrc = mdb_put(txn, dbi, &key, &val, 0)) != 0)
		goto lmdb_fail;
	mrc = mdb_txn_commit(txn);
	txn = NULL;
	if (mrc != 0)
		goto lmdb_fail;
	rc = 0;
	goto done;
lmdb_fail:
	log_error("store: writing %.64s: %s", u->jid, mdb_strerror(mrc));
done:
	if (txn != NULL)
		mdb_txn_abort(txn);
	buf_free(&b, 1);
	return rc;
}

int
store_del(const char *jid)
{
	unsigned char kbuf[KEY_MAX];
	MDB_txn *txn = NULL;
	MDB_val key;
	int rc, mrc;

	if (store_ready("del") == -1 || jid == NULL || *jid == '\0')
		return -1;
	if ((mrc = mdb_txn_begin(env, NULL, 0, &txn)) != 0)
		goto lmdb_fail;
	if ((rc = store_locate(txn, jid, kbuf, &key)) != 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	if ((mrc = mdb_del(txn, dbi, &key, NULL)) != 0)
		goto lmdb_fail;
	mrc = mdb_txn_commit(txn);
	txn = NULL;
	if (mrc != 0)
		goto lmdb_fail;
	return 0;
lmdb_fail:
	log_error("store: deleting %.64s: %s", jid, mdb_strerror(mrc));
	if (txn != NULL)
		mdb_txn_abort(txn);
	return -1;
}

int
store_foreach(int (*cb)(const struct store_user *u, void *arg), void *arg)
{
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int rc;

	if (store_ready("foreach") == -1)
		return -1;
	/* one read transaction: the callbacks see one consistent snapshot, whatever they or
	 * anyone else write meanwhile */
	if ((rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) != 0 ||
	    (rc = mdb_cursor_open(txn, dbi, &cur)) != 0)
		goto lmdb_fail;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct proto_msg m;
		struct store_user u;
		int stop;

		if (record_decode(&k, &v, &m) == -1)
			continue;
		/* the decoded strings are the msg's own copies; u only borrows them */
		u.jid = (char *)(uintptr_t)m.v[USER_RECORD_jid].s;
		u.registered = m.v[USER_RECORD_registered].u;
		u.data = m.v[USER_RECORD_data].list;
		u.preferences = m.v[USER_RECORD_preferences].list;
		stop = cb(&u, arg);
		record_free(&m);
		if (stop != 0) {
			rc = MDB_NOTFOUND;
			break;
		}
	}
	if (rc != MDB_NOTFOUND)
		goto lmdb_fail;
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return 0;
lmdb_fail:
	log_error("store: listing users: %s", mdb_strerror(rc));
	if (cur != NULL)
		mdb_cursor_close(cur);
	if (txn != NULL)
		mdb_txn_abort(txn);
	return -1;
}

long
store_count(void)
{
	MDB_txn *txn;
	MDB_stat st;
	int rc;

	if (store_ready("count") == -1)
		return -1;
	if ((rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) != 0) {
		log_error("store: counting users: %s", mdb_strerror(rc));
		return -1;
	}
	rc = mdb_stat(txn, dbi, &st);
	mdb_txn_abort(txn);
	if (rc != 0) {
		log_error("store: counting users: %s", mdb_strerror(rc));
		return -1;
	}
	return st.ms_entries > LONG_MAX ? LONG_MAX : (long)st.ms_entries;
}

void
store_user_free(struct store_user *u)
{
	free(u->jid);
	kv_wipe(&u->data);
	kv_wipe(&u->preferences);
	proto_list_free(&u->data);
	proto_list_free(&u->preferences);
	memset(u, 0, sizeof(*u));
}
