/* policy.c: what a worker may say to the XMPP server (ARCHITECTURE.md "Trust rules").
 *
 * A worker is never trusted: each stanza it emits is parsed with the same limits as the
 * server's input, must be one message, presence or iq in the component's namespace,
 * must come from inside the component's domain, and must go to the worker's own user.
 * What passes is re-serialised from the parsed tree: raw worker bytes never reach the
 * server. */
#include <string.h>

#include "jid.h"
#include "slidged.h"
#include "xml.h"

xmlDocPtr
policy_check_emit(const char *user_jid, const char *xml, size_t len, const char **why)
{
	xmlDocPtr doc;
	xmlNodePtr st;
	const char *name, *from, *to, *ns;
	struct jid jf, jt;
	char bare[JID_BUF];

	doc = xml_parse_stanza(xml, len, XML_DEPTH_MAX, why);
	if (!doc)
		return NULL;
	st = xmlDocGetRootElement(doc);
	name = (const char *)st->name;
	if (strcmp(name, "message") && strcmp(name, "presence") && strcmp(name, "iq")) {
		*why = "not a message, presence or iq";
		goto fail;
	}
	/* The stream's default namespace applies; anything else would change the meaning
	 * of the stanza once inside the component stream. */
	ns = xml_ns(st);
	if (*ns && strcmp(ns, "jabber:component:accept") != 0) {
		*why = "wrong namespace";
		goto fail;
	}
	from = xml_attr(st, "from");
	to = xml_attr(st, "to");
	if (!from || jid_parse(from, &jf) < 0 || strcmp(jf.domain, G.jid) != 0) {
		*why = "from outside the component's domain";
		goto fail;
	}
	if (!to || jid_parse(to, &jt) < 0 || jid_bare(&jt, bare, sizeof bare) < 0 ||
	    strcmp(bare, user_jid) != 0) {
		*why = "to someone other than its user";
		goto fail;
	}
	return doc;
fail:
	xmlFreeDoc(doc);
	return NULL;
}
