/* worker.h: the pieces of slidge-worker and how they call each other.
 *
 *   main.c     command line, the channel to slidged, the frame dispatch table, exit
 *   module.c   loading the legacy module, its options, init, the MANIFEST
 *   register.c role "register": VALIDATE -> validate / 2fa / qr -> VALIDATE_RESULT
 *   session.c  role "session": START, the login sequence, gateway status, data, STOP
 *   contact.c  contacts (LegacyContact/LegacyRoster): JIDs, friends, presence, messages
 *   inbound.c  STANZA frames: parse, route, the waiting queue, acks, iq
 *   message.c  messages from the user to contacts
 *   presence.c presences from the user (probes, subscriptions, resources)
 *   command.c  chat messages to the gateway's bare JID (slidge's chatbot commands)
 *   stanza.c   building outgoing stanzas, error conditions, ids, timestamps
 *   reply.c    struct slidge_reply: completing module hooks
 *   timer.c    struct slidge_timer on libev
 *   idmap.c    bounded XMPP id <-> legacy id maps
 *   api.c      the exported slidge_* functions of legacy.h (the module's only door)
 *
 * One worker serves one user, single-threaded: the state below is process-global. */
#ifndef SLIDGE_WORKER_H
#define SLIDGE_WORKER_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <ev.h>
#include <libxml/tree.h>

#include "buf.h"
#include "jid.h"
#include "legacy.h"
#include "proto.h"

#define JID_BUF 3072   /* room for any bare or full JID */
#define CONTACT_RESOURCE "slidge"   /* LegacyContact.RESOURCE */

struct chan;

/* ---- main.c ---------------------------------------------------------------------- */

enum worker_role { ROLE_REGISTER, ROLE_SESSION };

struct worker {
	struct ev_loop *loop;
	struct chan *chan;
	enum worker_role role;
	const char *role_name;
	char component_jid[JID_BUF];   /* --jid, normalised */
	const char *state_dir;
	int hello_done;                /* the supervisor's HELLO was accepted */
	int stopping;                  /* STOP received: no new work */
};

extern struct worker worker;

/* Queue one frame to slidged. -1 if the channel refused it (logged). */
int worker_send(enum proto_type t, const struct proto_val *v);
/* Length of s clipped to at most max bytes without cutting a UTF-8 character, for the
 * size limits of frame fields (set as proto_val.len; 0 only if s is empty). */
size_t worker_clip(const char *s, size_t max);
/* Tell slidged that stanza seq is handled. */
void worker_ack(uint64_t seq);
/* Flush the channel (bounded wait), release everything and exit with code. */
void worker_exit(int code) __attribute__((noreturn));

/* ---- module.c --------------------------------------------------------------------- */

extern struct slidge_module *module;

/* Load the module named name (a path if it contains '/', else <moduledir>/name.so).
 * Exits 1 with a message on failure (setup path). */
void module_load(const char *name);
/* Parse the module options (argv after "--"). Exits 2 naming the first unknown or
 * incomplete option. */
void module_parse_options(int argc, char **argv);
/* Run the module's init; exits 2 if it fails. */
void module_init(void);
/* Send the MANIFEST built from the module. -1 if it could not be queued. */
int module_send_manifest(void);
/* Value of a declared option (default if not given), NULL if not declared. */
const char *module_option(const char *name);
/* The welcome message (the module's or slidge's default). */
const char *module_welcome_message(void);
/* Release option values. */
void module_unload(void);

/* ---- register.c ------------------------------------------------------------------- */

/* Submitted form values (the KV of VALIDATE.form). */
struct slidge_form {
	const struct proto_list *kv;
};

/* Handle a VALIDATE frame (role register). */
void register_validate(struct proto_msg *m);

/* ---- session.c -------------------------------------------------------------------- */

enum session_state {
	SESSION_NEW,          /* START not received yet */
	SESSION_LOGGING_IN,   /* login hook running */
	SESSION_FILLING,      /* roster_fill running */
	SESSION_LOGGED,       /* logged in, contacts filled */
	SESSION_FAILED,       /* login failed */
};

struct contact_table;
struct idmap;
struct resource;

struct slidge_session {
	char user_jid[JID_BUF];        /* bare, normalised */
	char component_jid[JID_BUF];
	struct proto_list data;        /* legacy_module_data (KV) */
	struct proto_list prefs;       /* preferences (KV) */
	void *priv;
	int fresh;
	enum session_state state;
	int ready;                     /* stanzas to contacts are handled (not queued) */
	char *status_text;             /* cached gateway status (send_gateway_status) */
	char *status_show;
	int status_set;
	struct contact_table *contacts;
	struct resource *resources;    /* the user's available resources */
	struct idmap *ids;             /* XMPP id of the user's messages <-> legacy id */
	ev_timer ready_timer;          /* stop waiting for login after READY_TIMEOUT */
};

extern struct slidge_session *session;

/* Handle START: build the session and run the startup sequence. */
void session_start(struct proto_msg *m);
/* Handle STOP in role session: teardown, then exit (now, or when the module's
 * unregister hook completes or times out). */
void session_stop(const char *reason, int unregister);
/* The supervisor is gone: log out quietly (nothing can be sent) and release. */
void session_abort(void);
/* Presence from the gateway's bare JID to the user (cached for probes). */
void session_gateway_status(const char *status, const char *show);
/* Send the cached gateway status (or unavailable) to `to`. */
void session_send_cached_status(const char *to);
/* A chat message from the gateway's bare JID to `to` (NULL: the user's bare JID). */
void session_gateway_message(const char *to, const char *text);
/* Set (value NULL: delete) a legacy_module_data key and send DATA_UPDATE. */
void session_data_set(const char *key, const char *value);
const char *session_data_get(const char *key);
/* 1 if the module is logged in (login succeeded). */
int session_logged(void);
/* Remember that full JID `jid` of the user is available (1) or not (0). Returns 1 if it
 * just became available. */
int session_resource_set(const char *jid, int available);

/* ---- contact.c -------------------------------------------------------------------- */

enum presence_kind { PRES_NONE = 0, PRES_ONLINE, PRES_AWAY, PRES_XA, PRES_BUSY, PRES_OFFLINE };

struct slidge_contact {
	struct slidge_session *s;
	char *legacy_id;
	char *local;                   /* escaped, normalised local part */
	char jid[JID_BUF];             /* bare */
	char full[JID_BUF + sizeof "/" CONTACT_RESOURCE]; /* local@component/slidge */
	char *name;
	int is_friend;
	int subscribe_sent;            /* roster fallback subscription sent this session */
	int updating_info;             /* inside update_info: cache presences only */
	enum presence_kind pres;       /* cached presence (PRES_NONE: none yet) */
	char *pres_status;
	time_t pres_last_seen;
	struct slidge_contact *next;   /* all contacts, in creation order */
	struct slidge_contact *hnext_id, *hnext_local;
};

/* Create the table. -1 on OOM. */
int contacts_init(struct slidge_session *s);
/* Free every contact and the table. */
void contacts_free(struct slidge_session *s);
/* Contact by legacy id, created (update_info) if new. NULL if the id maps to no valid
 * JID local part or on OOM. */
struct slidge_contact *contact_by_legacy_id(struct slidge_session *s, const char *legacy_id);
/* Contact by legacy id if it exists, else NULL. */
struct slidge_contact *contact_lookup(struct slidge_session *s, const char *legacy_id);
/* Contact for a JID local part (normalised), created if the module accepts it. NULL with
 * *why set (a human text) if refused. */
struct slidge_contact *contact_by_local(struct slidge_session *s, const char *local,
    const char **why);
/* First contact (iteration: c->next). */
struct slidge_contact *contact_first(struct slidge_session *s);
/* Set the display name (copied; NULL clears it). */
void contact_set_name(struct slidge_contact *c, const char *name);
/* Make the contact a friend: the subscription request (once per session), then its
 * presence if one is cached. */
void contact_add_to_roster(struct slidge_contact *c);
/* Cache a presence and send it if it changed and the contact is a friend. */
void contact_set_presence(struct slidge_contact *c, enum presence_kind k, const char *status,
    time_t last_seen);
/* Send the cached presence to `to` (NULL: the user's bare JID), or unavailable when none
 * is cached. */
void contact_send_presence(struct slidge_contact *c, const char *to);
/* A chat message from the contact to the user (LegacyContact.send_text). */
void contact_send_text(struct slidge_contact *c, const char *body, const char *legacy_id,
    const struct slidge_send_opts *opts);
/* A chat state alone: "composing", "paused", "active", "inactive", "gone". */
void contact_send_state(struct slidge_contact *c, const char *state);
/* Presence of type `type` (no show/status) from the contact's bare (full == 0) or full
 * JID to the user's bare JID. */
void contact_send_presence_type(struct slidge_contact *c, const char *type, int full);

/* ---- inbound.c -------------------------------------------------------------------- */

/* A parsed stanza from the user. */
struct inbound {
	uint64_t seq;
	xmlDocPtr doc;
	xmlNodePtr root;
	const char *kind;              /* "message", "presence", "iq" */
	const char *type;              /* never NULL: default "normal"/"available"/"" */
	const char *id;                /* may be NULL */
	char from[JID_BUF];            /* normalised full JID of the sender */
	char to[JID_BUF];              /* normalised `to` */
	struct jid jto;
	int to_component;              /* to is the gateway (no local part) */
	int to_contact;                /* to is local@gateway */
};

enum inbound_result { INBOUND_DONE, INBOUND_DEFERRED };

/* Handle a STANZA frame: parse, route, ack (now or when the hook completes). */
void inbound_stanza(uint64_t seq, const char *xml, size_t len);
/* The session became ready: handle the stanzas that waited for it. */
void inbound_flush_waiting(void);
/* Free the stanzas still waiting (not acked: slidged bounces them). */
void inbound_free_waiting(void);

/* ---- message.c -------------------------------------------------------------------- */

/* A message from the user to a contact. DEFERRED when a hook will ack it. */
enum inbound_result message_to_contact(struct inbound *in);

/* ---- presence.c ------------------------------------------------------------------- */

/* A presence from the user to the gateway or a contact. */
enum inbound_result presence_from_user(struct inbound *in);

/* ---- command.c -------------------------------------------------------------------- */

/* A message from the user to the gateway's JID (a chat command). */
enum inbound_result command_message(struct inbound *in);

/* ---- stanza.c --------------------------------------------------------------------- */

/* An outgoing stanza being built; err latches the first allocation failure. */
struct xb {
	struct buf b;
	int err;
};

void xb_open(struct xb *x, const char *name);              /* "<name" */
void xb_attr(struct xb *x, const char *name, const char *value); /* skipped if NULL */
void xb_open_end(struct xb *x);                            /* ">" */
void xb_close(struct xb *x, const char *name);             /* "</name>" */
void xb_empty(struct xb *x, const char *name, const char *xmlns); /* <name xmlns/> */
void xb_text(struct xb *x, const char *name, const char *xmlns, const char *text);
                                         /* <name xmlns>escaped text</name> */
/* Send the stanza as EMIT and reset x. -1 on failure (logged). */
int xb_emit(struct xb *x);
/* Release the buffer. */
void xb_free(struct xb *x);

/* A fresh stanza id "slidge-<counter>-<random>" into out (at least 48 bytes). */
void stanza_new_id(char *out, size_t outsz);
/* XEP-0082 UTC timestamp "YYYY-MM-DDTHH:MM:SSZ" (out: at least 32 bytes). */
void stanza_format_time(time_t t, char *out, size_t outsz);
/* A known RFC 6120 stanza error condition, or NULL. */
const char *stanza_condition(const char *condition);
/* Error reply to a stanza of kind "message"/"iq"/"presence": from/to are those of the
 * error (swapped by the caller). An unknown condition becomes internal-server-error. */
void stanza_error(const char *kind, const char *from, const char *to, const char *id,
    const char *condition, const char *text);
/* An empty iq result. */
void stanza_iq_result(const char *from, const char *to, const char *id);

/* Chat message options. */
enum {
	MSG_MARKABLE = 1,   /* <markable xmlns='urn:xmpp:chat-markers:0'/> */
	MSG_STORE = 2,      /* <store xmlns='urn:xmpp:hints'/> */
	MSG_NO_STORE = 4,   /* <no-store xmlns='urn:xmpp:hints'/> */
};
/* A message; every pointer may be NULL. */
struct message_out {
	const char *type;              /* NULL: "chat" */
	const char *from, *to;
	const char *id;                /* NULL: a new id */
	const char *body;
	const char *state;             /* XEP-0085 chat state element name */
	int flags;                     /* MSG_* */
	const char *nick;              /* XEP-0172 */
	const char *receipt;           /* XEP-0184 <received id=.../> */
	time_t delay;                  /* XEP-0203 stamp, used when delay_from is set */
	const char *delay_from;
};
/* Build and emit a message. */
void stanza_message(const struct message_out *m);

/* Presence; every pointer may be NULL. */
struct presence_out {
	const char *from, *to, *type, *show, *status, *nick;
	time_t idle_since;             /* 0: no XEP-0319 idle */
};
/* Build and emit a presence. */
void stanza_presence(const struct presence_out *p);

/* ---- reply.c ---------------------------------------------------------------------- */

/* Called once when the module completes r; r is freed after it returns. */
typedef void reply_done_cb(struct slidge_reply *r, void *arg);

struct slidge_reply {
	struct slidge_session *s;
	reply_done_cb *done;
	void *arg;
	void (*free_arg)(void *);       /* frees arg if the reply never completes */
	const struct proto_list *data;  /* registration: legacy_module_data so far */
	int ok;                         /* completed successfully */
	char *value;                    /* reply_str */
	char *condition, *text;         /* reply_error */
	struct proto_list kv;           /* reply_set */
	int kv_set;
	int no_2fa;
	struct slidge_reply *prev, *next;
};

/* New pending reply. NULL on OOM. */
struct slidge_reply *reply_new(struct slidge_session *s, reply_done_cb *done, void *arg);
/* Complete r with success (value copied, may be NULL), run its continuation, free it. */
void reply_complete_ok(struct slidge_reply *r, const char *value);
/* Complete r with an error condition and text (copied), run its continuation, free it. */
void reply_complete_error(struct slidge_reply *r, const char *condition, const char *text);
/* Add key=value (copied) to the data the reply carries. */
void reply_set(struct slidge_reply *r, const char *key, const char *value);
/* Free every pending reply (at exit; their hooks will never complete). */
void reply_free_all(void);

/* ---- timer.c ---------------------------------------------------------------------- */

/* A one-shot timer (s may be NULL: not tied to a session). NULL on OOM. */
struct slidge_timer *timer_add(struct slidge_session *s, double seconds, slidge_timer_cb *cb,
    void *arg);
/* Stop and free t (nothing if it is firing: it is freed when its callback returns). */
void timer_cancel(struct slidge_timer *t);
/* Cancel every timer (of the session, or all with s NULL). */
void timer_cancel_all(struct slidge_session *s);

/* ---- idmap.c ---------------------------------------------------------------------- */

#define IDMAP_MAX 10000

/* A bounded map: the oldest pair is forgotten past `max`. NULL on OOM. */
struct idmap *idmap_new(size_t max);
/* Free the map and its strings (NULL is fine). */
void idmap_free(struct idmap *m);
/* Remember xmpp_id <-> legacy_id; a newer pair shadows older ones with the same key.
 * -1 on OOM. */
int idmap_put(struct idmap *m, const char *xmpp_id, const char *legacy_id);
/* The legacy id of an XMPP id, or the reverse; NULL if unknown. The string belongs to the
 * map and is valid until the next idmap_put. */
const char *idmap_legacy(const struct idmap *m, const char *xmpp_id);
const char *idmap_xmpp(const struct idmap *m, const char *legacy_id);
/* Pairs held. */
size_t idmap_count(const struct idmap *m);

#endif
