/* store_test.c: the registration store on a temporary directory: put/get/update/del/count/
 * foreach, persistence across reopen, corrupt records written behind the store's back
 * (raw LMDB), long JIDs (past LMDB's 511-byte keys), many users. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lmdb.h>

#include "buf.h"
#include "log.h"
#include "proto.h"
#include "store.h"

static int failures;

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
		failures++; \
	} \
} while (0)

static char tmpdir[64];

static void
path_in(char *out, size_t outsz, const char *rel)
{
	snprintf(out, outsz, "%s/%s", tmpdir, rel);
}

/* A user with data {"password": pw, "n": n} and preferences {"sync_avatar": "true"}. */
static void
make_user(struct store_user *u, const char *jid, uint64_t registered, const char *pw)
{
	char n[32];

	memset(u, 0, sizeof(*u));
	u->jid = strdup(jid);
	u->registered = registered;
	snprintf(n, sizeof(n), "%llu", (unsigned long long)registered);
	if (u->jid == NULL || proto_kv_set(&u->data, "password", pw) == -1 ||
	    proto_kv_set(&u->data, "n", n) == -1 ||
	    proto_kv_set(&u->preferences, "sync_avatar", "true") == -1)
		abort();
}

static int
put_user(const char *jid, uint64_t registered, const char *pw)
{
	struct store_user u;
	int rc;

	make_user(&u, jid, registered, pw);
	rc = store_put(&u);
	store_user_free(&u);
	return rc;
}

/* 0 if jid is stored with exactly what put_user(jid, registered, pw) wrote. */
static int
check_user(const char *jid, uint64_t registered, const char *pw)
{
	struct store_user u;
	const char *p, *s;
	int ok;

	if (store_get(jid, &u) != 0)
		return -1;
	ok = strcmp(u.jid, jid) == 0 && u.registered == registered && u.data.n == 4 &&
	    (p = proto_kv_get(&u.data, "password")) != NULL && strcmp(p, pw) == 0 &&
	    u.preferences.n == 2 && (s = proto_kv_get(&u.preferences, "sync_avatar")) != NULL &&
	    strcmp(s, "true") == 0;
	store_user_free(&u);
	return ok ? 0 : -1;
}

struct seen {
	char jids[16][2100];
	size_t n;
	size_t stop_after;  /* 0: never stop */
};

static int
collect(const struct store_user *u, void *arg)
{
	struct seen *s = arg;

	if (s->n < 16)
		snprintf(s->jids[s->n], sizeof(s->jids[0]), "%s", u->jid);
	s->n++;
	return s->stop_after != 0 && s->n >= s->stop_after;
}

static void
test_basic(void)
{
	char dir[128];
	struct store_user u;
	struct seen s;
	struct stat st;

	/* not open yet */
	CHECK(store_get("a@example.org", &u) == -1);
	CHECK(store_count() == -1);

	/* created with its parents, 0700 */
	path_in(dir, sizeof(dir), "home/gw.example.org");
	CHECK(store_open(dir) == 0);
	CHECK(store_open(dir) == -1);
	CHECK(stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700);
	path_in(dir, sizeof(dir), "home/gw.example.org/slidge.mdb/data.mdb");
	CHECK(stat(dir, &st) == 0 && S_ISREG(st.st_mode));

	CHECK(store_count() == 0);
	CHECK(store_get("alice@example.org", &u) == 1);
	CHECK(u.jid == NULL);
	CHECK(store_del("alice@example.org") == 1);
	CHECK(store_get("", &u) == -1);

	CHECK(put_user("bob@example.org", 2, "pw-b") == 0);
	CHECK(put_user("alice@example.org", 1, "pw-a") == 0);
	CHECK(put_user("carol@example.org", 3, "pw-c") == 0);
	CHECK(store_count() == 3);
	CHECK(check_user("alice@example.org", 1, "pw-a") == 0);
	CHECK(check_user("bob@example.org", 2, "pw-b") == 0);

	/* update replaces the whole record */
	CHECK(put_user("alice@example.org", 10, "new") == 0);
	CHECK(store_count() == 3);
	CHECK(check_user("alice@example.org", 10, "new") == 0);

	/* an empty record */
	memset(&u, 0, sizeof(u));
	u.jid = (char *)"empty@example.org";
	CHECK(store_put(&u) == 0);
	CHECK(store_get("empty@example.org", &u) == 0 && u.data.n == 0 && u.preferences.n == 0 &&
	    u.registered == 0);
	store_user_free(&u);
	CHECK(store_del("empty@example.org") == 0);

	/* JID order, early stop */
	memset(&s, 0, sizeof(s));
	CHECK(store_foreach(collect, &s) == 0);
	CHECK(s.n == 3 && strcmp(s.jids[0], "alice@example.org") == 0 &&
	    strcmp(s.jids[1], "bob@example.org") == 0 && strcmp(s.jids[2], "carol@example.org") == 0);
	memset(&s, 0, sizeof(s));
	s.stop_after = 2;
	CHECK(store_foreach(collect, &s) == 0 && s.n == 2);

	CHECK(store_del("bob@example.org") == 0);
	CHECK(store_del("bob@example.org") == 1);
	CHECK(store_get("bob@example.org", &u) == 1);
	CHECK(store_count() == 2);

	/* a record too large for its table limits is refused, the store unchanged */
	make_user(&u, "big@example.org", 1, "x");
	for (int i = 0; i < 300; i++) {
		char k[16];

		snprintf(k, sizeof(k), "k%d", i);
		if (proto_kv_set(&u.data, k, "v") == -1)
			abort();
	}
	CHECK(store_put(&u) == -1);
	store_user_free(&u);
	CHECK(store_count() == 2);

	/* reopen keeps the data */
	store_close();
	store_close();
	CHECK(store_count() == -1);
	path_in(dir, sizeof(dir), "home/gw.example.org");
	CHECK(store_open(dir) == 0);
	CHECK(store_count() == 2);
	CHECK(check_user("alice@example.org", 10, "new") == 0);
	CHECK(check_user("carol@example.org", 3, "pw-c") == 0);
	CHECK(store_get("bob@example.org", &u) == 1);
	store_close();
}

/* A callback writing to the store while store_foreach holds its read transaction: it must
 * neither deadlock nor change what this walk sees. */
static int
rewrite(const struct store_user *u, void *arg)
{
	size_t *n = arg;
	char jid[64];

	(*n)++;
	snprintf(jid, sizeof(jid), "new%zu@example.org", *n);
	if (put_user(jid, 5, "p") != 0 || store_del(u->jid) != 0)
		return -1;
	return 0;
}

static void
test_write_in_foreach(void)
{
	char dir[128];
	size_t n = 0;

	path_in(dir, sizeof(dir), "rw");
	CHECK(store_open(dir) == 0);
	CHECK(put_user("a@example.org", 1, "p") == 0);
	CHECK(put_user("b@example.org", 1, "p") == 0);
	CHECK(store_foreach(rewrite, &n) == 0);
	CHECK(n == 2);
	CHECK(store_count() == 2);
	CHECK(check_user("new1@example.org", 5, "p") == 0);
	CHECK(check_user("new2@example.org", 5, "p") == 0);
	store_close();
}

/* Put key -> value straight into the LMDB environment, as a bug or a bad disk would. */
static void
raw_put(const char *dir, const void *key, size_t klen, const void *val, size_t vlen)
{
	char path[256];
	MDB_env *e;
	MDB_txn *txn;
	MDB_dbi d;
	MDB_val k = { klen, (void *)(uintptr_t)key }, v = { vlen, (void *)(uintptr_t)val };

	snprintf(path, sizeof(path), "%s/slidge.mdb", dir);
	if (mdb_env_create(&e) != 0 || mdb_env_set_mapsize(e, (size_t)1 << 30) != 0 ||
	    mdb_env_open(e, path, MDB_NOTLS, 0600) != 0 || mdb_txn_begin(e, NULL, 0, &txn) != 0 ||
	    mdb_dbi_open(txn, NULL, 0, &d) != 0 || mdb_put(txn, d, &k, &v, 0) != 0 ||
	    mdb_txn_commit(txn) != 0)
		abort();
	mdb_env_close(e);
}

/* A valid USER_RECORD payload for jid. Caller frees b. */
static void
encode_record(struct buf *b, const char *jid)
{
	struct proto_val v[USER_RECORD__NFIELDS];

	memset(v, 0, sizeof(v));
	v[USER_RECORD_jid].s = jid;
	v[USER_RECORD_registered].u = 7;
	if (proto_encode_payload(b, PROTO_USER_RECORD, v) == -1)
		abort();
}

static void
test_corrupt(void)
{
	static const char garbage[] = "\xff\x00 this is not msgpack";
	struct buf rec = BUF_INIT, other = BUF_INIT, hello = BUF_INIT;
	struct proto_val hv[HELLO__NFIELDS];
	struct store_user u;
	struct seen s;
	char dir[128];

	path_in(dir, sizeof(dir), "corrupt");
	CHECK(store_open(dir) == 0);
	CHECK(put_user("good@example.org", 1, "p") == 0);
	CHECK(put_user("zed@example.org", 2, "p") == 0);
	store_close();

	raw_put(dir, "garbage@example.org", 19, garbage, sizeof(garbage) - 1);
	raw_put(dir, "empty@example.org", 17, "", 0);
	encode_record(&rec, "trunc@example.org");
	raw_put(dir, "trunc@example.org", 17, rec.data, rec.len - 1);
	encode_record(&other, "victim@example.org");
	raw_put(dir, "mallory@example.org", 19, other.data, other.len);
	/* a valid message, but not a record */
	memset(hv, 0, sizeof(hv));
	hv[HELLO_role].s = "session";
	if (proto_encode_payload(&hello, PROTO_HELLO, hv) == -1)
		abort();
	raw_put(dir, "hello@example.org", 17, hello.data, hello.len);

	CHECK(store_open(dir) == 0);
	CHECK(store_count() == 7);
	CHECK(store_get("garbage@example.org", &u) == -1);
	CHECK(u.jid == NULL);
	CHECK(store_get("empty@example.org", &u) == -1);
	CHECK(store_get("trunc@example.org", &u) == -1);
	CHECK(store_get("mallory@example.org", &u) == -1);
	CHECK(store_get("hello@example.org", &u) == -1);
	CHECK(store_get("victim@example.org", &u) == 1);

	/* the walk skips the bad records and goes on */
	memset(&s, 0, sizeof(s));
	CHECK(store_foreach(collect, &s) == 0);
	CHECK(s.n == 2 && strcmp(s.jids[0], "good@example.org") == 0 &&
	    strcmp(s.jids[1], "zed@example.org") == 0);

	/* a bad record can be replaced or deleted */
	CHECK(put_user("garbage@example.org", 3, "fixed") == 0);
	CHECK(check_user("garbage@example.org", 3, "fixed") == 0);
	CHECK(store_del("trunc@example.org") == 0);
	CHECK(store_count() == 6);
	store_close();
	buf_free(&rec, 0);
	buf_free(&other, 0);
	buf_free(&hello, 0);
}

/* "<n copies of c><suffix>@<domain>" */
static char *
long_jid(size_t n, char c, const char *suffix, const char *domain)
{
	char *j = malloc(n + strlen(suffix) + strlen(domain) + 2);

	if (j == NULL)
		abort();
	memset(j, c, n);
	sprintf(j + n, "%s@%s", suffix, domain);
	return j;
}

static void
test_long_jids(void)
{
	char dir[128], domain[1024];
	char *j1, *j2, *j3, *jmax, *jshort, *jtoo;
	struct store_user u;
	struct seen s;

	memset(domain, 'd', 1019);
	strcpy(domain + 1019, ".org");   /* 1023 bytes: the longest domain part */
	j1 = long_jid(600, 'a', "1", "example.org");
	j2 = long_jid(600, 'a', "2", "example.org");
	j3 = long_jid(505, 'a', "3", "example.org");  /* shares 506 bytes with j1, j2 */
	jmax = long_jid(1022, 'a', "z", domain);       /* 2047: the longest bare JID */
	jshort = long_jid(511 - 12, 'a', "", "example.org");  /* exactly 511: its own key */
	jtoo = long_jid(3072, 'b', "", "example.org");  /* over the record's 3071 */

	path_in(dir, sizeof(dir), "long");
	CHECK(store_open(dir) == 0);
	CHECK(strlen(jmax) == 2047 && strlen(jshort) == 511);
	CHECK(put_user(j1, 1, "one") == 0);
	CHECK(put_user(j2, 2, "two") == 0);
	CHECK(put_user(j3, 3, "three") == 0);
	CHECK(put_user(jmax, 4, "max") == 0);
	CHECK(put_user(jshort, 5, "short") == 0);
	CHECK(put_user(jtoo, 6, "too") == -1);
	CHECK(store_count() == 5);
	CHECK(check_user(j1, 1, "one") == 0);
	CHECK(check_user(j2, 2, "two") == 0);
	CHECK(check_user(j3, 3, "three") == 0);
	CHECK(check_user(jmax, 4, "max") == 0);
	CHECK(check_user(jshort, 5, "short") == 0);
	CHECK(store_get(jtoo, &u) == 1);

	/* update and delete among JIDs sharing a key prefix */
	CHECK(put_user(j2, 20, "two again") == 0);
	CHECK(store_count() == 5);
	CHECK(check_user(j2, 20, "two again") == 0);
	CHECK(store_del(j1) == 0);
	CHECK(store_del(j1) == 1);
	CHECK(store_get(j1, &u) == 1);
	CHECK(check_user(j2, 20, "two again") == 0);
	CHECK(put_user(j1, 100, "back") == 0);
	CHECK(check_user(j1, 100, "back") == 0);
	CHECK(check_user(j3, 3, "three") == 0);
	CHECK(store_count() == 5);

	/* reopen, then every one is walked once with its full JID */
	store_close();
	CHECK(store_open(dir) == 0);
	memset(&s, 0, sizeof(s));
	CHECK(store_foreach(collect, &s) == 0);
	CHECK(s.n == 5);
	{
		const char *all[] = { j1, j2, j3, jmax, jshort };

		for (size_t i = 0; i < 5; i++) {
			int hits = 0;

			for (size_t k = 0; k < s.n && k < 16; k++)
				hits += strcmp(s.jids[k], all[i]) == 0;
			CHECK(hits == 1);
		}
	}
	store_close();
	free(j1);
	free(j2);
	free(j3);
	free(jmax);
	free(jshort);
	free(jtoo);
}

struct walk {
	char last[64];
	size_t n;
	int ordered, consistent;
};

static int
walk(const struct store_user *u, void *arg)
{
	struct walk *w = arg;
	unsigned long long i;
	const char *n = proto_kv_get(&u->data, "n");

	if (w->n > 0 && strcmp(w->last, u->jid) >= 0)
		w->ordered = 0;
	if (sscanf(u->jid, "user%llu@", &i) != 1 || i != u->registered || n == NULL ||
	    strtoull(n, NULL, 10) != i)
		w->consistent = 0;
	snprintf(w->last, sizeof(w->last), "%s", u->jid);
	w->n++;
	return 0;
}

static void
test_many(void)
{
	enum { N = 5000 };
	struct walk w = { "", 0, 1, 1 };
	char dir[128], jid[64];

	path_in(dir, sizeof(dir), "many");
	CHECK(store_open(dir) == 0);
	/* not in JID order: the walk must sort them */
	for (unsigned i = 0; i < N; i++) {
		unsigned k = (i * 7919u) % N;

		snprintf(jid, sizeof(jid), "user%u@example.org", k);
		if (put_user(jid, k, "pw") != 0) {
			CHECK(!"put");
			break;
		}
	}
	CHECK(store_count() == N);
	CHECK(store_foreach(walk, &w) == 0);
	CHECK(w.n == N && w.ordered && w.consistent);
	CHECK(check_user("user4999@example.org", 4999, "pw") == 0);
	store_close();
}

int
main(void)
{
	const char *t = getenv("TMPDIR");
	char cmd[128];

	log_init("store_test", LOG_LVL_ERROR);
	snprintf(tmpdir, sizeof(tmpdir), "%s/store_test.XXXXXX",
	    t != NULL && *t != '\0' && strlen(t) < 32 ? t : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_basic();
	test_write_in_foreach();
	test_corrupt();
	test_long_jids();
	test_many();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		failures++;
	if (failures > 0) {
		fprintf(stderr, "store_test: %d failures\n", failures);
		return 1;
	}
	printf("store_test: passed\n");
	return 0;
}
