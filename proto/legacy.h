/* legacy.h: the public C API of slidge-c for legacy modules.
 *
 * A legacy module teaches slidge-c one network. It is a shared object that exports one
 * symbol, `slidge_module_v1`, a struct slidge_module filled with the module's attributes
 * and hooks: the C counterpart of slidge's BaseGateway (attributes, validate, ...),
 * BaseSession (login, on_text, ...) and LegacyRoster (legacy id <-> JID local part).
 * The slidge core calls the hooks; the module calls the slidge_* functions below to act
 * on the XMPP side (LegacyContact's send_text, online, ...).
 *
 * Every module runs inside one slidge-worker process per user, single-threaded, in an
 * event loop owned by the core. Hooks must not block: a hook that needs a network round
 * trip keeps its struct slidge_reply and completes it later, from a timer or fd callback.
 *
 * Ownership: strings passed to hooks are valid only during the call (copy to keep);
 * strings passed to slidge_* functions are copied by the core. Contacts belong to the
 * session and stay valid until the session ends.
 *
 * Names follow slidge's so that a slidge module author recognises them. */
#ifndef SLIDGE_LEGACY_H
#define SLIDGE_LEGACY_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on any incompatible change of struct slidge_module or of a function below. */
#define SLIDGE_LEGACY_ABI 1

struct slidge_session;  /* BaseSession: one logged-in user */
struct slidge_contact;  /* LegacyContact: a puppet of a legacy contact */
struct slidge_reply;    /* completion handle of a hook (exactly one completion) */
struct slidge_form;     /* submitted form values */
struct slidge_timer;
struct slidge_file;     /* a file the user sent (on_file) */
struct slidge_sticker;  /* a sticker the user sent (on_sticker) */
struct slidge_command;  /* a command of the module (ad-hoc and chat) */
struct slidge_cmd;      /* one running command (its completion handle) */

/* ---- registration ---------------------------------------------------------------- */

enum slidge_registration_type {
	SLIDGE_SINGLE_STEP_FORM = 0,  /* XEP-0077 or the register command, one form */
	SLIDGE_TWO_FACTOR_CODE = 1,   /* form, then a code (validate_two_factor_code) */
	SLIDGE_QRCODE = 2,            /* form, then a QR code to flash (get_qr_text) */
};

/* A field of a form (slidge's FormField). Arrays of fields end with var == NULL. */
struct slidge_form_field {
	const char *var;
	const char *label;
	const char *type;        /* XEP-0004: "text-single" (NULL means this), "text-private",
	                            "text-multi", "boolean", "list-single", "list-multi",
	                            "jid-single", "fixed", "hidden" */
	int required;
	const char *value;       /* default value or NULL */
	const char *desc;        /* help text or NULL */
	const char *const *options; /* list-*: NULL-terminated value,label,value,label,... */
};

/* Value of a submitted field, or NULL if it was not submitted. */
const char *slidge_form_get(const struct slidge_form *form, const char *var);

/* ---- replies: completing a hook -------------------------------------------------- */

/* XMPP stanza error conditions a hook may fail with (RFC 6120 §8.3.3). */
#define SLIDGE_BAD_REQUEST "bad-request"
#define SLIDGE_FEATURE_NOT_IMPLEMENTED "feature-not-implemented"
#define SLIDGE_FORBIDDEN "forbidden"
#define SLIDGE_INTERNAL_SERVER_ERROR "internal-server-error"
#define SLIDGE_ITEM_NOT_FOUND "item-not-found"
#define SLIDGE_NOT_ACCEPTABLE "not-acceptable"
#define SLIDGE_NOT_ALLOWED "not-allowed"
#define SLIDGE_NOT_AUTHORIZED "not-authorized"
#define SLIDGE_RECIPIENT_UNAVAILABLE "recipient-unavailable"
#define SLIDGE_REMOTE_SERVER_TIMEOUT "remote-server-timeout"
#define SLIDGE_SERVICE_UNAVAILABLE "service-unavailable"

/* Success with no value. */
void slidge_reply_ok(struct slidge_reply *r);
/* Success with a string: the legacy message id (on_text, on_correct...), the status
 * text (login), the QR text (get_qr_text). NULL is the same as slidge_reply_ok. */
void slidge_reply_str(struct slidge_reply *r, const char *value);
/* For validate / validate_two_factor_code: add key=value to the legacy_module_data the
 * reply will store. Call before completing. */
void slidge_reply_set(struct slidge_reply *r, const char *key, const char *value);
/* For validate: success, and no second factor is needed (slidge's TwoFactorNotRequired). */
void slidge_reply_no_2fa(struct slidge_reply *r);
/* Failure: an XMPP error condition (one of the SLIDGE_* above) and a human text. */
void slidge_reply_error(struct slidge_reply *r, const char *condition, const char *text);
/* The session a reply belongs to (NULL for registration hooks). */
struct slidge_session *slidge_reply_session(struct slidge_reply *r);
/* For registration hooks (validate_two_factor_code, get_qr_text): the value of key in the
 * legacy_module_data gathered so far (what validate stored, slidge's user.legacy_module_data),
 * or NULL. The string belongs to the reply. */
const char *slidge_reply_data_get(const struct slidge_reply *r, const char *key);

/* ---- module options (passed on slidged's command line after the core options) ----- */

/* An option --name VALUE of the module. Arrays end with name == NULL. */
struct slidge_option {
	const char *name;    /* without the leading "--" */
	const char *value;   /* default */
	const char *doc;
};

/* Value of a module option (the default if not given); NULL if the module did not
 * declare it. */
const char *slidge_option(const char *name);

/* ---- the session (BaseSession) -------------------------------------------------------- */

/* The user's bare JID. */
const char *slidge_session_user_jid(const struct slidge_session *s);
/* The component's JID. */
const char *slidge_session_component_jid(const struct slidge_session *s);
/* Module-private state of the session. */
void *slidge_session_priv(const struct slidge_session *s);
void slidge_session_set_priv(struct slidge_session *s, void *priv);
/* legacy_module_data: persistent per-user key/values. get returns NULL if absent. */
const char *slidge_session_data_get(const struct slidge_session *s, const char *key);
/* Set (value NULL: remove) a key and store it in the registration store. */
void slidge_session_data_set(struct slidge_session *s, const char *key, const char *value);

/* The gateway's presence towards the user. show: NULL/"chat"/"away"/"xa"/"dnd". */
void slidge_session_send_gateway_status(struct slidge_session *s, const char *status,
    const char *show);
/* A chat message from the gateway's JID to the user. */
void slidge_session_send_gateway_message(struct slidge_session *s, const char *text);

/* ---- the event loop ----------------------------------------------------------------- */

typedef void slidge_timer_cb(struct slidge_session *s, void *arg);
/* Call cb once after `seconds`. The timer is freed after it fires or is cancelled.
 * Timers of a session are cancelled when it ends. NULL on OOM. */
struct slidge_timer *slidge_timer_add(struct slidge_session *s, double seconds,
    slidge_timer_cb *cb, void *arg);
void slidge_timer_cancel(struct slidge_timer *t);

enum slidge_log_level { SLIDGE_LOG_DEBUG = 0, SLIDGE_LOG_INFO, SLIDGE_LOG_WARN, SLIDGE_LOG_ERROR };
/* Log a line prefixed with the user. Never log credentials or message bodies. */
void slidge_log(const struct slidge_session *s, enum slidge_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- contacts (LegacyRoster, LegacyContact) ----------------------------------------- */

/* The contact with this legacy id, created if new (LegacyRoster.by_legacy_id). NULL if
 * the id cannot be mapped to a JID local part. */
struct slidge_contact *slidge_roster_by_legacy_id(struct slidge_session *s, const char *legacy_id);
/* The contact with this legacy id if it exists already, else NULL (no creation). */
struct slidge_contact *slidge_roster_lookup(struct slidge_session *s, const char *legacy_id);

const char *slidge_contact_legacy_id(const struct slidge_contact *c);
/* The contact's bare JID (local@component). */
const char *slidge_contact_jid(const struct slidge_contact *c);
struct slidge_session *slidge_contact_session(const struct slidge_contact *c);

/* The contact's display name (roster name, nick). */
void slidge_contact_set_name(struct slidge_contact *c, const char *name);
const char *slidge_contact_name(const struct slidge_contact *c);
/* Mark the contact a friend (is_friend) and put it in the user's roster
 * (add_to_roster): without roster privileges, the contact asks for a subscription. */
void slidge_contact_add_to_roster(struct slidge_contact *c);
int slidge_contact_is_friend(const struct slidge_contact *c);

/* Presence. status may be NULL; last_seen 0 means unknown. Unchanged presences are not
 * sent again. */
void slidge_contact_online(struct slidge_contact *c, const char *status, time_t last_seen);
void slidge_contact_away(struct slidge_contact *c, const char *status, time_t last_seen);
void slidge_contact_extended_away(struct slidge_contact *c, const char *status, time_t last_seen);
void slidge_contact_busy(struct slidge_contact *c, const char *status, time_t last_seen);
void slidge_contact_offline(struct slidge_contact *c, const char *status, time_t last_seen);

/* Options of slidge_contact_send_text (LegacyContact.send_text keyword arguments). A
 * NULL pointer means all defaults. */
struct slidge_send_opts {
	time_t when;                  /* legacy timestamp; 0 = now */
	const char *reply_to;         /* legacy id of the message replied to, or NULL */
	const char *reply_to_fallback;/* quoted text for clients without XEP-0461 */
	int reply_to_user;            /* 1 if the replied-to message was the user's */
	const char *thread;           /* legacy thread id or NULL */
	int carbon;                   /* 1: the user sent it from the official client */
	/* ---- 1:1 messaging (every action below reads the fields it needs) ---- */
	struct slidge_contact *reply_to_author; /* author of the replied-to message when it
	                                 is a contact (reply_to_user 0), or NULL: no author */
	unsigned hints;               /* 0: slidge's default (markable + store); else
	                                 SLIDGE_HINTS_SET | SLIDGE_HINT_* (exactly those) */
	int correction;               /* send_text: this corrects legacy_msg_id (XEP-0308) */
	const char *correction_event_id; /* legacy id of the correction event, or NULL */
	const struct slidge_link_preview *link_previews; /* n_link_previews of them */
	size_t n_link_previews;
};

/* XEP-0334 processing hints for slidge_send_opts.hints. */
#define SLIDGE_HINT_MARKABLE 0x01u           /* XEP-0333 <markable/> (not a 0334 hint) */
#define SLIDGE_HINT_STORE 0x02u
#define SLIDGE_HINT_NO_STORE 0x04u
#define SLIDGE_HINT_NO_COPY 0x08u
#define SLIDGE_HINT_NO_PERMANENT_STORE 0x10u
#define SLIDGE_HINTS_SET 0x100u              /* the hints are given (possibly none) */

/* A sender-generated link preview (Cheogram's RDF/OpenGraph elements, slidge's
 * LinkPreview). Every field may be NULL. */
struct slidge_link_preview {
	const char *about;            /* the URL the preview is about (rdf:about) */
	const char *title, *description, *url, *image, *type, *site_name; /* og:* */
};

/* A message from the contact to the user. legacy_msg_id may be NULL. */
void slidge_contact_send_text(struct slidge_contact *c, const char *body,
    const char *legacy_msg_id, const struct slidge_send_opts *opts);

/* ---- 1:1 messaging actions (LegacyContact's, issue 4 half A) ---------------------- *
 * opts may be NULL (defaults); with opts->carbon the action is the user's own, made from
 * the official client: it is sent as the user with XEP-0356 when the gateway has message
 * privileges, and dropped (logged) otherwise, as slidge does. */

/* Correct the contact's message legacy_msg_id to new_text (XEP-0308). */
void slidge_contact_correct(struct slidge_contact *c, const char *legacy_msg_id,
    const char *new_text, const struct slidge_send_opts *opts);
/* React to legacy_msg_id with emojis (XEP-0444), a NULL-terminated array: the full set,
 * replacing earlier ones; NULL or empty removes every reaction. */
void slidge_contact_react(struct slidge_contact *c, const char *legacy_msg_id,
    const char *const *emojis, const struct slidge_send_opts *opts);
/* Retract (delete) legacy_msg_id (XEP-0424, with slidge's fallbacks). */
void slidge_contact_retract(struct slidge_contact *c, const char *legacy_msg_id,
    const struct slidge_send_opts *opts);
/* Chat markers (XEP-0333). received also sends a XEP-0184 receipt (for modules with
 * proper_receipts). */
void slidge_contact_ack(struct slidge_contact *c, const char *legacy_msg_id,
    const struct slidge_send_opts *opts);
void slidge_contact_received(struct slidge_contact *c, const char *legacy_msg_id,
    const struct slidge_send_opts *opts);
void slidge_contact_displayed(struct slidge_contact *c, const char *legacy_msg_id,
    const struct slidge_send_opts *opts);

/* Chat states (XEP-0085). Repeated states are sent once, except composing. */
void slidge_contact_composing(struct slidge_contact *c);
void slidge_contact_paused(struct slidge_contact *c);
void slidge_contact_active(struct slidge_contact *c);
void slidge_contact_inactive(struct slidge_contact *c);
void slidge_contact_gone(struct slidge_contact *c);

/* ---- contact presentation: avatar, vCard, friends (LegacyContact) ------------------ */

/* The contact's avatar (LegacyContact.set_avatar), from bytes (copied): PNG, JPEG, GIF or
 * WebP as served by the legacy network. unique_id is the legacy network's id of the
 * picture (NULL: the SHA-1 of the bytes); setting the avatar the contact already has
 * (same unique id) does nothing, so update_info may call it every run. data NULL or
 * len 0 removes the avatar. The XMPP side sees it as XEP-0084 PEP items and events,
 * the XEP-0153 hash in presences and the vcard-temp PHOTO. */
void slidge_contact_set_avatar(struct slidge_contact *c, const void *data, size_t len,
    const char *unique_id);
/* The same from a file, read now: the worker's sandbox only lets it read under its
 * state directory. -1 if the file cannot be read (nothing changes). */
int slidge_contact_set_avatar_path(struct slidge_contact *c, const char *path,
    const char *unique_id);
/* The unique id of the current avatar (as given, or the SHA-1 hex), NULL if none: lets
 * update_info skip fetching an avatar the core already has. */
const char *slidge_contact_avatar_id(const struct slidge_contact *c);

/* vCard fields (LegacyContact.set_vcard keyword arguments); any pointer may be NULL.
 * full_name defaults to the contact's name. */
struct slidge_vcard {
	const char *full_name;
	const char *given;
	const char *surname;
	const char *birthday;          /* YYYY-MM-DD */
	const char *phone;
	const char *const *phones;     /* more numbers, NULL-terminated */
	const char *note;
	const char *url;
	const char *email;
	const char *country;
	const char *locality;
};
/* Set the contact's vCard (served as vcard-temp, XEP-0292 vCard4 and its PEP node;
 * pushed as an event to clients that asked for it). NULL clears it. */
void slidge_contact_set_vcard(struct slidge_contact *c, const struct slidge_vcard *v);
/* The contact's disco client type (LegacyContact.client_type): "pc" (default),
 * "phone", "web", "bot", ... */
void slidge_contact_set_client_type(struct slidge_contact *c, const char *type);

/* Friend requests from the legacy side (presence subscriptions). text may be NULL. */
/* The contact asks the user to be a friend (a subscription request carrying its nick). */
void slidge_contact_send_friend_request(struct slidge_contact *c, const char *text);
/* The contact accepted the user's friend request: it becomes a friend, its presence and
 * PEP items follow. */
void slidge_contact_accept_friend_request(struct slidge_contact *c, const char *text);
/* The contact refused the user's request, or is no longer a friend. */
void slidge_contact_reject_friend_request(struct slidge_contact *c, const char *text);

/* Search results (SearchResult), for on_search: declare the reported fields first, then
 * add items, then complete the reply with slidge_reply_ok. Completing it without items
 * means "nothing was found". A field "jid" (type jid-single) is what jabber:iq:gateway
 * answers with. */
void slidge_search_field(struct slidge_reply *r, const char *var, const char *label,
    const char *type);
/* One item: values in the order of the declared fields (NULL: empty). */
void slidge_search_item(struct slidge_reply *r, const char *const *values);

/* The user's XMPP presence towards the gateway (on_presence), one resource or merged. */
struct slidge_presence {
	const char *show;      /* "" (available), "chat", "away", "xa", "dnd", or
	                          "unavailable" (only for the resource that left) */
	const char *status;    /* "" if none */
	int priority;
};

/* ---- attachments (issue 5: send_file, on_file, on_sticker, send_qr) ---------------- */
/* SECTION-ATTACHMENTS: declarations go here. */

/* A file to send (slidge's LegacyAttachment and send_file's arguments). Give exactly one
 * source: path, data + len, read, or url. */
struct slidge_attachment {
	const char *path;             /* a file the worker can read (its sandbox allows its
	                                 state directory) */
	const void *data;             /* bytes (copied) */
	size_t len;
	/* A stream: called during slidge_contact_send_file until it returns 0 (end) or -1
	 * (error); each call fills up to len bytes of buf and returns how many. */
	long (*read)(void *stream, void *buf, size_t len);
	void *stream;
	const char *url;              /* a legacy URL: fetched, then uploaded again (or sent
	                                 as is with --use-attachment-original-urls) */
	const char *name;             /* file name; NULL: from path or url, else a uuid */
	const char *content_type;     /* MIME type; NULL: guessed from the name */
	const char *legacy_file_id;   /* the legacy network's id of the file: the same id is
	                                 uploaded once and its URL reused */
	const char *caption;          /* text sent with the file (a second message carrying
	                                 legacy_msg_id, as slidge does), or NULL */
};

/* LegacyContact.send_file: upload the file (XEP-0363, or --no-upload-path) and send the
 * user a message with body = URL, XEP-0066 OOB, SIMS (XEP-0385) and stateless file
 * sharing (XEP-0447) metadata; the caption follows. The contact's later messages wait
 * until it is sent: they keep their order. An upload failure sends a human note instead
 * (and the caption). opts as slidge_contact_send_text (reply_to, when, thread, hints,
 * carbon). Everything is copied. */
void slidge_contact_send_file(struct slidge_contact *c, const struct slidge_attachment *a,
    const char *legacy_msg_id, const struct slidge_send_opts *opts);
/* LegacyContact.send_files: n attachments, then body (or body first if body_first); the
 * legacy_msg_id goes to the body, or to the last file when there is no body. */
void slidge_contact_send_files(struct slidge_contact *c, const struct slidge_attachment *a,
    size_t n, const char *legacy_msg_id, const char *body, int body_first,
    const struct slidge_send_opts *opts);
/* A file from the gateway's own JID to the user (the session's send_file; what
 * send_gateway_message is to text). */
void slidge_session_send_gateway_file(struct slidge_session *s,
    const struct slidge_attachment *a);

/* A file the user sent, for on_file: the core has downloaded it already. */
struct slidge_file {
	const char *url;              /* the URL the user sent (XEP-0066 OOB) */
	const char *path;             /* the downloaded file, valid during the call only */
	const char *name;             /* its name (the URL's last path segment) */
	const char *content_type;     /* as the HTTP server said, else guessed from the name */
	uint64_t size;                /* bytes */
};

/* A sticker the user sent, for on_sticker (slidge's Sticker): XEP-0231 Bits of Binary
 * data, fetched from the user's client once and cached by the core. */
struct slidge_sticker {
	const char *path;             /* the cached file, valid during the call only */
	const char *content_type;     /* MIME type given with the data */
	const char *cid;              /* its content id, "algo+hash@bob.xmpp.org" */
	const char *hash_algo;        /* "sha1", "sha-256" or "sha-512" */
	const char *hash;             /* hex digest of the data (checked) */
	uint64_t size;                /* bytes */
};

/* ---- commands (issue 5: Command / Form / Confirmation / TableResult, input()) ------ */
/* SECTION-COMMANDS: declarations go here. */

/* Who may run a command (slidge's CommandAccess, same numbers). */
enum slidge_command_access {
	SLIDGE_ACCESS_ADMIN_ONLY = 0,      /* the gateway's admins (--admins) */
	SLIDGE_ACCESS_USER = 1,            /* registered users */
	SLIDGE_ACCESS_USER_LOGGED = 2,     /* registered and logged in to the legacy network */
	SLIDGE_ACCESS_USER_NON_LOGGED = 3, /* registered, login failed or not done */
	SLIDGE_ACCESS_NON_USER = 4,        /* not registered (only the core's register) */
	SLIDGE_ACCESS_ANY = 5,
};

/* A command of the module (a slidge Command subclass): an XEP-0050 ad-hoc command on
 * node, and a chat command: a message to the gateway's bare JID whose first word is
 * chat_command. run starts it: answer through the struct slidge_cmd with exactly one of
 * the slidge_cmd_* responses below, now or later (from a timer, a network callback).
 * args are the words after the keyword in a chat command (NULL-terminated; empty for
 * ad-hoc). A module's commands run for registered users only, in their session. */
struct slidge_command {
	const char *name;            /* NAME, shown in disco and help */
	const char *help;            /* HELP, shown by "help <keyword>" */
	const char *node;            /* NODE (XEP-0050 node, unique) */
	const char *chat_command;    /* CHAT_COMMAND (lower case, one word) */
	enum slidge_command_access access;
	const char *category;        /* CATEGORY: NULL, "contacts", "groups" or "admin" */
	void (*run)(struct slidge_session *s, struct slidge_cmd *cmd, const char *const *args);
};

/* The responses (slidge's CommandResponseType). Each call answers the step that is
 * running (run, or the callback of a form or a confirmation); text, done, error and
 * table end the command and free cmd. */

/* A text result (a str). NULL is the same as slidge_cmd_done. */
void slidge_cmd_text(struct slidge_cmd *cmd, const char *text);
/* No result (None): "End of command." in chat, "Success!" ad-hoc. */
void slidge_cmd_done(struct slidge_cmd *cmd);
/* Failure: an XMPP condition (SLIDGE_* above) and a human text ("Error: <text>" in
 * chat, an error iq ad-hoc). */
void slidge_cmd_error(struct slidge_cmd *cmd, const char *condition, const char *text);

/* A form to fill (slidge's Form). fields end with var == NULL and are copied; their
 * submitted values are checked as slidge's FormField.validate does (required fields,
 * jid-single a valid JID, list-* values among the options, booleans) before next runs.
 * next gets the values (slidge_form_get: list-multi values joined by newlines, booleans
 * "true"/"false") and answers through cmd again; it is called with cmd and values NULL
 * when the user cancels or times out, only to release arg. */
typedef void slidge_cmd_form_cb(struct slidge_session *s, struct slidge_cmd *cmd,
    const struct slidge_form *values, void *arg);
void slidge_cmd_form(struct slidge_cmd *cmd, const char *title, const char *instructions,
    const struct slidge_form_field *fields, slidge_cmd_form_cb *next, void *arg);

/* A yes/no question (slidge's Confirmation). On yes, next runs (and answers through cmd;
 * if success is not NULL, a text or done answer is replaced by success). On no, the
 * command ends ("Canceled" in chat, "You canceled the operation" ad-hoc) and next runs
 * with cmd NULL, only to release arg. */
typedef void slidge_cmd_confirm_cb(struct slidge_session *s, struct slidge_cmd *cmd,
    void *arg);
void slidge_cmd_confirm(struct slidge_cmd *cmd, const char *prompt, const char *success,
    slidge_cmd_confirm_cb *next, void *arg);

/* A table (slidge's TableResult): columns are fields (var, label, type; end with
 * var == NULL), values are nitems rows of one string per column (NULL: empty). A
 * jid-single column becomes xmpp: links in chat, with ?join if jids_are_mucs. */
void slidge_cmd_table(struct slidge_cmd *cmd, const char *description,
    const struct slidge_form_field *fields, const char *const *values, size_t nitems,
    int jids_are_mucs);

/* The user's bare JID running the command. */
const char *slidge_cmd_user_jid(const struct slidge_cmd *cmd);

/* BaseSession.input(): text is sent from the gateway's JID, and the user's next message
 * to the gateway's bare JID is the answer instead of a command. cb gets it, or NULL
 * when the user took too long (60 s, slidge's "You took too much time to reply"). A new
 * input() replaces a pending one (whose cb gets NULL). */
void slidge_session_input(struct slidge_session *s, const char *text,
    void (*cb)(struct slidge_session *s, const char *answer, void *arg), void *arg);

/* ---- registration: QR code (issue 5: confirm_qr) ---------------------------------- */
/* SECTION-QR: declarations go here. */
/* With registration_type SLIDGE_QRCODE, the register command runs validate(), then
 * get_qr_text(); the core renders that text as a QR code, sends it to the user (a PNG
 * attachment from the gateway, then the text) and shows it in a "Flash this" form. The
 * legacy network then tells the module that the code was flashed (or refused), and the
 * module calls slidge_confirm_qr, usually later, from a timer or fd callback of the
 * registration worker. Without a confirmation within slidged's --qr-timeout (default
 * 60 s) after the user submits the form, the registration fails. */

/* One key/value pair of legacy_module_data; arrays end with key == NULL. */
struct slidge_data_item {
	const char *key;
	const char *value;
};

/* BaseGateway.confirm_qr(user_jid, exception, legacy_data): the QR code shown to
 * user_jid (bare) was flashed. condition NULL: success, and data (may be NULL) is merged
 * into the user's legacy_module_data; otherwise the registration is refused with that
 * XMPP error condition (one of the SLIDGE_* above) and the human text. Only the first
 * call counts; a call with no registration of user_jid waiting is logged and ignored. */
void slidge_confirm_qr(const char *user_jid, const char *condition, const char *text,
    const struct slidge_data_item *data);

/* BaseSession.send_qr(text): render text as a QR code and send it from the gateway's JID
 * to the user: the PNG as an attachment (HTTP upload, XEP-0066 OOB), then the text
 * itself, for a module that pairs with the legacy network from inside login() (like
 * slidge-whatsapp). If the upload fails, the text is still sent. */
void slidge_session_send_qr(struct slidge_session *s, const char *text);

/* ---- the user's avatar, avatars from URLs (issue 4) --------------------------------- */
/* SECTION-AVATAR: declarations go here. */
/* The contact's avatar from a URL (LegacyContact.set_avatar with a URL): downloaded by
 * the core (http or https, at most 8 MiB, to a port of --http-ports), then set as with
 * slidge_contact_set_avatar. unique_id NULL: the URL is the unique id. An avatar with the
 * unique id the contact has already (or is downloading) is not fetched again. -1 if the
 * download cannot start (logged; nothing changes).
 * The user's own avatar reaches the module through on_avatar (struct slidge_module):
 * after login with the user's current avatar, then at each change, once per hash, only
 * with the sync_avatar preference on; type is the MIME type the user's client declared
 * (NULL if none), width and height 0 if it did not say. component_avatar_path is read
 * once when the worker starts, before its sandbox. */
int slidge_contact_set_avatar_url(struct slidge_contact *c, const char *url,
    const char *unique_id);

/* ---- the module ------------------------------------------------------------------- */

/* Options of on_text (the keyword arguments of BaseSession.on_text). */
struct slidge_text_opts {
	const char *reply_to_msg_id;       /* legacy id of the replied-to message, or NULL */
	const char *reply_to_fallback_text;
	const char *thread;                /* legacy thread id, or NULL */
	struct slidge_contact *reply_to;   /* author of the replied-to message if it is the
	                                      contact (NULL: the user's, or unknown) */
	const struct slidge_link_preview *link_previews; /* n_link_previews of them */
	size_t n_link_previews;
};

struct slidge_module {
	uint32_t abi;                     /* SLIDGE_LEGACY_ABI */
	const char *name;                 /* short name, e.g. "demo" */
	const char *version;

	/* BaseGateway attributes */
	const char *component_name;       /* COMPONENT_NAME (disco name) */
	const char *component_type;       /* COMPONENT_TYPE (gateway disco type) */
	enum slidge_registration_type registration_type; /* REGISTRATION_TYPE (may be
	                                     changed by init from an option) */
	const char *registration_instructions;
	const struct slidge_form_field *registration_fields; /* NULL: username + password */
	const char *search_title;
	const char *search_instructions;
	const struct slidge_form_field *search_fields;
	const char *welcome_message;      /* NULL: slidge's default */
	const char *roster_group;         /* NULL: "slidge" */
	const uint16_t *connect_ports;    /* TCP ports the module connects to; 0-terminated */
	const struct slidge_option *options;

	/* Once per process, after options are parsed, before the sandbox. May set
	 * registration_type. 0 on success; -1 aborts the worker. */
	int (*init)(struct slidge_module *m);

	/* BaseGateway hooks (run in a registration worker, without a session). */
	void (*validate)(const char *user_jid, const struct slidge_form *form,
	    struct slidge_reply *r);
	void (*validate_two_factor_code)(const char *user_jid, const char *code,
	    struct slidge_reply *r);
	void (*get_qr_text)(const char *user_jid, struct slidge_reply *r);
	/* The user unregistered; the default just logs out. */
	void (*unregister)(struct slidge_session *s, struct slidge_reply *r);

	/* BaseSession hooks. A NULL hook answers feature-not-implemented
	 * "Not implemented by the legacy module". */
	void (*login)(struct slidge_session *s, struct slidge_reply *r);   /* reply_str: status */
	void (*logout)(struct slidge_session *s);
	void (*on_text)(struct slidge_session *s, struct slidge_contact *chat, const char *text,
	    const struct slidge_text_opts *opts, struct slidge_reply *r);    /* reply_str: id */
	void (*on_composing)(struct slidge_session *s, struct slidge_contact *chat, const char *thread);
	void (*on_paused)(struct slidge_session *s, struct slidge_contact *chat, const char *thread);
	void (*on_active)(struct slidge_session *s, struct slidge_contact *chat, const char *thread);
	void (*on_inactive)(struct slidge_session *s, struct slidge_contact *chat, const char *thread);

	/* LegacyRoster: the user's friends after login (fill). Call
	 * slidge_roster_by_legacy_id + slidge_contact_add_to_roster for each, then complete
	 * r. NULL: no contacts are filled. */
	void (*roster_fill)(struct slidge_session *s, struct slidge_reply *r);
	/* LegacyRoster.jid_username_to_legacy_id: may refuse a local part by returning -1
	 * with a human text in *why (static string, or a static buffer of the module valid
	 * until its next call). username is the XEP-0106-unescaped local part, i.e. the legacy
	 * id the core will use. NULL: every unescaped local part is a legacy id. */
	int (*jid_username_to_legacy_id)(struct slidge_session *s, const char *username,
	    const char **why);
	/* Called when a contact is first created (LegacyContact.update_info): set its name,
	 * presence. NULL: nothing. */
	void (*update_info)(struct slidge_contact *c);

	/* ---- contact presentation (BaseGateway attributes, BaseSession and
	 * LegacyContact hooks); NULL hooks are simply not called ---- */
	const unsigned char *component_avatar; /* COMPONENT_AVATAR: PNG/JPEG bytes or NULL */
	size_t component_avatar_len;
	/* The user's presence changed (only if the sync_presence preference is on: the
	 * registration command's default, off after in-band registration until the user
	 * turns it on with the preferences command, as slidge). merged is slidge's merge_resources() of every available resource, NULL
	 * when none is left. */
	void (*on_presence)(struct slidge_session *s, const char *resource,
	    const struct slidge_presence *p, const struct slidge_presence *merged);
	/* Jabber search (XEP-0055), the find command and jabber:iq:gateway (XEP-0100):
	 * answer with slidge_search_field / slidge_search_item, then slidge_reply_ok. */
	void (*on_search)(struct slidge_session *s, const struct slidge_form *form,
	    struct slidge_reply *r);
	/* The user asks a non-friend to be a friend (subscribe); answer later with
	 * slidge_contact_accept_friend_request or _reject_friend_request. */
	void (*on_friend_request)(struct slidge_contact *c, const char *text);
	/* The user accepted the contact's friend request (subscribed). */
	void (*on_friend_accept)(struct slidge_contact *c);
	/* The user removed the contact or refused its request (unsubscribe(d)). */
	void (*on_friend_delete)(struct slidge_contact *c, const char *text);

	/* ---- 1:1 messaging (BaseGateway / BaseSession / LegacyContact, half A) ---- */
	int mark_all_messages;            /* MARK_ALL_MESSAGES: on_displayed for every unread
	                                     message of the contact up to the displayed one */
	int proper_receipts;              /* PROPER_RECEIPTS: no automatic XEP-0184 receipt;
	                                     the module calls slidge_contact_received */
	int message_ids_are_thread_ids;   /* MESSAGE_IDS_ARE_THREAD_IDS */
	const char *special_msg_id_prefix;/* SPECIAL_MSG_ID_PREFIX: reactions to such XMPP ids
	                                     go raw to on_react, unchecked */
	unsigned contact_no_features;     /* SLIDGE_FEATURE_* the contacts lack (LegacyContact's
	                                     CORRECTION=False...); 0: all of them */
	int reactions_single_emoji;       /* REACTIONS_SINGLE_EMOJI */
	/* LegacyContact.available_emojis: the emojis allowed on legacy_msg_id (NULL: any
	 * message), a NULL-terminated array owned by the module; NULL: any emoji. */
	const char *const *(*available_emojis)(struct slidge_contact *c, const char *legacy_msg_id);
	/* legacy_to_xmpp_msg_id / xmpp_to_legacy_msg_id for ids the store does not know:
	 * write the other side's id into out (NUL-terminated, at most outsz bytes) and
	 * return 0; -1 if the id cannot be converted. NULL: the id is the same string. */
	int (*legacy_to_xmpp_msg_id)(struct slidge_session *s, const char *legacy_id, char *out,
	    size_t outsz);
	int (*xmpp_to_legacy_msg_id)(struct slidge_session *s, const char *xmpp_id, char *out,
	    size_t outsz);
	/* Hooks. NULL: feature-not-implemented (markers and chat states: ignored). */
	void (*on_correct)(struct slidge_session *s, struct slidge_contact *chat, const char *text,
	    const char *legacy_msg_id, const struct slidge_text_opts *opts,
	    struct slidge_reply *r);        /* reply_str: the new legacy id, or none */
	void (*on_react)(struct slidge_session *s, struct slidge_contact *chat,
	    const char *legacy_msg_id, const char *const *emojis, const char *thread,
	    struct slidge_reply *r);        /* emojis: NULL-terminated, the full set */
	void (*on_retract)(struct slidge_session *s, struct slidge_contact *chat,
	    const char *legacy_msg_id, const char *thread, struct slidge_reply *r);
	void (*on_displayed)(struct slidge_session *s, struct slidge_contact *chat,
	    const char *legacy_msg_id, const char *thread);
	/* LegacyContact.create_thread: the legacy id of a new thread for the XMPP thread
	 * xmpp_thread, written into out; -1 on failure. NULL: the XMPP id itself. */
	int (*create_thread)(struct slidge_contact *c, const char *xmpp_thread, char *out,
	    size_t outsz);
	/* ---- later additions (appended: the layout above never changes) ---- */
	/* BaseSession.on_avatar: the user's own XMPP avatar changed (XEP-0084 PEP; only with
	 * the sync_avatar preference on). data NULL, len 0: the user removed it. hash is the
	 * SHA-1 hex of data, type its MIME type, width/height 0 if unknown. */
	void (*on_avatar)(struct slidge_session *s, const void *data, size_t len,
	    const char *hash, const char *type, unsigned width, unsigned height);
	/* BaseSession.on_file: the user sent a file (an XEP-0066 OOB URL, usually from
	 * XEP-0363 upload). The core downloads it first (size-limited, streamed to disk);
	 * see struct slidge_file. reply_str: the legacy message id. */
	void (*on_file)(struct slidge_session *s, struct slidge_contact *chat,
	    const struct slidge_file *f, const struct slidge_text_opts *opts,
	    struct slidge_reply *r);
	/* BaseSession.on_sticker: the user sent a sticker (XEP-0231 BoB, fetched from the
	 * user's client and cached by the core). reply_str: the legacy message id. */
	void (*on_sticker)(struct slidge_session *s, struct slidge_contact *chat,
	    const struct slidge_sticker *st, const struct slidge_text_opts *opts,
	    struct slidge_reply *r);
	/* The module's own commands (slidge's Command subclasses), ad-hoc and chat; an
	 * array ended by an entry with name == NULL, or NULL. See "commands" above. */
	const struct slidge_command *commands;
	/* COMPONENT_AVATAR as a file path (read at start) when component_avatar is NULL. */
	const char *component_avatar_path;
	/* BaseGateway.confirm_qr is slidge_confirm_qr() (see "registration: QR code"). */
};


/* LegacyContact feature switches (slidge_module.contact_no_features). */
#define SLIDGE_FEATURE_CHAT_STATES 0x01u
#define SLIDGE_FEATURE_RECEIPTS 0x02u
#define SLIDGE_FEATURE_CORRECTION 0x04u
#define SLIDGE_FEATURE_MARKS 0x08u
#define SLIDGE_FEATURE_UPLOAD 0x10u
#define SLIDGE_FEATURE_REACTION 0x20u
#define SLIDGE_FEATURE_RETRACTION 0x40u
#define SLIDGE_FEATURE_REPLIES 0x80u

/* The one symbol a module exports. */
#define SLIDGE_MODULE_SYMBOL "slidge_module_v1"
extern struct slidge_module slidge_module_v1;

#ifdef __cplusplus
}
#endif

#endif
