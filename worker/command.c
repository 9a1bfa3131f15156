/* command.c: chat messages to the gateway's bare JID (slidge's chatbot,
 * slidge/command/chat_command.py; reference/slidge.md §5).
 *
 * A message with a body is, in this order: the answer to a pending input() (of the
 * module, or of a command's dialogue), a command of the session (cmd.c: the first word,
 * lower-cased, is the keyword, the other words its arguments), or something slidged
 * answers: help, the core's administration and registration commands, a dialogue
 * slidged runs, or slidge's "Wut? I don't know that command" for anything else. That
 * last part goes to slidged in a CHAT_COMMAND frame. Messages without a body (chat
 * states, receipts) are not commands. */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "log.h"
#include "xml.h"

#define NS_RECEIPTS "urn:xmpp:receipts"

/* XEP-0184: "Command messages are acked with 0184 receipts" (reference/slidge.md §5).
 * cmd.c acks the commands it runs with their first answer; this acks the rest (input
 * answers, and what slidged answers: it never sees the request). */
static void
command_receipt(struct inbound *in)
{
	struct message_out r = { 0 };

	if (in->id == NULL || *in->id == '\0' ||
	    xml_child(in->root, "request", NS_RECEIPTS) == NULL)
		return;
	r.type = strcmp(in->type, "normal") == 0 ? "normal" : "chat";
	r.from = in->to;
	r.to = in->from;
	r.receipt = in->id;
	stanza_message(&r);
}

static void
command_to_supervisor(struct inbound *in, const char *body)
{
	struct proto_val v[CHAT_COMMAND__NFIELDS] = { 0 };
	size_t max = proto_desc(PROTO_CHAT_COMMAND)->fields[CHAT_COMMAND_body].max;

	v[CHAT_COMMAND_from].s = in->from;
	v[CHAT_COMMAND_id].s = in->id ? in->id : "";
	v[CHAT_COMMAND_id].len = worker_clip(v[CHAT_COMMAND_id].s,
	    proto_desc(PROTO_CHAT_COMMAND)->fields[CHAT_COMMAND_id].max);
	v[CHAT_COMMAND_body].s = body;
	v[CHAT_COMMAND_body].len = worker_clip(body, max);
	if (v[CHAT_COMMAND_id].len == 0)
		v[CHAT_COMMAND_id].s = "";
	worker_send(PROTO_CHAT_COMMAND, v);
}

enum inbound_result
command_message(struct inbound *in)
{
	xmlNodePtr node;
	char *body;

	if (strcmp(in->type, "chat") != 0 && strcmp(in->type, "normal") != 0)
		return INBOUND_DONE;
	if ((node = xml_child(in->root, "body", xml_ns(in->root))) == NULL)
		return INBOUND_DONE;
	if ((body = xml_text(node)) == NULL) {
		log_error("out of memory reading a command");
		return INBOUND_DONE;
	}
	if (*body == '\0' || in->jto.resource[0] != '\0') {
		/* slidge's chatbot only hears the gateway's bare JID */
		free(body);
		return INBOUND_DONE;
	}
	if (cmd_input_answer(body)) {
		command_receipt(in);
	} else if (!cmd_chat(in, body)) {
		log_debug("a chat command of %zu bytes for slidged", strlen(body));
		command_receipt(in);
		command_to_supervisor(in, body);
	}
	free(body);
	return INBOUND_DONE;
}
