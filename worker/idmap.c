/* idmap.c: bounded two-way maps between XMPP message ids and legacy message ids.
 *
 * slidge keeps these in its database (xmpp_to_legacy_ids); until the per-user store
 * exists they live here, in memory, bounded: a ring of pairs where the oldest is
 * forgotten first, with one hash chain per direction. A newer pair shadows an older one
 * with the same key because it is inserted at the head of its chain. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "worker.h"

#define NIL SIZE_MAX

struct idpair {
	char *xmpp, *legacy;
	size_t next_x, next_l;   /* next index in the chain of the same bucket */
};

struct idmap {
	size_t max, count, head;   /* head: the oldest pair once the ring is full */
	size_t nbuckets;
	size_t *bx, *bl;           /* bucket heads by xmpp id, by legacy id */
	struct idpair *e;
};

static size_t
hash(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return (size_t)(h % n);
}

struct idmap *
idmap_new(size_t max)
{
	struct idmap *m;
	size_t i;

	if (max == 0 || (m = calloc(1, sizeof *m)) == NULL)
		return NULL;
	m->max = max;
	m->nbuckets = max + max / 2 + 1;
	m->bx = malloc(m->nbuckets * sizeof *m->bx);
	m->bl = malloc(m->nbuckets * sizeof *m->bl);
	m->e = calloc(max, sizeof *m->e);
	if (m->bx == NULL || m->bl == NULL || m->e == NULL) {
		idmap_free(m);
		return NULL;
	}
	for (i = 0; i < m->nbuckets; i++)
		m->bx[i] = m->bl[i] = NIL;
	return m;
}

void
idmap_free(struct idmap *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; m->e != NULL && i < m->max; i++) {
		free(m->e[i].xmpp);
		free(m->e[i].legacy);
	}
	free(m->e);
	free(m->bx);
	free(m->bl);
	free(m);
}

static void
chain_remove(size_t *head, struct idmap *m, size_t idx, int by_xmpp)
{
	size_t *p = head;

	while (*p != NIL) {
		if (*p == idx) {
			*p = by_xmpp ? m->e[idx].next_x : m->e[idx].next_l;
			return;
		}
		p = by_xmpp ? &m->e[*p].next_x : &m->e[*p].next_l;
	}
}

int
idmap_put(struct idmap *m, const char *xmpp_id, const char *legacy_id)
{
	char *x, *l;
	size_t idx, hx, hl;
	struct idpair *p;

	if ((x = strdup(xmpp_id)) == NULL || (l = strdup(legacy_id)) == NULL) {
		free(x);
		return -1;
	}
	if (m->count < m->max) {
		idx = m->count++;
	} else {
		idx = m->head;
		m->head = (m->head + 1) % m->max;
		p = &m->e[idx];
		chain_remove(&m->bx[hash(p->xmpp, m->nbuckets)], m, idx, 1);
		chain_remove(&m->bl[hash(p->legacy, m->nbuckets)], m, idx, 0);
		free(p->xmpp);
		free(p->legacy);
	}
	p = &m->e[idx];
	p->xmpp = x;
	p->legacy = l;
	hx = hash(x, m->nbuckets);
	hl = hash(l, m->nbuckets);
	p->next_x = m->bx[hx];
	m->bx[hx] = idx;
	p->next_l = m->bl[hl];
	m->bl[hl] = idx;
	return 0;
}

const char *
idmap_legacy(const struct idmap *m, const char *xmpp_id)
{
	size_t i;

	for (i = m->bx[hash(xmpp_id, m->nbuckets)]; i != NIL; i = m->e[i].next_x)
		if (strcmp(m->e[i].xmpp, xmpp_id) == 0)
			return m->e[i].legacy;
	return NULL;
}

const char *
idmap_xmpp(const struct idmap *m, const char *legacy_id)
{
	size_t i;

	for (i = m->bl[hash(legacy_id, m->nbuckets)]; i != NIL; i = m->e[i].next_l)
		if (strcmp(m->e[i].legacy, legacy_id) == 0)
			return m->e[i].xmpp;
	return NULL;
}

size_t
idmap_count(const struct idmap *m)
{
	return m->count;
}
