/* command.c: chat messages to the gateway's bare JID (slidge's chatbot,
 * slidge/command/chat_command.py; reference/slidge.md §5).
 *
 * A body is split on spaces: the first word, lower-cased, is the command keyword, the
 * other words its arguments. No keyword is served by the worker yet, so every one gets
 * slidge's answer for an unknown keyword: a reply "Wut? I don't know that command: <w>"
 * and an item-not-found error with the same text. Messages without a body (chat
 * states, receipts) are not commands. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "worker.h"
#include "xml.h"

#define KEYWORD_MAX 64

/* The first space-separated word of body, lower-cased, into out (truncated). */
static void
command_keyword(const char *body, char *out, size_t outsz)
{
	size_t i;

	for (i = 0; body[i] != '\0' && body[i] != ' ' && i + 1 < outsz; i++)
		out[i] = (char)tolower((unsigned char)body[i]);
	out[i] = '\0';
}

static void
command_unknown(struct inbound *in, const char *keyword)
{
	struct message_out m = { 0 };
	char text[KEYWORD_MAX + 64];

	snprintf(text, sizeof text, "Wut? I don't know that command: %s", keyword);
	m.type = in->type;
	m.from = in->to;
	m.to = in->from;
	m.body = text;
	stanza_message(&m);
	stanza_error("message", in->to, in->from, in->id, SLIDGE_ITEM_NOT_FOUND, text);
}

enum inbound_result
command_message(struct inbound *in)
{
	xmlNodePtr node;
	char *body;
	char keyword[KEYWORD_MAX];

	if (strcmp(in->type, "chat") != 0 && strcmp(in->type, "normal") != 0)
		return INBOUND_DONE;
	if ((node = xml_child(in->root, "body", xml_ns(in->root))) == NULL)
		return INBOUND_DONE;
	if ((body = xml_text(node)) == NULL) {
		log_error("out of memory reading a command");
		return INBOUND_DONE;
	}
	if (*body != '\0') {
		command_keyword(body, keyword, sizeof keyword);
		log_info("a chat command of %zu bytes: unknown keyword", strlen(keyword));
		command_unknown(in, keyword);
	}
	free(body);
	return INBOUND_DONE;
}
