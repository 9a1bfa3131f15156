/* parity.h: the worker's one-to-one parity additions (issue 4): records in the per-user
 * store, the contact cache kept across restarts, the user's own avatar (on_avatar) and
 * the gateway's avatar. Included after worker.h. */
#ifndef SLIDGE_PARITY_H
#define SLIDGE_PARITY_H

#include <stddef.h>

/* ---- store.c: records ------------------------------------------------------------- */

enum store_kv_tag {
	KV_CONTACT = 'C',      /* local part -> the contact's cached state (contact.c) */
	KV_AVATAR = 'A',       /* local part -> the contact's avatar bytes */
	KV_USER = 'U',         /* a name -> a value of the user (e.g. "avatar_hash") */
};

/* Keep (replace) the record tag+key; val NULL deletes it. -1 (logged) on failure or
 * without a store. */
int store_kv_put(int tag, const char *key, const void *val, size_t len);
/* The record tag+key into *val (caller frees; NUL-terminated after len bytes) and *len.
 * -1 if absent, without a store or on failure. */
int store_kv_get(int tag, const char *key, void **val, size_t *len);

/* ---- contact.c: the contact cache ------------------------------------------------- */

/* Store c's name, presence, friendship and roster state (and its avatar bytes when
 * avatar is set) so that the next run of the worker starts from them. */
void contact_cache_save(struct slidge_contact *c, int avatar);
/* A probe from the user to local@gateway before the login is over: answer it from the
 * cache if the contact is a cached friend. 1 if answered, 0 if the probe must wait. */
int contact_cache_probe(const char *local);

/* ---- image.c: avatar pictures ------------------------------------------------------- */

#define AVATAR_SIZE 200         /* slidge's --avatar-size: the longest side served */

/* A PNG with a side longer than max_side, downscaled to fit and re-encoded: 1 with the
 * new PNG in *out (caller frees) and *outlen; 0 if there is nothing to do (it fits, or
 * it is not a PNG); -1 if the PNG does not decode (or is too large to decode). */
int image_png_fit(const unsigned char *in, size_t len, unsigned max_side,
    unsigned char **out, size_t *outlen);

/* ---- disco.c: the gateway's presence ------------------------------------------------ */

/* A presence from the gateway (p->from) with, when available, its XEP-0115 caps (which
 * say urn:xmpp:avatar:metadata+notify) and the XEP-0153 hash of COMPONENT_AVATAR. */
void disco_gateway_presence(const struct presence_out *p);

/* ---- avatar.c: the user's avatar (BaseSession.on_avatar) --------------------------- */

/* The user's PEP avatar metadata event (a headline message from the user's bare JID);
 * 1 if msg was one (handled), 0 otherwise. */
int avatar_user_event(xmlNodePtr msg);
/* After login: fetch the user's current avatar metadata (slidge fetches the user's
 * avatar at the end of login_wrap when sync_avatar is on). */
void avatar_user_fetch(void);
/* The user's sync_avatar preference (slidge's default: on). */
int avatar_sync_enabled(void);
/* Read the module's component_avatar_path, if any, now (before the sandbox). */
void avatar_component_load(void);
/* Free what avatar.c keeps (the gateway's avatar, a pending fetch). */
void avatar_free_all(void);

#endif
