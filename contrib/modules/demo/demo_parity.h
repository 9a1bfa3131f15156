/* demo_parity.h: the demo network's one-to-one parity additions (demo_parity.c), hooked
 * into demo.c. */
#ifndef DEMO_PARITY_H
#define DEMO_PARITY_H

#include "legacy.h"

/* The module options of demo_parity.c (for demo.c's options array). */
#define DEMO_PARITY_OPTIONS \
	{ "demo-receipts", "auto", "delivery receipts: auto (the gateway's) or proper " \
	    "(PROPER_RECEIPTS: the network confirms each message)" }, \
	{ "demo-mark-all", "no", "MARK_ALL_MESSAGES: yes or no" }, \
	{ "demo-component-avatar", "", "a picture file for the gateway (component_avatar_path) " \
	    "instead of the built-in one" },

/* Read the options above into m. -1 (logged) on a bad value. */
int demo_parity_init(struct slidge_module *m);
/* A script command of demo_parity.c (text starts with '/'): 1 if it was one (handled),
 * 0 otherwise. opts are on_text's. */
int demo_parity_script(struct slidge_session *s, struct slidge_contact *echo,
    const char *text, const struct slidge_text_opts *opts);
/* Complete login with status (username slow-login: three seconds later). */
void demo_parity_login(struct slidge_session *s, struct slidge_reply *r, const char *username,
    const char *status);
/* The network accepted the user's message legacy_id to chat (PROPER_RECEIPTS). */
void demo_parity_accepted(struct slidge_contact *chat, const char *legacy_id);

/* Hooks of the module struct. */
void demo_parity_on_displayed(struct slidge_session *s, struct slidge_contact *chat,
    const char *legacy_msg_id, const char *thread);
int demo_parity_create_thread(struct slidge_contact *c, const char *xmpp_thread, char *out,
    size_t outsz);
void demo_parity_on_avatar(struct slidge_session *s, const void *data, size_t len,
    const char *hash, const char *type, unsigned width, unsigned height);

#endif
