/* idmap_test.c: the bounded XMPP id <-> legacy id map. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker.h"

static int failures;

#define CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #cond); failures++; } } while (0)

static int
streq(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

int
main(void)
{
	static const struct { const char *xmpp, *legacy; } pairs[] = {
		{ "x1", "l1" }, { "x2", "l2" }, { "x3", "l3" },
	};
	struct idmap *m;
	char x[32], l[32];
	size_t i;

	/* Both directions, and a miss. */
	CHECK((m = idmap_new(3)) != NULL);
	for (i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
		CHECK(idmap_put(m, pairs[i].xmpp, pairs[i].legacy) == 0);
	for (i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
		CHECK(streq(idmap_legacy(m, pairs[i].xmpp), pairs[i].legacy));
		CHECK(streq(idmap_xmpp(m, pairs[i].legacy), pairs[i].xmpp));
	}
	CHECK(idmap_legacy(m, "nope") == NULL);
	CHECK(idmap_count(m) == 3);

	/* Full: the oldest pair goes first. */
	CHECK(idmap_put(m, "x4", "l4") == 0);
	CHECK(idmap_legacy(m, "x1") == NULL);
	CHECK(idmap_xmpp(m, "l1") == NULL);
	CHECK(streq(idmap_legacy(m, "x4"), "l4"));
	CHECK(idmap_count(m) == 3);

	/* A newer pair shadows an older one with the same key, and the older one comes
	 * back once the newer is forgotten... unless it was forgotten first. */
	CHECK(idmap_put(m, "x5", "l2") == 0);
	CHECK(streq(idmap_xmpp(m, "l2"), "x5"));
	CHECK(idmap_legacy(m, "x2") == NULL);   /* x2 was the oldest: evicted */
	idmap_free(m);

	/* Many more pairs than room: lookups stay right, memory stays bounded. */
	CHECK((m = idmap_new(100)) != NULL);
	for (i = 0; i < 10000; i++) {
		snprintf(x, sizeof x, "x%zu", i);
		snprintf(l, sizeof l, "l%zu", i);
		CHECK(idmap_put(m, x, l) == 0);
	}
	CHECK(idmap_count(m) == 100);
	CHECK(streq(idmap_legacy(m, "x9999"), "l9999"));
	CHECK(streq(idmap_xmpp(m, "l9900"), "x9900"));
	CHECK(idmap_legacy(m, "x9899") == NULL);
	idmap_free(m);

	if (failures == 0)
		printf("idmap: ok\n");
	return failures ? 1 : 0;
}
