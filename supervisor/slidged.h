/* slidged.h: the pieces of the supervisor and how they call each other.
 *
 *   component.c  the XEP-0114 connection: connect, handshake, split, send, reconnect
 *   route.c      every stanza from the server: answer locally or hand to a user's worker
 *   register.c   XEP-0077 in-band registration (validate() runs in a register worker)
 *   workers.c    users, their workers: spawn, channel, queue, acks, bounces, restarts
 *   policy.c     what a worker may emit, checked and re-serialised
 *   store.c      the LMDB registration store (store.h)
 *   config.c     command line and config files (config.h)
 *   main.c       setup, boot, signals, shutdown */
#ifndef SLIDGED_H
#define SLIDGED_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <ev.h>
#include <libxml/tree.h>

#include "buf.h"
#include "config.h"
#include "proto.h"
#include "store.h"

#define JID_BUF 3072   /* room for any bare or full JID we keep */

struct user;
struct worker;

/* What the supervisor knows of the module, from a worker's MANIFEST. */
struct manifest {
	int ok;
	char *module;
	char *module_version;
	char *component_name;
	char *component_type;
	uint64_t registration_type;
	char *registration_instructions;
	struct proto_table registration_fields;
	char *search_title;
	char *search_instructions;
	struct proto_table search_fields;
	struct proto_list ports;
	char *welcome_message;
};

struct slidged {
	struct config cfg;
	struct ev_loop *loop;
	char jid[JID_BUF];             /* the component's JID (a domain) */
	struct manifest man;
	time_t started;
	int shutting_down;
	int drop;                      /* workers run as worker_uid/gid (slidged is root) */
	uid_t worker_uid;
	gid_t worker_gid;
};

extern struct slidged G;

/* ---- component.c ---------------------------------------------------------------- */

/* Start connecting to the XMPP server (and keep reconnecting with backoff). */
void component_start(void);
/* 1 once the handshake succeeded and the stream is up. */
int component_ready(void);
/* Queue one serialised stanza for the server. While the server is away, stanzas wait in
 * a bounded buffer; -1 if it is full (the stanza is dropped and the caller must say so). */
int component_send(const char *xml, size_t len);
/* Serialise a stanza and queue it. -1 as above or on serialisation failure. */
int component_send_node(xmlNodePtr stanza);
/* 1 while workers should stop producing (the server is away or the queue is long). */
int component_congested(void);
/* Close the stream cleanly, flushing what is queued (bounded wait). */
void component_stop(void);
/* Counters. */
unsigned long long component_stanzas_in(void);
unsigned long long component_stanzas_out(void);

/* ---- route.c --------------------------------------------------------------------- */

/* Handle one stanza from the server; takes ownership of doc. */
void route_stanza(xmlDocPtr doc);
/* The component stream came up (or back). */
void route_connected(void);
/* Build and send an error reply to the stanza `orig` (no reply if orig is an error).
 * type: "cancel", "modify", "auth", "wait". text may be NULL. */
void route_error(xmlNodePtr orig, const char *type, const char *condition, const char *text);
/* Send an error reply built from saved attributes (for stanzas no longer in memory). */
void route_error_attrs(const char *kind, const char *from, const char *to, const char *id,
    const char *type, const char *condition, const char *text);
/* The component's presence towards jid (show may be NULL for available). */
void route_gateway_status(const char *to, const char *show, const char *status);
/* A chat message from the component to jid. */
void route_gateway_message(const char *to, const char *body);
/* Send an iq result with an optional child built by the caller (payload may be NULL). */
void route_iq_result(xmlNodePtr iq, const char *payload);
/* The same from saved attributes (for iqs answered later). */
void route_iq_result_attrs(const char *from, const char *to, const char *id,
    const char *payload);
/* Ask a register worker to run a registration step ("form", "2fa", "qr") for user_jid
 * with the submitted form and the legacy_module_data so far. -1 if it cannot be reached. */
int register_validate(struct worker *w, const char *step, const char *user_jid,
    const struct proto_list *form, const struct proto_list *data);
/* 1 if the bare JID may use the gateway (--user-jid-validator or an admin). */
int route_jid_allowed(const char *bare);

/* ---- register.c ------------------------------------------------------------------- */

/* An iq with a jabber:iq:register query to the component. */
void register_iq(xmlNodePtr iq, const char *from_bare);
/* 1 (with slidge's "Missing field: 'Label'" in text) if a required registration field
 * is missing or empty in vals (KV), else 0. */
int register_missing_field(const struct proto_list *vals, char *text, size_t textsz);
/* The user asked to leave (IBR remove, or unsubscribe to the component). */
void register_unregister(const char *bare, const char *why);
/* Forget the registrations in progress (shutdown, after the workers are gone). */
void register_free(void);

/* ---- adhoc.c ---------------------------------------------------------------------- */

/* The values of a submitted XEP-0004 form into kv (KV; FORM_TYPE left out; several
 * values of one field joined by newlines). -1 on OOM. */
int form_values(xmlNodePtr x, struct proto_list *kv);
/* 1 if the supervisor runs this XEP-0050 node (registration, administration). */
int adhoc_owns(const char *node);
/* disco#items of the commands node on the component, for bare. */
void adhoc_disco_items(xmlNodePtr iq, const char *bare);
/* An iq set with a <command/> for the component. */
void adhoc_iq(xmlNodePtr iq, xmlNodePtr command, const char *bare);
/* 1 if bare is one of the gateway's admins (--admins). */
int adhoc_is_admin(const char *bare);
/* The info command's text into b. */
void adhoc_info_text(struct buf *b);
/* The chat command "register" of full (allowed and not registered): the registration
 * command played as a dialogue (chatcmd_form). */
void adhoc_chat_register(const char *full, const char *bare);
/* Forget every command in progress (shutdown, after the workers are gone). */
void adhoc_free(void);

/* ---- chatcmd.c: the session's command table, chat commands slidged answers -------- */

/* Append the disco items of the commands node that bare may use to b. */
void chatcmd_disco_items(struct buf *b, const char *bare);
/* An ad-hoc execute of a session's node (or category) that bare may not run: answer
 * slidge's access error and return 1; else 0. */
int chatcmd_adhoc_check(xmlNodePtr iq, const char *node, const char *bare);
/* A message to the gateway's bare JID from someone without a session: 1 if it was a
 * chat command (answered). */
int chatcmd_stanza(xmlNodePtr st);
/* COMMANDS (from any worker past its MANIFEST: u may be NULL), CHAT_COMMAND,
 * UNREGISTER, PREFERENCES (from u's session worker). */
void chatcmd_worker_frame(struct user *u, struct proto_msg *m);
/* The answers of a form played by chat (KV; the callee may take them), or NULL if the
 * user aborted, gave a wrong answer or did not answer in time (they were told). */
typedef void chatcmd_form_cb(void *arg, struct proto_list *answers);
/* Play a form (rows as PROTO_FIELD_*, copied) to full as slidge's chat dialogue: title
 * and instructions as messages, fixed fields as "label: value", then one question per
 * other field; cb exactly once, maybe now. -1 on OOM (cb not called). */
int chatcmd_form(const char *full, const char *title, const char *instructions,
    const struct proto_table *fields, chatcmd_form_cb *cb, void *arg);
/* full waits for a step checked elsewhere (the module): their messages are not commands
 * meanwhile; "abort" calls cb with NULL. -1 on OOM. */
int chatcmd_busy(const char *full, chatcmd_form_cb *cb, void *arg);
/* Forget the dialogue held for arg, if any; its cb is not called. */
void chatcmd_forget(void *arg);
/* Forget the dialogues and the table (shutdown). */
void chatcmd_free(void);

/* ---- workers.c --------------------------------------------------------------------- */

struct user;
struct worker;

enum worker_role { ROLE_SESSION, ROLE_REGISTER };

/* Callbacks of a register worker (register.c). */
struct register_ops {
	void (*manifest)(struct worker *w, void *arg);
	void (*result)(struct worker *w, struct proto_msg *m, void *arg);
	/* The worker died or broke the protocol before answering. */
	void (*died)(struct worker *w, const char *why, void *arg);
	/* QR_SHOWN or QR_CONFIRM (the QR step of the registration command; may be NULL). */
	void (*qr)(struct worker *w, struct proto_msg *m, void *arg);
};

/* When workers drop privileges: check that their user can execute the worker and reach
 * the home dir. -1 with a human reason in err. */
int workers_check_access(char *err, size_t errsz);
/* Load the registered users from the store. -1 on store error. */
int workers_load(void);
/* Start the sessions of every registered user, a few at a time. */
void workers_boot(void);
/* Find a registered user. */
struct user *workers_find(const char *bare);
/* Add a registered user (after IBR success) and start the session; fresh: send the
 * welcome message. rec is copied. -1 on OOM. */
int workers_add_user(const struct store_user *rec, int fresh);
/* Replace the stored data of a user (IBR update). */
void workers_update_user(struct user *u, const struct store_user *rec);
/* Stop the user's worker (unregister: it unsubscribes the contacts) and forget the user. */
void workers_remove_user(struct user *u, int unregister);
/* Hand a stanza from the user to its worker (queued while it starts). */
void workers_deliver(struct user *u, xmlNodePtr stanza);
/* Spawn a register worker; ops are called back. NULL on failure. */
struct worker *workers_spawn_register(const struct register_ops *ops, void *arg);
/* Let register worker w emit stanzas for the registration of bare (its QR code: messages
 * to bare, iqs to the upload service). -1 on OOM. */
int workers_register_for(struct worker *w, const char *bare);
/* Send a frame to a worker. -1 if the channel is gone. */
int workers_send(struct worker *w, enum proto_type t, const struct proto_val *v);
/* Stop a worker (STOP, then SIGKILL after a grace period). */
void workers_stop(struct worker *w, const char *reason);
/* Stop everything for shutdown; cb runs when every worker has exited (or was killed). */
void workers_shutdown(void (*cb)(void));
/* Pause or resume reading from every worker (backpressure). */
void workers_pause_all(int paused);
/* Remember the XEP-0356 grant of server `domain` and hand it to the sessions of its users,
 * now and whenever one starts. */
void workers_set_grant(const char *domain, xmlNodePtr stanza);
/* A worker emitted an iq get/set to its user's server (a privileged iq): give it an id of
 * ours so that the result can only reach that worker. The stanza's id is rewritten. */
int workers_track_iq(struct user *u, xmlNodePtr iq);
/* An iq result/error from a server: hand it to the worker that asked (with its own id
 * restored). -1 if we asked nothing with that id. */
int workers_iq_result(xmlNodePtr iq);
/* The bare JID a user struct is for. */
const char *workers_user_jid(const struct user *u);
/* The session's last STATE ("logged-in", "login-failed", ...; "" before any). */
const char *workers_session_state(const struct user *u);
/* Replace and store the user's preferences (the preferences command); takes prefs. */
void workers_set_preferences(struct user *u, struct proto_list *prefs);

/* What slidgectl shows of a user's session. */
struct worker_info {
	const char *jid;
	int pid;                      /* 0 without a worker */
	const char *state;            /* stopped, starting, running, parked, held */
	const char *session;          /* the worker's last STATE (logged-in, ...) */
	long uptime;                  /* seconds since the worker started, or 0 */
	unsigned int restarts;
	const char *last_exit;
	long rss_kb, pss_kb;          /* -1 if unknown */
	size_t queue;                 /* stanzas waiting + unacked */
	unsigned long long in, out;   /* stanzas to and from the worker */
};

/* Call cb for every registered user. */
void workers_foreach_info(void (*cb)(const struct worker_info *i, void *arg), void *arg);
/* Fill i for one user; -1 if not registered. */
int workers_info(const char *bare, struct worker_info *i);
/* Operator actions on one user's session: "restart", "stop", "start", "kill".
 * 0 done, -1 unknown user, -2 unknown action. */
int workers_ctl(const char *bare, const char *action);
/* Change the log level of the supervisor and every worker. */
void workers_set_loglevel(int level);
/* Resident and proportional set sizes of a process in KiB (smaps_rollup); -1 unknown. */
void proc_mem(pid_t pid, long *rss, long *pss);
/* Registered users and running worker processes. */
void workers_counts(size_t *users, int *nproc);

/* ---- policy.c ----------------------------------------------------------------------- */

/* Check a stanza a worker emits for user_jid and, if it may go out, return it parsed
 * (caller frees). NULL with the broken rule in *why otherwise. */
xmlDocPtr policy_check_emit(const char *user_jid, const char *xml, size_t len,
    const char **why);
/* The same for a register worker showing user_jid a QR code: a message from the
 * component's JID to user_jid, or an iq get to the upload service (disco#info, slot). */
xmlDocPtr policy_check_register_emit(const char *user_jid, const char *xml, size_t len,
    const char **why);
/* 1 if the stanza is an iq get to the upload service asking its disco#info or a slot
 * (XEP-0363, the worker's attachments), else 0. */
int policy_upload_iq(xmlNodePtr stanza);
/* 1 if the checked stanza goes to the user's server (a privileged stanza), else 0. */
int policy_to_server(xmlNodePtr stanza, const char *user_jid);

/* ---- main.c ----------------------------------------------------------------------- */

/* Free a manifest's contents. */
void manifest_clear(struct manifest *m);
/* Fill m from a MANIFEST message (steals its fields). */
void manifest_take(struct manifest *m, struct proto_msg *msg);

#endif
