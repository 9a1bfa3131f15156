/* store.h: the registration store of slidged: one LMDB environment in the home dir,
 * key = the user's bare JID, value = a USER_RECORD payload from proto/messages.def.
 * Every write is one transaction: killing the process at any moment corrupts nothing. */
#ifndef SLIDGE_STORE_H
#define SLIDGE_STORE_H

#include <stdint.h>

#include "proto.h"

struct store_user {
	char *jid;                     /* bare JID */
	uint64_t registered;           /* unix time */
	struct proto_list data;        /* legacy_module_data (KV) */
	struct proto_list preferences; /* KV */
};

/* Open (create) the store in dir/slidge.mdb (a directory). -1 with a logged reason. */
int store_open(const char *dir);
void store_close(void);
/* 0 found (u filled, caller frees with store_user_free), 1 not found, -1 error. */
int store_get(const char *jid, struct store_user *u);
/* Insert or replace. -1 on error. */
int store_put(const struct store_user *u);
/* 0 deleted, 1 not found, -1 error. */
int store_del(const char *jid);
/* Call cb for every user in JID order; stop early if cb returns non-zero. The record is
 * only valid during the call. Returns -1 on error, else 0. The users are those of one
 * snapshot taken at the start; cb may call the other store functions. Records that do not
 * decode are logged and skipped. (JIDs longer than 511 bytes that share their first 506
 * come in registration order.) */
int store_foreach(int (*cb)(const struct store_user *u, void *arg), void *arg);
/* Number of registered users (records, including any that do not decode), or -1. */
long store_count(void);
void store_user_free(struct store_user *u);

#endif
