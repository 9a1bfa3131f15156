/* cmd.h: the command engine of the session (slidge's slidge/command/: Command, adhoc.py,
 * chat_command.py) and the core's session commands.
 *
 *   cmd.c          struct slidge_cmd and its responses; the two front-ends over one
 *                  engine: XEP-0050 iqs and the chat dialogue; input()
 *   cmd_builtin.c  the core's session commands (unregister, preferences, re-login, find,
 *                  contacts, sync-contacts)
 *   command.c      chat messages to the gateway's bare JID: input answers, commands */
#ifndef SLIDGE_WORKER_CMD_H
#define SLIDGE_WORKER_CMD_H

#include "commands.h"
#include "worker.h"

#define CMD_NODE_PREFIX PROTO_CMD_NODE_PREFIX
#define CMD_INPUT_TIMEOUT 60.0     /* slidge's input() timeout; env SLIDGE_INPUT_TIMEOUT */

/* cmd.c */
/* Tell slidged the commands a session serves (a COMMANDS frame), right after the
 * MANIFEST in every role: slidged knows them from its first worker on. -1 if the frame
 * could not be queued. */
int cmd_send_table(void);
/* USER_ADMIN: whether the user is one of the gateway's admins (for ADMIN_ONLY). */
void cmd_user_admin(struct proto_msg *m);
/* An iq set with a <command xmlns='http://jabber.org/protocol/commands'/> to the gateway.
 * DEFERRED until the step answers. */
enum inbound_result cmd_adhoc_iq(struct inbound *in, xmlNodePtr command);
/* A chat command: body (not empty) of a message to the gateway's bare JID. 1 if the
 * session served it, 0 if it is not one of the session's (slidged gets it). */
int cmd_chat(struct inbound *in, const char *body);
/* A message to the gateway that answers a pending input(): 1 if it was one (consumed). */
int cmd_input_answer(const char *body);
/* Forget every command and the pending input (session end). */
void cmd_free_all(void);

/* cmd_builtin.c: the core's session commands, ended by name == NULL. */
extern const struct slidge_command cmd_builtins[];
/* 1 once the user confirmed the unregister command: the teardown then leaves out
 * XEP-0100's unavailable/unsubscribe/unsubscribed of the gateway (slidge sends those
 * on the in-band unregistration only). */
int cmd_unregistered_by_command(void);

/* session.c: run login() again (the re-login command); cb gets NULL and the status text
 * on success, or the failure text. */
void session_relogin(void (*cb)(const char *error, const char *status, void *arg),
    void *arg);

/* search.c: run on_search for a command with the submitted values (KV). cb gets the
 * reported columns (var/label/type arrays of nfields) and nitems rows of nfields values,
 * or an error condition and text. -1 (cb not called) if it could not start. */
typedef void search_result_cb(const char *condition, const char *text, size_t nfields,
    char *const *var, char *const *label, char *const *type, char *const *items,
    size_t nitems, void *arg);
int search_run(const struct proto_list *form, search_result_cb *cb, void *arg);

#endif
