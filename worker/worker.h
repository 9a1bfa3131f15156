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
 *   idmap.c    bounded XMPP id <-> legacy id maps (in memory: the store's fallback)
 *   store.c    the per-user LMDB store in state_dir: id maps, threads, sent ids
 *   chat.c     LegacyContact's message actions towards the user (text, corrections,
 *              reactions, retractions, chat states, markers, carbons)
 *   api.c      the exported slidge_* functions of legacy.h (the module's only door)
 *   avatar.c   contact avatars: bytes, SHA-1, type; XEP-0153 hashes
 *   vcard.c    contact vCards: vcard-temp and XEP-0292 vCard4
 *   disco.c    XEP-0030 disco of contacts, XEP-0115 caps ver
 *   pep.c      each contact's virtual PEP service: items get, events, +notify
 *   privilege.c XEP-0356 grants, roster pushes, messages sent as the user
 *   search.c   XEP-0055 jabber:iq:search, XEP-0100 jabber:iq:gateway
 *   iq.c       iqs the worker sends and their answers
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
/* Handle a STANZA frame in role register: an answer to one of its iqs. */
void register_stanza(struct proto_msg *m);

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
	/* presentation (half B: avatar.c, vcard.c, contact.c) */
	struct avatar *avatar;          /* NULL: none */
	struct vcard *vcard;            /* NULL: none set */
	char *client_type;              /* NULL: "pc" */
	int added_to_roster;            /* pushed into the user's roster with privileges */
	int roster_pending;             /* a friend waiting until privileges are known */
	char *roster_name;              /* contact.c cache: the name the roster entry has */
	char announced_avatar[41];      /* contact.c cache: avatar hash the user last got */
	const char *last_state;        /* chat.c: last XEP-0085 state sent (static string) */
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
/* <iq type=result> answering in (from/to swapped, same id), left open for a payload. */
void xb_iq_result_open(struct xb *x, const struct inbound *in);
/* The same for an iq answered later: from, to and id as kept from the request. */
void xb_iq_result_open_to(struct xb *x, const char *from, const char *to, const char *id);
/* An XEP-0004 result form laid out as a table (slidge's TableResult, search results):
 * <reported> with the ncols columns (var, label, type: NULL is text-single), then one
 * <item> per row of values (row-major, ncols per row, NULL: empty). */
void xb_data_table(struct xb *x, const char *title, const struct slidge_form_field *cols,
    size_t ncols, const char *const *values, size_t nrows);
void xb_close(struct xb *x, const char *name);             /* "</name>" */
void xb_empty(struct xb *x, const char *name, const char *xmlns); /* <name xmlns/> */
void xb_text(struct xb *x, const char *name, const char *xmlns, const char *text);
                                         /* <name xmlns>escaped text</name> */
void xb_raw(struct xb *x, const char *s);                  /* s as is (markup) */
void xb_esc(struct xb *x, const char *s);                  /* s escaped (text) */
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

/* ---- store.c (1:1 messaging, half A) ------------------------------------------------ *
 * The per-user store: one LMDB environment in state_dir (the only directory the sandbox
 * lets the worker write). If it cannot be opened, id maps live in memory (bounded) and
 * the rest is not kept. Ids longer than STORE_ID_MAX bytes are not stored. */

#define STORE_ID_MAX 480     /* longest id kept (LMDB keys: 511 bytes) */
#define STORE_ID_BUF (STORE_ID_MAX + 1)

enum store_kind {
	STORE_MSG = 'M',     /* the user's messages (and carbons): XMPP id <-> legacy id */
	STORE_THREAD = 'T',  /* threads: XMPP thread <-> legacy thread */
};

/* Open (create) the store in dir. -1 (logged): the in-memory fallback is used. */
int store_open(const char *dir);
/* Close it (nothing if not open). */
void store_close(void);
/* Remember xmpp_id <-> legacy_id of kind k (a newer pair shadows older ones with the
 * same id). Old pairs are pruned past a bound. -1 on failure (logged). */
int store_id_put(enum store_kind k, const char *xmpp_id, const char *legacy_id);
/* The legacy id of an XMPP id (or the reverse) into out (STORE_ID_BUF bytes). 0 if found,
 * -1 if not. */
int store_id_legacy(enum store_kind k, const char *xmpp_id, char *out);
int store_id_xmpp(enum store_kind k, const char *legacy_id, char *out);
/* One legacy message sent as several XMPP messages (legacy_ids_multi). -1 on failure. */
int store_multi_put(const char *legacy_id, const char *const *xmpp_ids, size_t n);
/* The legacy id of one part. 0 if found, -1 if not. */
int store_multi_legacy(const char *xmpp_id, char *out);
/* Call cb for each XMPP id of legacy_id's parts, in order. Returns the number of parts. */
int store_multi_xmpp(const char *legacy_id, void (*cb)(const char *xmpp_id, void *arg),
    void *arg);
/* MARK_ALL_MESSAGES: remember a markable message the contact (bare JID) sent. */
int store_sent_add(const char *contact, const char *xmpp_id);
/* Pop the contact's sent ids up to and including xmpp_id, calling cb for each in order.
 * -1 (nothing popped) if xmpp_id is not among them, else the number popped. */
int store_sent_pop_up_to(const char *contact, const char *xmpp_id,
    void (*cb)(const char *xmpp_id, void *arg), void *arg);

/* ---- chat.c (1:1 messaging, half A) ------------------------------------------------- */

#define ID_BUF 1024          /* a message id (longer ones are cut, with a warning) */

/* LegacyContact.send_text (and correct with opts->correction). */
void chat_send_text(struct slidge_contact *c, const char *body, const char *legacy_id,
    const struct slidge_send_opts *opts);
void chat_correct(struct slidge_contact *c, const char *legacy_id, const char *text,
    const struct slidge_send_opts *opts);
/* emojis: NULL-terminated (NULL: none). xmpp_id: the XMPP id reacted to, or NULL to map
 * legacy_id. */
void chat_react(struct slidge_contact *c, const char *legacy_id, const char *const *emojis,
    const char *xmpp_id, const struct slidge_send_opts *opts);
void chat_retract(struct slidge_contact *c, const char *legacy_id,
    const struct slidge_send_opts *opts);
/* A chat state alone: "composing", "paused", "active", "inactive", "gone". */
void chat_state(struct slidge_contact *c, const char *state);
/* XEP-0333 marker "acknowledged", "received" (plus a XEP-0184 receipt) or "displayed". */
void chat_marker(struct slidge_contact *c, const char *marker, const char *legacy_id,
    const struct slidge_send_opts *opts);
/* The XMPP id for a legacy message id (store, then the module's legacy_to_xmpp_msg_id,
 * then the id itself) into out (ID_BUF bytes). */
void chat_legacy_to_xmpp(const char *legacy_id, char *out);
/* The legacy id for an XMPP message id (store, multi-part, then the module's
 * xmpp_to_legacy_msg_id, then the id itself). -1 if the module refuses it. */
int chat_xmpp_to_legacy(const char *xmpp_id, char *out);
/* The XMPP thread for a legacy thread (store, else the legacy id) into out (ID_BUF). */
void chat_thread_to_xmpp(const char *legacy_thread, char *out);
/* One message to the user, built by chat.c's rules and used by every message of a
 * contact (text, corrections, reactions, files): from the contact, or from the gateway
 * when c is NULL, or (carbon) the user's own to the contact through XEP-0356. Open it,
 * add the elements of the message to x, then send it (the contact's nick when it is not
 * a friend, the MARK_ALL_MESSAGES record, the carbon's privilege and echo filter). */
struct chat_out {
	struct xb x;
	struct slidge_contact *c;
	int carbon;
	char id[ID_BUF];
	int markable;
};
void chat_out_open(struct chat_out *o, struct slidge_contact *c, int carbon, const char *id);
/* <thread>, <active/>, the hints (slidge's default markable + store unless
 * SLIDGE_HINTS_SET) and the XEP-0203 delay past slidge's threshold (when 0: now). */
void chat_out_common(struct chat_out *o, const char *thread, unsigned hints, time_t when);
void chat_out_send(struct chat_out *o);
/* 1 if a message with this id from the user is a carbon of ours coming back (then
 * forgotten: it is ignored once). */
int chat_ignore(const char *id);
/* Release what chat.c keeps. */
void chat_free(void);

/* ---- privilege.c (half B) ------------------------------------------------------------ */

/* Send inner_xml, one <message xmlns='jabber:client' from='USER BARE JID' to='...'>
 * element, as the user through XEP-0356 (a privileged <forwarded> message to the user's
 * server). -1 if the gateway has no message privilege (nothing sent). */
int privilege_send_message_as_user(const char *inner_xml);

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

/* ---- contact presentation (issue 4 half B) ----------------------------------------- */

/* privilege.c (privilege_send_message_as_user is declared above) */
/* A <message> from the user's server to the component: if it is a XEP-0356 grant
 * (urn:xmpp:privilege:2 or :1), remember it and return 1; else 0. */
int privilege_grant(xmlNodePtr msg, const char *from);
/* 1 once privileges are known: a grant arrived, or none came within PRIVILEGE_WAIT
 * seconds of the first question. Until then friends wait (roster_pending). */
int privilege_settled(void);
/* 1 if the server lets the gateway set the user's roster. */
int privilege_roster_set(void);
/* Push one item into the user's roster (an iq set to the user's bare JID). name and group
 * may be NULL; subscription "both", "none" or "remove". -1 without the privilege. */
int privilege_roster_push(const char *jid, const char *name, const char *subscription,
    const char *group);

/* contact.c (presentation part) */
/* Make c's roster entry real: a privileged roster push (then its presence and PEP items),
 * or slidge's fallback subscription request. */
void contact_roster_sync(struct slidge_contact *c);
/* Privileges became known: sync every friend that waited for them. */
void contact_roster_sync_all(void);
/* LegacyContact.send_friend_request / accept_friend_request / reject_friend_request. */
void contact_friend_request(struct slidge_contact *c, const char *text);
void contact_friend_accept(struct slidge_contact *c, const char *text);
void contact_friend_reject(struct slidge_contact *c, const char *text);
/* The contact's name changed: PEP nick event and roster push. */
void contact_name_changed(struct slidge_contact *c);

/* presence.c (outgoing contact presences) */
/* Emit the contact's presence of type `type` (NULL: its cached show/status/idle, caps and
 * photo hash; "unavailable" when nothing is cached) to `to` (NULL: the user's bare JID),
 * with its <nick> when not a friend. */
void presence_contact(struct slidge_contact *c, const char *type, const char *to);
/* The user's sync_presence preference (slidge's default: on). */
int presence_sync_enabled(void);

/* avatar.c */
struct avatar {
	unsigned char *data;
	size_t len;
	char sha1[41];                 /* hex SHA-1 of data: the XEP-0084 id, XEP-0153 hash */
	char *unique_id;               /* the module's id, else the sha1 */
	const char *type;              /* MIME type (static string) */
	int width, height;             /* 0 if unknown */
};
/* A new avatar from bytes (copied). NULL if empty or on OOM. Caller frees. */
struct avatar *avatar_new(const void *data, size_t len, const char *unique_id);
void avatar_free(struct avatar *a);
/* Base64 of data (caller frees), NULL on OOM. */
char *avatar_base64(const unsigned char *data, size_t len);
/* SHA-1 of len bytes into out (20 bytes). */
void avatar_sha1(const void *data, size_t len, unsigned char out[20]);
/* Hex SHA-1 of data into out. -1 on failure. */
int avatar_sha1_hex(const void *data, size_t len, char out[41]);
/* Replace c's avatar (a NULL: remove; ownership of a passes), then tell the user: PEP
 * metadata event and a presence with the new hash, if c is a friend. */
void avatar_contact_set(struct slidge_contact *c, struct avatar *a);
/* The gateway's avatar (COMPONENT_AVATAR), NULL if none. */
const struct avatar *avatar_component(void);
/* Append <x xmlns='vcard-temp:x:update'><photo>hash</photo></x> for a (NULL: empty). */
void avatar_write_update(struct xb *x, const struct avatar *a);

/* vcard.c */
/* Copy v into c's vCard (NULL clears it) and push the vCard4 PEP event if c is a friend. */
void vcard_contact_set(struct slidge_contact *c, const struct slidge_vcard *v);
void vcard_free(struct vcard *v);
/* Append c's <vcard xmlns='urn:ietf:params:xml:ns:vcard-4.0'> to x. */
void vcard_write_vcard4(struct xb *x, const struct slidge_contact *c);
/* An iq with a vcard-temp or vCard4 child to a contact or the gateway. */
enum inbound_result vcard_iq(struct inbound *in, xmlNodePtr q);

/* disco.c */
#define CAPS_NODE "https://slidge.im/slidge-c"
/* disco#info / disco#items to a contact, bare or full JID. */
enum inbound_result disco_iq(struct inbound *in, xmlNodePtr q);
/* XEP-0115 ver string of a contact's full-JID disco#info (base64 SHA-1; static). */
const char *disco_contact_caps_ver(const struct slidge_contact *c);
/* XEP-0115 ver of identities ("category/type/lang/name", NULL-terminated) and features
 * (NULL-terminated) into out (at least 29 bytes). -1 on failure. */
int disco_caps_ver(const char *const *identities, const char *const *features, char *out,
    size_t outsz);

/* pep.c */
/* pubsub items get on a contact's or the gateway's bare JID (the virtual PEP service). */
enum inbound_result pep_iq(struct inbound *in, xmlNodePtr q);
/* Headline PEP events from c (bare JID) to `to` (NULL: the user's bare JID), for
 * friends only: nick, avatar metadata, vCard4. */
void pep_send_nick(struct slidge_contact *c, const char *to);
void pep_send_avatar(struct slidge_contact *c, const char *to);
void pep_send_vcard(struct slidge_contact *c, const char *to);
/* An available presence from a resource of the user to friend c: learn the resource's
 * +notify features (caps cache or disco#info) and push the items it asked for. */
void pep_user_available(struct inbound *in, struct slidge_contact *c);
/* Forget the caps cache. */
void pep_free(void);

/* search.c */
/* jabber:iq:search and jabber:iq:gateway (XEP-0055, XEP-0100). DEFERRED while on_search
 * runs. */
enum inbound_result search_iq(struct inbound *in, xmlNodePtr q);
/* slidge_search_field / slidge_search_item: collected in the reply. */
void search_reply_field(struct slidge_reply *r, const char *var, const char *label,
    const char *type);
void search_reply_item(struct slidge_reply *r, const char *const *values);

/* iq.c: iqs the worker sends, and their answers */
#define IQ_TIMEOUT 30.0
/* Called once with the answer (an iq of type result or error), or NULL on timeout or at
 * exit. */
typedef void iq_cb(xmlNodePtr answer, void *arg);
/* Send <iq type=type from=from to=to id=NEW>payload</iq> and call cb with its answer.
 * -1 (cb not called) if it could not be sent. */
int iq_send(const char *from, const char *to, const char *type, const char *payload,
    iq_cb *cb, void *arg);
/* An iq result or error for the worker: 1 if it answered one of ours (cb called). */
int iq_answer(struct inbound *in);
/* Forget every pending iq (callbacks get NULL). */
void iq_free_all(void);

#endif
