/* disco.c: XEP-0030 service discovery of contacts and their XEP-0115 caps
 * (slidge's ChatterDiscoMixin / ContactAccountDiscoMixin; reference/slidge.md §7.1
 * cases 10-11).
 *
 * A contact's full JID is a client: identity client/<client_type> named after the
 * gateway, and the features of a slidge contact (less those the module switched off),
 * plus the XEP-0444 restrictions form when reactions are restricted. Its bare JID is an
 * account with a (virtual) PEP service. The ver string of the full JID's info goes in
 * the caps of every available presence of the contact (presence.c); a client that asks
 * for node#ver gets the same info. The component's own disco is slidged's; the
 * gateway's available presences carry its caps (disco_gateway_presence), so that the
 * user's server learns the +notify features of the component (urn:xmpp:avatar:metadata:
 * the user's avatar events, avatar.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "log.h"
#include "worker.h"
#include "parity.h"
#include "xml.h"

#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"
#define NS_DATA "jabber:x:data"
#define NS_RESTRICTIONS "urn:xmpp:reactions:0:restrictions"
#define MAX_FEATURES 16
#define MAX_EMOJIS 256

/* slidge's ChatterDiscoMixin.features(), in its order, with the switch that removes
 * each. jabber:x:conference (INVITATION_RECIPIENT) is left out: without groups an
 * invitation leads nowhere. */
static const struct {
	const char *var;
	unsigned unless;
} contact_features[] = {
	{ "http://jabber.org/protocol/chatstates", SLIDGE_FEATURE_CHAT_STATES },
	{ "urn:xmpp:receipts", SLIDGE_FEATURE_RECEIPTS },
	{ "urn:xmpp:message-correct:0", SLIDGE_FEATURE_CORRECTION },
	{ "urn:xmpp:chat-markers:0", SLIDGE_FEATURE_MARKS },
	{ "jabber:x:oob", SLIDGE_FEATURE_UPLOAD },
	{ "urn:xmpp:reactions:0", SLIDGE_FEATURE_REACTION },
	{ "urn:xmpp:message-retract:0", SLIDGE_FEATURE_RETRACTION },
	{ "urn:xmpp:reply:0", SLIDGE_FEATURE_REPLIES },
	{ "urn:ietf:params:xml:ns:vcard-4.0", 0 },
};

static const char *const account_features[] = {
	"http://jabber.org/protocol/pubsub",
	"http://jabber.org/protocol/pubsub#retrieve-items",
	"http://jabber.org/protocol/pubsub#subscribe",
	NULL,
};

static const char *
client_type(const struct slidge_contact *c)
{
	return c->client_type != NULL ? c->client_type : "pc";
}

static const char *
gateway_name(void)
{
	return module->component_name != NULL ? module->component_name : "";
}

/* The features of a contact's full JID, NULL-terminated, into out. */
static void
full_features(const char **out)
{
	size_t i, n = 0;

	for (i = 0; i < sizeof contact_features / sizeof contact_features[0]; i++)
		if (!(module->contact_no_features & contact_features[i].unless))
			out[n++] = contact_features[i].var;
	out[n] = NULL;
}

/* The reactions restrictions (XEP-0444 §2.2): max_reactions_per_user and allowlist.
 * *allow gets the module's NULL-terminated list or NULL. 1 if there is a form. */
static int
restrictions(struct slidge_contact *c, const char *const **allow)
{
	*allow = NULL;
	if (module->contact_no_features & SLIDGE_FEATURE_REACTION)
		return 0;
	if (module->available_emojis != NULL)
		*allow = module->available_emojis(c, NULL);
	return module->reactions_single_emoji || *allow != NULL;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void
put(struct buf *b, int *err, const char *s)
{
	if (!*err && (buf_puts(b, s) < 0 || buf_puts(b, "<") < 0))
		*err = 1;
}

/* XEP-0115 §5.1 verification string, with the restrictions form (§5.4 step 3). */
static int
caps_string(const char *const *identities, const char *const *features,
    struct slidge_contact *form_of, struct buf *b)
{
	const char *sorted[MAX_FEATURES + 1], *allow_sorted[MAX_EMOJIS], *const *allow;
	size_t i, n, na;
	int err = 0;

	for (n = 0; identities[n] != NULL && n < MAX_FEATURES; n++)
		sorted[n] = identities[n];
	qsort(sorted, n, sizeof *sorted, cmp_str);
	for (i = 0; i < n; i++)
		put(b, &err, sorted[i]);
	for (n = 0; features[n] != NULL && n < MAX_FEATURES; n++)
		sorted[n] = features[n];
	qsort(sorted, n, sizeof *sorted, cmp_str);
	for (i = 0; i < n; i++)
		put(b, &err, sorted[i]);
	if (form_of != NULL && restrictions(form_of, &allow)) {
		/* FORM_TYPE first, then the fields sorted by var: allowlist before max_... */
		put(b, &err, NS_RESTRICTIONS);
		if (allow != NULL) {
			for (na = 0; allow[na] != NULL && na < MAX_EMOJIS; na++)
				allow_sorted[na] = allow[na];
			qsort(allow_sorted, na, sizeof *allow_sorted, cmp_str);
			put(b, &err, "allowlist");
			for (i = 0; i < na; i++)
				put(b, &err, allow_sorted[i]);
		}
		if (module->reactions_single_emoji) {
			put(b, &err, "max_reactions_per_user");
			put(b, &err, "1");
		}
	}
	return err ? -1 : 0;
}

static int
ver_of(struct buf *b, char *out, size_t outsz)
{
	unsigned char d[20];
	char *s;

	avatar_sha1(b->data ? b->data : "", b->len, d);
	if ((s = avatar_base64(d, sizeof d)) == NULL)
		return -1;
	snprintf(out, outsz, "%s", s);
	free(s);
	return 0;
}

int
disco_caps_ver(const char *const *identities, const char *const *features, char *out,
    size_t outsz)
{
	struct buf b = BUF_INIT;
	int rc = -1;

	if (caps_string(identities, features, NULL, &b) == 0)
		rc = ver_of(&b, out, outsz);
	buf_free(&b, 0);
	return rc;
}

/* The component's disco#info as slidged answers it (route_disco_info in
 * supervisor/route.c): keep both lists equal (test_parity compares the ver of the
 * gateway's presence with the info slidged gives). */
static const char *const component_features[] = {
	"http://jabber.org/protocol/disco#info",
	"http://jabber.org/protocol/disco#items",
	"jabber:iq:register",
	"http://jabber.org/protocol/commands",
	"urn:xmpp:ping",
	"jabber:iq:version",
	"jabber:iq:search",
	"jabber:iq:gateway",
	"urn:ietf:params:xml:ns:vcard-4.0",
	"http://jabber.org/protocol/pubsub#event",
	"http://jabber.org/protocol/pubsub#retrieve-items",
	"http://jabber.org/protocol/pubsub#persistent-items",
	"urn:xmpp:avatar:metadata+notify",
	NULL,
};

static const char *
component_caps_ver(void)
{
	static char ver[64];
	char gw[512];
	const char *identities[] = { gw, "account/registered//", "pubsub/pep//", NULL };

	if (ver[0] != '\0')
		return ver;
	snprintf(gw, sizeof gw, "gateway/%s//%s",
	    module->component_type != NULL ? module->component_type : "", gateway_name());
	if (disco_caps_ver(identities, component_features, ver, sizeof ver) < 0) {
		log_error("cannot compute the gateway's caps ver string");
		ver[0] = '\0';
	}
	return ver;
}

void
disco_gateway_presence(const struct presence_out *p)
{
	struct xb x = { 0 };
	const struct avatar *a;

	xb_open(&x, "presence");
	xb_attr(&x, "from", p->from);
	xb_attr(&x, "to", p->to);
	xb_attr(&x, "type", p->type);
	xb_open_end(&x);
	if (p->show != NULL)
		xb_text(&x, "show", NULL, p->show);
	if (p->status != NULL)
		xb_text(&x, "status", NULL, p->status);
	if (p->type == NULL) {
		/* slidge's caps filter on the component's presences, and its avatar's hash. */
		xb_open(&x, "c");
		xb_attr(&x, "xmlns", "http://jabber.org/protocol/caps");
		xb_attr(&x, "hash", "sha-1");
		xb_attr(&x, "node", CAPS_NODE);
		xb_attr(&x, "ver", component_caps_ver());
		xb_open_end(&x);
		xb_close(&x, "c");
		if ((a = avatar_component()) != NULL)
			avatar_write_update(&x, a);
	}
	xb_close(&x, "presence");
	xb_emit(&x);
	xb_free(&x);
}

const char *
disco_contact_caps_ver(const struct slidge_contact *c)
{
	static char ver[64];
	struct buf b = BUF_INIT;
	const char *features[MAX_FEATURES + 1], *identities[2];
	char ident[512];

	snprintf(ident, sizeof ident, "client/%s//%s", client_type(c), gateway_name());
	identities[0] = ident;
	identities[1] = NULL;
	full_features(features);
	ver[0] = '\0';
	if (caps_string(identities, features, (struct slidge_contact *)c, &b) < 0 ||
	    ver_of(&b, ver, sizeof ver) < 0)
		log_error("cannot compute a caps ver string");
	buf_free(&b, 0);
	return ver;
}

static void
identity(struct xb *x, const char *category, const char *type, const char *name)
{
	xb_open(x, "identity");
	xb_attr(x, "category", category);
	xb_attr(x, "type", type);
	xb_attr(x, "name", name);
	xb_open_end(x);
	xb_close(x, "identity");
}

static void
feature(struct xb *x, const char *var)
{
	xb_open(x, "feature");
	xb_attr(x, "var", var);
	xb_open_end(x);
	xb_close(x, "feature");
}

static void
form_field(struct xb *x, const char *var, const char *type, const char *const *values,
    const char *one)
{
	xb_open(x, "field");
	xb_attr(x, "var", var);
	xb_attr(x, "type", type);
	xb_open_end(x);
	if (one != NULL)
		xb_text(x, "value", NULL, one);
	for (; values != NULL && *values != NULL; values++)
		xb_text(x, "value", NULL, *values);
	xb_close(x, "field");
}

static void
info_result(struct inbound *in, struct slidge_contact *c, const char *node)
{
	struct xb x = { 0 };
	const char *features[MAX_FEATURES + 1], *const *allow;
	size_t i;

	xb_iq_result_open(&x, in);
	xb_open(&x, "query");
	xb_attr(&x, "xmlns", NS_DISCO_INFO);
	xb_attr(&x, "node", node);
	xb_open_end(&x);
	if (in->jto.resource[0] != '\0') {
		identity(&x, "client", client_type(c), gateway_name());
		full_features(features);
		for (i = 0; features[i] != NULL; i++)
			feature(&x, features[i]);
		if (restrictions(c, &allow)) {
			xb_open(&x, "x");
			xb_attr(&x, "xmlns", NS_DATA);
			xb_attr(&x, "type", "result");
			xb_open_end(&x);
			form_field(&x, "FORM_TYPE", "hidden", NULL, NS_RESTRICTIONS);
			if (module->reactions_single_emoji)
				form_field(&x, "max_reactions_per_user", NULL, NULL, "1");
			if (allow != NULL)
				form_field(&x, "allowlist", NULL, allow, NULL);
			xb_close(&x, "x");
		}
	} else {
		identity(&x, "account", "registered", gateway_name());
		identity(&x, "pubsub", "pep", gateway_name());
		for (i = 0; account_features[i] != NULL; i++)
			feature(&x, account_features[i]);
	}
	xb_close(&x, "query");
	xb_close(&x, "iq");
	xb_emit(&x);
	xb_free(&x);
}

enum inbound_result
disco_iq(struct inbound *in, xmlNodePtr q)
{
	struct slidge_contact *c;
	const char *why, *node = xml_attr(q, "node");
	char caps_node[256];
	struct xb x = { 0 };

	if (strcmp(in->type, "get") != 0) {
		stanza_error("iq", in->to, in->from, in->id, SLIDGE_BAD_REQUEST, NULL);
		return INBOUND_DONE;
	}
	if (!in->to_contact) {
		stanza_error("iq", in->to, in->from, in->id, SLIDGE_SERVICE_UNAVAILABLE, NULL);
		return INBOUND_DONE;
	}
	if ((c = contact_by_local(session, in->jto.local, &why)) == NULL) {
		stanza_error("iq", in->to, in->from, in->id, SLIDGE_ITEM_NOT_FOUND, why);
		return INBOUND_DONE;
	}
	if (strcmp(xml_ns(q), NS_DISCO_ITEMS) == 0) {
		/* A contact has no items (slidge answers an empty list, whatever the node). */
		xb_iq_result_open(&x, in);
		xb_empty(&x, "query", NS_DISCO_ITEMS);
		xb_close(&x, "iq");
		xb_emit(&x);
		xb_free(&x);
		return INBOUND_DONE;
	}
	if (node != NULL && *node != '\0') {
		/* Only the caps node of the full JID: what a client asks after our <c/>. */
		snprintf(caps_node, sizeof caps_node, "%s#%s", CAPS_NODE, disco_contact_caps_ver(c));
		if (in->jto.resource[0] == '\0' || strcmp(node, caps_node) != 0) {
			stanza_error("iq", in->to, in->from, in->id, SLIDGE_ITEM_NOT_FOUND, NULL);
			return INBOUND_DONE;
		}
	}
	info_result(in, c, node != NULL && *node != '\0' ? node : NULL);
	return INBOUND_DONE;
}
