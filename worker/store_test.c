/* store_test.c: the per-user LMDB store (id maps, threads, multi-part, sent ids), and
 * that it survives a close and reopen. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "worker.h"
#include "parity.h"

static int failures;

#define CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #cond); failures++; } } while (0)

static char seen[8][STORE_ID_BUF];
static size_t nseen;

static void
collect(const char *id, void *arg)
{
	if (nseen < 8)
		snprintf(seen[nseen++], sizeof seen[0], "%s", id);
}

int
main(void)
{
	char dir[] = "/tmp/store_test.XXXXXX", out[STORE_ID_BUF], path[64], big[600];
	const char *parts[] = { "p1", "p2", "p3" };
	void *val;
	size_t len;

	if (mkdtemp(dir) == NULL)
		return 1;
	CHECK(store_open(dir) == 0);
	CHECK(store_id_put(STORE_MSG, "x1", "u1") == 0);
	CHECK(store_id_put(STORE_THREAD, "x1", "t1") == 0);
	CHECK(store_id_legacy(STORE_MSG, "x1", out) == 0 && strcmp(out, "u1") == 0);
	CHECK(store_id_xmpp(STORE_MSG, "u1", out) == 0 && strcmp(out, "x1") == 0);
	CHECK(store_id_legacy(STORE_THREAD, "x1", out) == 0 && strcmp(out, "t1") == 0);
	CHECK(store_id_legacy(STORE_MSG, "nope", out) < 0);
	/* a newer pair shadows the older one for the same legacy id */
	CHECK(store_id_put(STORE_MSG, "x2", "u1") == 0);
	CHECK(store_id_xmpp(STORE_MSG, "u1", out) == 0 && strcmp(out, "x2") == 0);
	/* ids too long for an LMDB key are refused, not cut */
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	CHECK(store_id_put(STORE_MSG, big, "u9") < 0);
	CHECK(store_multi_put("L1", parts, 3) == 0);
	CHECK(store_multi_legacy("p2", out) == 0 && strcmp(out, "L1") == 0);
	CHECK(store_multi_xmpp("L1", collect, NULL) == 3 && strcmp(seen[2], "p3") == 0);
	CHECK(store_sent_add("echo@gw", "e1") == 0);
	CHECK(store_sent_add("alice@gw", "a1") == 0);
	CHECK(store_sent_add("echo@gw", "e2") == 0);
	CHECK(store_sent_add("echo@gw", "e3") == 0);
	/* records: replaced in place, binary values, deleted */
	CHECK(store_kv_put(KV_CONTACT, "echo", "a\0b", 3) == 0);
	CHECK(store_kv_put(KV_CONTACT, "echo", "x\0yz", 4) == 0);
	CHECK(store_kv_put(KV_AVATAR, "echo", "png", 3) == 0);
	CHECK(store_kv_put(KV_USER, "gone", "1", 1) == 0);
	CHECK(store_kv_put(KV_USER, "gone", NULL, 0) == 0);
	CHECK(store_kv_get(KV_USER, "gone", &val, &len) < 0 && val == NULL);
	CHECK(store_kv_put(KV_USER, big, "1", 1) < 0);
	store_close();

	/* everything is still there after a restart */
	CHECK(store_open(dir) == 0);
	CHECK(store_id_legacy(STORE_MSG, "x1", out) == 0 && strcmp(out, "u1") == 0);
	CHECK(store_multi_legacy("p3", out) == 0 && strcmp(out, "L1") == 0);
	nseen = 0;
	CHECK(store_sent_pop_up_to("echo@gw", "nope", collect, NULL) < 0 && nseen == 0);
	CHECK(store_sent_pop_up_to("echo@gw", "e2", collect, NULL) == 2);
	CHECK(nseen == 2 && strcmp(seen[0], "e1") == 0 && strcmp(seen[1], "e2") == 0);
	nseen = 0;
	CHECK(store_sent_pop_up_to("echo@gw", "e3", collect, NULL) == 1 && nseen == 1);
	CHECK(store_sent_pop_up_to("alice@gw", "a1", collect, NULL) == 1);
	CHECK(store_kv_get(KV_CONTACT, "echo", &val, &len) == 0 && len == 4 &&
	    memcmp(val, "x\0yz", 5) == 0);
	free(val);
	CHECK(store_kv_get(KV_AVATAR, "echo", &val, &len) == 0 && len == 3);
	free(val);
	CHECK(store_kv_get(KV_AVATAR, "alice", &val, &len) < 0);
	store_close();

	snprintf(path, sizeof path, "%s/messages.mdb", dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/messages.mdb-lock", dir);
	unlink(path);
	rmdir(dir);

	/* without a store (an unwritable dir): message ids are kept in memory */
	CHECK(store_open("/nonexistent/dir") < 0);
	CHECK(store_id_put(STORE_MSG, "x1", "u1") == 0);
	CHECK(store_id_xmpp(STORE_MSG, "u1", out) == 0 && strcmp(out, "x1") == 0);
	CHECK(store_sent_add("echo@gw", "e1") < 0);
	CHECK(store_kv_put(KV_CONTACT, "echo", "x", 1) < 0);
	CHECK(store_kv_get(KV_CONTACT, "echo", &val, &len) < 0);
	store_close();
	if (failures == 0)
		printf("store_test: ok\n");
	return failures != 0;
}
