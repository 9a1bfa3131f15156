/* xml.c: untrusted XML. The XMPP stream splitter runs libxml2's push parser with our
 * own SAX handler: it builds each top-level element into its own document, refuses what
 * RFC 6120 §11.1 restricts (DTDs, comments, processing instructions, entity references
 * other than the predefined ones) and enforces size and depth limits. Single stanzas go
 * through the same splitter, wrapped in a stream header. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlIO.h>

#include "xml.h"

#define NS_STREAMS "http://etherx.jabber.org/streams"
#define NS_COMPONENT "jabber:component:accept"

/* Bytes handed to libxml2 at a time, so that the size limit is checked at least this
 * often however large the caller's chunks are. */
#define XML_PIECE 4096
/* libxml2 interns every element name, prefix and namespace URI of a stream in one
 * dictionary that only grows, and fails the parse once it holds 10 MB: a peer could
 * end a long-lived stream by sending many distinct names. Past this many bytes the
 * splitter starts a fresh parser between two stanzas. */
#define XML_DICT_RESET_AT (1024 * 1024)
/* Text and attributes are handed to libxml2 with an int length. */
#define XML_STANZA_CEILING ((size_t)INT_MAX / 2)

struct xml_stream {
	xmlParserCtxtPtr ctxt;
	struct xml_stream_cb cb;
	void *arg;
	size_t max_stanza;
	int max_depth;

	int level;            /* open elements, <stream:stream> included */
	xmlDocPtr doc;        /* the stanza being built (level >= 2) */
	xmlNodePtr cur;       /* its innermost open element */
	struct buf text;      /* character data not yet attached to cur */
	struct buf scratch;   /* decoded attribute values */
	struct buf header;    /* the stream header replayed to a fresh parser */

	/* Stream positions, in bytes from the first byte fed. The bytes since the last
	 * boundary (stream header, end of a stanza, text between stanzas) are the stanza
	 * in progress, parsed or still buffered inside libxml2. */
	size_t fed;
	size_t mark;
	size_t pos_base;      /* position of the current parser's first real byte */
	size_t synth_len;     /* bytes of replayed header the current parser read first */

	unsigned started : 1;   /* a non-blank byte was seen */
	unsigned resuming : 1;  /* the current parser is reading the replayed header */
	unsigned closed : 1;    /* </stream:stream> seen */
	unsigned failed : 1;
	unsigned reported : 1;  /* the error callback ran */
	unsigned busy : 1;      /* inside xml_stream_feed */
	unsigned dead : 1;      /* xml_stream_free was called from a callback */
	unsigned stray_text : 1;
	const char *condition;
	char errtext[200];
};

/* ---- process setup ------------------------------------------------------------------ */

static void
xml_silent(void *ctx, const char *msg, ...)
{
	(void)ctx;
	(void)msg;
}

#if LIBXML_VERSION >= 21200
static void
xml_silent_structured(void *ctx, const xmlError *err)
#else
static void
xml_silent_structured(void *ctx, xmlErrorPtr err)
#endif
{
	(void)ctx;
	(void)err;
}

/* Every external DTD or entity load ends here, whatever the parser options: nothing is
 * ever read from a file or the network on behalf of a peer. */
static xmlParserInputPtr
xml_no_loader(const char *url, const char *id, xmlParserCtxtPtr ctxt)
{
	(void)url;
	(void)id;
	(void)ctxt;
	return NULL;
}

void
xml_init(void)
{
	xmlInitParser();
	/* libxml2 prints errors on stderr by default; ours are reported through the
	 * stream's error callback instead. */
	xmlSetGenericErrorFunc(NULL, xml_silent);
	xmlSetStructuredErrorFunc(NULL, xml_silent_structured);
	xmlSetExternalEntityLoader(xml_no_loader);
}

/* ---- stream splitter: errors and positions ---------------------------------------------- */

/* Record the first error; later ones are consequences. The parser stops right away
 * (libxml2 allows xmlStopParser from its callbacks), our handlers become no-ops, and
 * xml_stream_feed reports once libxml2 has returned. */
static void __attribute__((format(printf, 3, 4)))
stream_fail(struct xml_stream *s, const char *condition, const char *fmt, ...)
{
	va_list ap;
	size_t i;

	if (s->failed)
		return;
	s->failed = 1;
	s->condition = condition;
	va_start(ap, fmt);
	vsnprintf(s->errtext, sizeof s->errtext, fmt, ap);
	va_end(ap);
	/* The text may quote the peer's input back to it and into our logs. */
	for (i = 0; s->errtext[i]; i++)
		if ((unsigned char)s->errtext[i] < 0x20 || s->errtext[i] == 0x7f)
			s->errtext[i] = ' ';
	i = strlen(s->errtext);
	while (i > 0 && s->errtext[i - 1] == ' ')
		s->errtext[--i] = '\0';
	if (s->ctxt)
		xmlStopParser(s->ctxt);
}

/* 1 if callbacks must do nothing more. */
static int
stream_off(const struct xml_stream *s)
{
	return s->failed || s->dead;
}

/* Position of the parser in the stream: just after what it has parsed. */
static size_t
stream_pos(const struct xml_stream *s)
{
	long c = xmlByteConsumed(s->ctxt);

	if (c < 0 || (size_t)c < s->synth_len)
		return s->fed;
	return s->pos_base + ((size_t)c - s->synth_len);
}

/* A stanza boundary at position pos: what came since the previous one must fit the
 * limit (xml_stream_feed checks the same between pieces, for what is still unparsed).
 * 0, or -1 after failing the stream. */
static int
stream_boundary(struct xml_stream *s, size_t pos)
{
	if (pos > s->mark && pos - s->mark > s->max_stanza) {
		stream_fail(s, "policy-violation", "stanza larger than %zu bytes", s->max_stanza);
		return -1;
	}
	s->mark = pos;
	return 0;
}

static void
stream_restricted(struct xml_stream *s, const char *what)
{
	stream_fail(s, "restricted-xml", "%s not allowed in an XMPP stream", what);
}

/* ---- stream splitter: SAX handlers ---------------------------------------------------- */

static void
sx_internal_subset(void *ctx, const xmlChar *name, const xmlChar *ext, const xmlChar *sys)
{
	(void)name;
	(void)ext;
	(void)sys;
	stream_restricted(ctx, "DTD");
}

static void
sx_external_subset(void *ctx, const xmlChar *name, const xmlChar *ext, const xmlChar *sys)
{
	(void)name;
	(void)ext;
	(void)sys;
	stream_restricted(ctx, "DTD");
}

static void
sx_entity_decl(void *ctx, const xmlChar *name, int type, const xmlChar *pub,
    const xmlChar *sys, xmlChar *content)
{
	(void)name;
	(void)type;
	(void)pub;
	(void)sys;
	(void)content;
	stream_restricted(ctx, "entity declaration");
}

static void
sx_notation_decl(void *ctx, const xmlChar *name, const xmlChar *pub, const xmlChar *sys)
{
	(void)name;
	(void)pub;
	(void)sys;
	stream_restricted(ctx, "DTD");
}

static void
sx_attribute_decl(void *ctx, const xmlChar *elem, const xmlChar *name, int type, int def,
    const xmlChar *dflt, xmlEnumerationPtr tree)
{
	(void)elem;
	(void)name;
	(void)type;
	(void)def;
	(void)dflt;
	/* The handler owns the enumeration. */
	if (tree)
		xmlFreeEnumeration(tree);
	stream_restricted(ctx, "DTD");
}

static void
sx_element_decl(void *ctx, const xmlChar *name, int type, xmlElementContentPtr content)
{
	(void)name;
	(void)type;
	(void)content;
	stream_restricted(ctx, "DTD");
}

static void
sx_unparsed_entity_decl(void *ctx, const xmlChar *name, const xmlChar *pub,
    const xmlChar *sys, const xmlChar *notation)
{
	(void)name;
	(void)pub;
	(void)sys;
	(void)notation;
	stream_restricted(ctx, "entity declaration");
}

/* libxml2 resolves the five predefined entities itself; any other name lands here, and
 * no entity is ever defined. */
static xmlEntityPtr
sx_get_entity(void *ctx, const xmlChar *name)
{
	xmlEntityPtr e = xmlGetPredefinedEntity(name);

	if (!e)
		stream_restricted(ctx, "entity reference");
	return e;
}

static xmlEntityPtr
sx_get_parameter_entity(void *ctx, const xmlChar *name)
{
	(void)name;
	stream_restricted(ctx, "entity reference");
	return NULL;
}

static xmlParserInputPtr
sx_resolve_entity(void *ctx, const xmlChar *pub, const xmlChar *sys)
{
	(void)pub;
	(void)sys;
	stream_restricted(ctx, "external entity");
	return NULL;
}

static void
sx_reference(void *ctx, const xmlChar *name)
{
	(void)name;
	stream_restricted(ctx, "entity reference");
}

static void
sx_pi(void *ctx, const xmlChar *target, const xmlChar *data)
{
	(void)target;
	(void)data;
	stream_restricted(ctx, "processing instruction");
}

static void
sx_comment(void *ctx, const xmlChar *value)
{
	(void)value;
	stream_restricted(ctx, "comment");
}

/* libxml2 rejects a markup declaration (<!DOCTYPE, <!ENTITY ...) inside element
 * content as a plain syntax error, before any SAX callback sees it; RFC 6120 §11.1 calls
 * that restricted XML. Look at the bytes around the parser's position. */
static int
near_markup_decl(struct xml_stream *s)
{
	static const char *const decls[] = { "<!DOCTYPE", "<!ENTITY", "<!ATTLIST",
		"<!ELEMENT", "<!NOTATION" };
	const xmlChar *base, *cur, *end, *from, *p;
	size_t i, n;

	if (!s->ctxt || !s->ctxt->input || !s->ctxt->input->cur)
		return 0;
	base = s->ctxt->input->base;
	cur = s->ctxt->input->cur;
	end = s->ctxt->input->end;
	if (!base || !end || cur < base || cur > end)
		return 0;
	from = cur - base > 16 ? cur - 16 : base;
	n = (size_t)(end - from) > 48 ? 48 : (size_t)(end - from);
	for (p = from; p + 2 <= from + n; p++) {
		if (p[0] != '<' || p[1] != '!')
			continue;
		for (i = 0; i < sizeof decls / sizeof decls[0]; i++) {
			size_t l = strlen(decls[i]);
			if ((size_t)(end - p) >= l && memcmp(p, decls[i], l) == 0)
				return 1;
		}
	}
	return 0;
}

/* Parse errors, through the handler rather than libxml2's global channel. Warnings
 * (e.g. a relative namespace URI) pass; any error, including the namespace ones libxml2
 * would recover from, ends the stream. */
#if LIBXML_VERSION >= 21200
static void
sx_error(void *ctx, const xmlError *err)
#else
static void
sx_error(void *ctx, xmlErrorPtr err)
#endif
{
	struct xml_stream *s = ctx;

	if (!err || err->level < XML_ERR_ERROR)
		return;
	if (err->code == XML_ERR_NO_MEMORY)
		stream_fail(s, "resource-constraint", "out of memory");
	else if (near_markup_decl(s))
		stream_restricted(s, "a DTD");
	else
		stream_fail(s, "not-well-formed", "%s", err->message ? err->message : "malformed XML");
}

/* The namespace for prefix/uri as seen from node: the declaration in scope inside the
 * stanza, or, when the stanza inherits it from the stream element (the default
 * jabber:component:accept, the stream: prefix), a new declaration on the stanza root so
 * that the stanza stands alone. */
static xmlNsPtr
stream_ns(struct xml_stream *s, xmlNodePtr node, const xmlChar *prefix, const xmlChar *uri)
{
	xmlNsPtr ns = xmlSearchNs(s->doc, node, prefix);

	if (ns && xmlStrEqual(ns->href, uri))
		return ns;
	if (!ns)
		ns = xmlNewNs(xmlDocGetRootElement(s->doc), uri, prefix);
	else
		ns = xmlNewNs(node, uri, prefix);
	if (!ns)
		stream_fail(s, "not-well-formed", "cannot declare namespace %s", (const char *)uri);
	return ns;
}

/* An attribute value as libxml2 hands it to a SAX2 handler that does not substitute
 * entities: '&' (from &amp; or &#38;) arrives re-escaped as "&#38;", every other
 * reference already replaced. Returns the value in s->scratch, or NULL. */
static const char *
stream_attr_value(struct xml_stream *s, const xmlChar *v, const xmlChar *end)
{
	const xmlChar *amp;

	buf_reset(&s->scratch);
	if ((size_t)(end - v) > s->max_stanza) {
		stream_fail(s, "policy-violation", "attribute value larger than %zu bytes",
		    s->max_stanza);
		return NULL;
	}
	while ((amp = memchr(v, '&', (size_t)(end - v))) != NULL) {
		if (end - amp < 5 || memcmp(amp, "&#38;", 5) != 0) {
			stream_restricted(s, "entity reference");
			return NULL;
		}
		if (buf_append(&s->scratch, v, (size_t)(amp - v)) < 0 ||
		    buf_append(&s->scratch, "&", 1) < 0)
			goto oom;
		v = amp + 5;
	}
	if (buf_append(&s->scratch, v, (size_t)(end - v)) < 0)
		goto oom;
	return buf_head(&s->scratch);
oom:
	stream_fail(s, "resource-constraint", "out of memory");
	return NULL;
}

/* Attach the pending character data to the current element. */
static int
stream_flush_text(struct xml_stream *s)
{
	xmlNodePtr t;

	if (buf_avail(&s->text) == 0)
		return 0;
	t = xmlNewDocTextLen(s->doc, (const xmlChar *)buf_head(&s->text),
	    (int)buf_avail(&s->text));
	buf_reset(&s->text);
	if (!t || !xmlAddChild(s->cur, t)) {
		xmlFreeNode(t);
		stream_fail(s, "resource-constraint", "out of memory");
		return -1;
	}
	return 0;
}

/* The stream header: check it is <stream:stream>, keep its namespace declarations for a
 * parser restart, and hand its attributes to the open callback. */
static void
stream_open(struct xml_stream *s, const xmlChar *localname, const xmlChar *prefix,
    const xmlChar *uri, int nb_ns, const xmlChar **ns, int nb_attrs,
    const xmlChar **attrs)
{
	const char **pairs = NULL;
	size_t i, n = 0;
	const xmlChar *in;

	if (!uri || strcmp((const char *)uri, NS_STREAMS) != 0 ||
	    strcmp((const char *)localname, "stream") != 0) {
		stream_fail(s, "invalid-namespace", "the root element is not <stream:stream>");
		return;
	}
	/* RFC 6120 §4.8.2: the stream declares the stanzas' default namespace. Without
	 * one, an unprefixed stanza would be in no namespace and would change meaning
	 * once re-serialised onto a stream that has one. */
	for (i = 0; i < (size_t)nb_ns; i++)
		if (!ns[2 * i] && ns[2 * i + 1] && *ns[2 * i + 1])
			break;
	if (i == (size_t)nb_ns) {
		stream_fail(s, "invalid-namespace", "the stream declares no default namespace");
		return;
	}
	s->level = 1;
	if (s->resuming)
		return;
	/* startElementNs runs before the tag's '>' is consumed: the first stanza starts
	 * after it. */
	in = s->ctxt->input ? s->ctxt->input->cur : NULL;
	if (stream_boundary(s, stream_pos(s) + (in && *in == '>' ? 1 : 0)) < 0)
		return;

	buf_reset(&s->header);
	if (buf_puts(&s->header, "<") < 0 ||
	    (prefix && (buf_puts(&s->header, (const char *)prefix) < 0 ||
	    buf_puts(&s->header, ":") < 0)) || buf_puts(&s->header, "stream") < 0)
		goto oom;
	for (i = 0; i < (size_t)nb_ns; i++) {
		const xmlChar *p = ns[2 * i], *u = ns[2 * i + 1];

		if (buf_puts(&s->header, " xmlns") < 0 ||
		    (p && buf_printf(&s->header, ":%s", (const char *)p) < 0) ||
		    buf_puts(&s->header, "='") < 0 ||
		    buf_put_xml_escaped(&s->header, (const char *)u) < 0 ||
		    buf_puts(&s->header, "'") < 0)
			goto oom;
	}
	if (buf_puts(&s->header, ">") < 0)
		goto oom;

	/* name/value pairs, NULL-terminated; a prefixed name (xml:lang) keeps its prefix. */
	pairs = calloc(2 * (size_t)nb_attrs + 1, sizeof *pairs);
	if (!pairs)
		goto oom;
	for (i = 0; i < (size_t)nb_attrs; i++) {
		const xmlChar **a = attrs + 5 * i;
		const char *v = stream_attr_value(s, a[3], a[4]);
		char *name, *val;

		if (!v)
			goto done;
		val = strdup(v);
		if (!a[1])
			name = strdup((const char *)a[0]);
		else if (asprintf(&name, "%s:%s", (const char *)a[1], (const char *)a[0]) < 0)
			name = NULL;
		pairs[n++] = name;
		pairs[n++] = val;
		if (!name || !val)
			goto oom;
	}
	if (s->cb.open)
		s->cb.open(s->arg, pairs);
	goto done;
oom:
	stream_fail(s, "resource-constraint", "out of memory");
done:
	for (i = 0; pairs && i < n; i++)
		free((char *)pairs[i]);
	free(pairs);
}

static void
sx_start(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri,
    int nb_ns, const xmlChar **ns, int nb_attrs, int nb_defaulted, const xmlChar **attrs)
{
	struct xml_stream *s = ctx;
	xmlNodePtr node;
	xmlNsPtr n;
	int i;

	if (stream_off(s))
		return;
	if (s->level == 0) {
		stream_open(s, localname, prefix, uri, nb_ns, ns, nb_attrs, attrs);
		return;
	}
	/* level is the new element's depth in its stanza (the stanza root is 1). */
	if (s->level > s->max_depth) {
		stream_fail(s, "policy-violation", "stanza nested deeper than %d elements",
		    s->max_depth);
		return;
	}
	if (prefix && !uri) {
		stream_fail(s, "not-well-formed", "undeclared namespace prefix %s",
		    (const char *)prefix);
		return;
	}
	if (s->level == 1) {
		s->doc = xmlNewDoc((const xmlChar *)"1.0");
		if (!s->doc)
			goto oom;
	} else if (stream_flush_text(s) < 0) {
		return;
	}
	node = xmlNewDocNode(s->doc, NULL, localname, NULL);
	if (!node)
		goto oom;
	if (s->level == 1)
		xmlDocSetRootElement(s->doc, node);
	else if (!xmlAddChild(s->cur, node)) {
		xmlFreeNode(node);
		goto oom;
	}
	s->cur = node;
	s->level++;

	for (i = 0; i < nb_ns; i++) {
		const xmlChar *p = ns[2 * i], *u = ns[2 * i + 1];

		/* xmlns:xml is legal if bound to its fixed URI (libxml2 checks that); the
		 * xml prefix is never declared in a tree. */
		if (p && xmlStrEqual(p, (const xmlChar *)"xml"))
			continue;
		if (!xmlNewNs(node, u ? u : (const xmlChar *)"", p))
			goto oom;
	}
	if (uri) {
		n = stream_ns(s, node, prefix, uri);
		if (!n)
			return;
		xmlSetNs(node, n);
	}
	/* Defaulted attributes come from a DTD, and there is none. */
	for (i = 0; i < nb_attrs - nb_defaulted; i++) {
		const xmlChar **a = attrs + 5 * i;
		const char *v;

		if (a[1] && !a[2]) {
			stream_fail(s, "not-well-formed", "undeclared namespace prefix %s",
			    (const char *)a[1]);
			return;
		}
		v = stream_attr_value(s, a[3], a[4]);
		if (!v)
			return;
		n = NULL;
		if (a[1] && !(n = stream_ns(s, node, a[1], a[2])))
			return;
		if (!xmlNewNsProp(node, n, a[0], (const xmlChar *)v))
			goto oom;
	}
	return;
oom:
	stream_fail(s, "resource-constraint", "out of memory");
}

static void
sx_end(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri)
{
	struct xml_stream *s = ctx;
	xmlDocPtr doc;

	(void)localname;
	(void)prefix;
	(void)uri;
	if (stream_off(s))
		return;
	if (s->level == 1) {
		s->level = 0;
		s->closed = 1;
		s->mark = stream_pos(s);
		if (s->cb.close)
			s->cb.close(s->arg);
		return;
	}
	if (stream_flush_text(s) < 0)
		return;
	s->level--;
	if (s->level > 1) {
		s->cur = s->cur->parent;
		return;
	}
	if (stream_boundary(s, stream_pos(s)) < 0)
		return;
	doc = s->doc;
	s->doc = NULL;
	s->cur = NULL;
	if (s->cb.stanza)
		s->cb.stanza(s->arg, doc);
	else
		xmlFreeDoc(doc);
}

static void
sx_characters(void *ctx, const xmlChar *ch, int len)
{
	struct xml_stream *s = ctx;
	int i;

	if (stream_off(s) || len <= 0)
		return;
	if (s->level <= 1) {
		/* Between stanzas: whitespace keepalives, dropped; they also end any
		 * accounting for the previous stanza. */
		for (i = 0; i < len; i++)
			if (ch[i] != ' ' && ch[i] != '\t' && ch[i] != '\r' && ch[i] != '\n')
				s->stray_text = 1;
		stream_boundary(s, stream_pos(s));
		return;
	}
	if (buf_avail(&s->text) + (size_t)len > s->max_stanza) {
		stream_fail(s, "policy-violation", "text larger than %zu bytes", s->max_stanza);
		return;
	}
	if (buf_append(&s->text, ch, (size_t)len) < 0)
		stream_fail(s, "resource-constraint", "out of memory");
}

static xmlSAXHandler stream_sax = {
	.internalSubset = sx_internal_subset,
	.externalSubset = sx_external_subset,
	.resolveEntity = sx_resolve_entity,
	.getEntity = sx_get_entity,
	.getParameterEntity = sx_get_parameter_entity,
	.entityDecl = sx_entity_decl,
	.notationDecl = sx_notation_decl,
	.attributeDecl = sx_attribute_decl,
	.elementDecl = sx_element_decl,
	.unparsedEntityDecl = sx_unparsed_entity_decl,
	.reference = sx_reference,
	.processingInstruction = sx_pi,
	.comment = sx_comment,
	.characters = sx_characters,
	/* The same handler, so that libxml2 never guesses which blanks are ignorable. */
	.ignorableWhitespace = sx_characters,
	/* CDATA sections are allowed (RFC 6120 only restricts the above): plain text. */
	.cdataBlock = sx_characters,
	.initialized = XML_SAX2_MAGIC,
	.startElementNs = sx_start,
	.endElementNs = sx_end,
	.serror = sx_error,
};

/* ---- stream splitter: driving the parser --------------------------------------------- */

/* libxml2 may build a document of its own while reading a DTD ("for expat
 * compatibility in SAX mode") and leaves it to the owner of the context. */
static void
stream_ctxt_free(xmlParserCtxtPtr c)
{
	if (c->myDoc)
		xmlFreeDoc(c->myDoc);
	c->myDoc = NULL;
	xmlFreeParserCtxt(c);
}

static xmlParserCtxtPtr
stream_ctxt_new(struct xml_stream *s)
{
	xmlParserCtxtPtr c;

	c = xmlCreatePushParserCtxt(&stream_sax, s, NULL, 0, NULL);
	if (!c)
		return NULL;
	/* No XML_PARSE_NOENT (entities stay references, which we refuse), no DTD loading,
	 * no network; the input is UTF-8 whatever the XML declaration says (XMPP allows
	 * nothing else, and libxml2 keeps byte positions exact only without a decoder). */
	xmlCtxtUseOptions(c, XML_PARSE_NONET | XML_PARSE_IGNORE_ENC);
	return c;
}

struct xml_stream *
xml_stream_new(const struct xml_stream_cb *cb, void *arg, size_t max_stanza, int max_depth)
{
	struct xml_stream *s;

	s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	if (cb)
		s->cb = *cb;
	s->arg = arg;
	s->max_stanza = max_stanza ? max_stanza : XML_STANZA_MAX;
	if (s->max_stanza > XML_STANZA_CEILING)
		s->max_stanza = XML_STANZA_CEILING;
	s->max_depth = max_depth > 0 ? max_depth : XML_DEPTH_MAX;
	s->ctxt = stream_ctxt_new(s);
	if (!s->ctxt) {
		free(s);
		return NULL;
	}
	return s;
}

/* Hand n bytes to libxml2 and turn a failed parse into a stream error. */
static void
stream_push(struct xml_stream *s, const char *p, size_t n)
{
	int rc;

	rc = xmlParseChunk(s->ctxt, p, (int)n, 0);
	if (rc != 0 && !s->failed) {
		if (rc == XML_ERR_NO_MEMORY)
			stream_fail(s, "resource-constraint", "out of memory");
		else
			stream_fail(s, "not-well-formed", "malformed XML (libxml2 error %d)", rc);
	}
}

/* Start a fresh parser between two stanzas (see XML_DICT_RESET_AT): it reads the
 * stream header again, silently, then the bytes the old one had not parsed yet. Only
 * done where the old parser stands at the start of a token, so those bytes are exactly
 * its unread input. */
static void
stream_restart(struct xml_stream *s)
{
	xmlParserInputPtr in = s->ctxt->input;
	xmlParserCtxtPtr c;
	char *left = NULL;
	size_t nleft, pos;

	nleft = (size_t)(in->end - in->cur);
	if (nleft > 0) {
		left = malloc(nleft);
		if (!left)
			goto oom;
		memcpy(left, in->cur, nleft);
	}
	pos = stream_pos(s);
	c = stream_ctxt_new(s);
	if (!c)
		goto oom;
	stream_ctxt_free(s->ctxt);
	s->ctxt = c;
	s->pos_base = pos;
	s->synth_len = buf_avail(&s->header);
	s->level = 0;
	s->resuming = 1;
	stream_push(s, buf_head(&s->header), buf_avail(&s->header));
	s->resuming = 0;
	if (!s->failed && s->level != 1)
		stream_fail(s, "internal-server-error", "cannot restart the parser");
	if (!s->failed && nleft > 0)
		stream_push(s, left, nleft);
	free(left);
	return;
oom:
	free(left);
	stream_fail(s, "resource-constraint", "out of memory");
}

/* 1 if the parser should be replaced now: a big dictionary, between stanzas, at the
 * start of a token, reading undecoded input. */
static int
stream_restart_due(const struct xml_stream *s)
{
	xmlParserCtxtPtr c = s->ctxt;

	if (s->level != 1 || s->doc || !c->dict || xmlDictGetUsage(c->dict) < XML_DICT_RESET_AT)
		return 0;
	if (c->inputNr != 1 || !c->input || !c->input->buf || c->input->buf->encoder)
		return 0;
	return c->instate == XML_PARSER_CONTENT || c->instate == XML_PARSER_START_TAG ||
	    c->instate == XML_PARSER_END_TAG;
}

/* Refuse input that is not UTF-8 before libxml2 guesses another encoding: the stream
 * must start with '<' (after blanks), and UTF-16/UCS-4 show NUL bytes. */
static void
stream_check_bytes(struct xml_stream *s, const char *data, size_t len)
{
	size_t i;

	if (memchr(data, '\0', len)) {
		stream_fail(s, "not-well-formed", "NUL byte in the stream");
		return;
	}
	for (i = 0; !s->started && i < len; i++) {
		if (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n')
			continue;
		if (data[i] != '<') {
			stream_fail(s, "not-well-formed", "the stream is not UTF-8 XML");
			return;
		}
		s->started = 1;
	}
}

static void
stream_destroy(struct xml_stream *s)
{
	if (s->ctxt)
		stream_ctxt_free(s->ctxt);
	if (s->doc)
		xmlFreeDoc(s->doc);
	buf_free(&s->text, 0);
	buf_free(&s->scratch, 0);
	buf_free(&s->header, 0);
	free(s);
}

int
xml_stream_feed(struct xml_stream *s, const char *data, size_t len)
{
	size_t n;

	if (s->busy || s->failed || s->dead)
		return -1;
	if (len == 0)
		return 0;
	s->busy = 1;
	stream_check_bytes(s, data, len);
	while (len > 0 && !stream_off(s)) {
		n = len < XML_PIECE ? len : XML_PIECE;
		s->fed += n;
		stream_push(s, data, n);
		data += n;
		len -= n;
		if (!s->failed && s->fed - s->mark > s->max_stanza)
			stream_fail(s, "policy-violation", "stanza larger than %zu bytes",
			    s->max_stanza);
		if (!stream_off(s) && stream_restart_due(s))
			stream_restart(s);
	}
	if (s->failed) {
		if (!s->reported && !s->dead) {
			s->reported = 1;
			if (s->cb.error)
				s->cb.error(s->arg, s->condition, s->errtext);
		}
	}
	s->busy = 0;
	if (s->dead) {
		stream_destroy(s);
		return -1;
	}
	return s->failed ? -1 : 0;
}

void
xml_stream_free(struct xml_stream *s)
{
	if (!s)
		return;
	/* From inside a callback: libxml2 is still on the stack; xml_stream_feed frees
	 * the stream when it returns. */
	if (s->busy) {
		s->dead = 1;
		return;
	}
	stream_destroy(s);
}

/* ---- single stanzas ---------------------------------------------------------------- */

struct one_stanza {
	xmlDocPtr doc;
	int count;
	int closed;
	const char *condition;
};

static void
one_stanza_cb(void *arg, xmlDocPtr doc)
{
	struct one_stanza *o = arg;

	o->count++;
	if (o->doc)
		xmlFreeDoc(doc);
	else
		o->doc = doc;
}

static void
one_close_cb(void *arg)
{
	((struct one_stanza *)arg)->closed = 1;
}

static void
one_error_cb(void *arg, const char *condition, const char *text)
{
	(void)text;
	((struct one_stanza *)arg)->condition = condition;
}

/* What xml_parse_stanza says for a stream error condition. */
static const char *
one_reason(const char *condition)
{
	if (strcmp(condition, "restricted-xml") == 0)
		return "restricted XML (DTD, comment, processing instruction or entity)";
	if (strcmp(condition, "policy-violation") == 0)
		return "too deep or too large";
	if (strcmp(condition, "resource-constraint") == 0)
		return "out of memory";
	return "malformed XML";
}

xmlDocPtr
xml_parse_stanza(const char *data, size_t len, size_t max_depth, const char **why)
{
	static const char head[] = "<stream:stream xmlns='" NS_COMPONENT "' "
	    "xmlns:stream='" NS_STREAMS "'>";
	static const char tail[] = "</stream:stream>";
	static const struct xml_stream_cb cb = {
		.stanza = one_stanza_cb,
		.close = one_close_cb,
		.error = one_error_cb,
	};
	struct one_stanza o = { NULL, 0, 0, NULL };
	struct xml_stream *s;
	const char *reason = NULL;
	int ok, depth = max_depth > 0 && max_depth < INT_MAX ? (int)max_depth : XML_DEPTH_MAX;

	if (len > XML_STANZA_CEILING) {
		reason = "too large";
		goto done;
	}
	/* The stanza runs through a stream of its own: the same handlers, the same
	 * refusals. The caller already holds all len bytes, so the size limit only has to
	 * let them and the wrapping through. */
	s = xml_stream_new(&cb, &o, len + sizeof head + sizeof tail, depth);
	if (!s) {
		reason = "out of memory";
		goto done;
	}
	ok = xml_stream_feed(s, head, sizeof head - 1) == 0 &&
	    xml_stream_feed(s, data, len) == 0;
	if (o.closed)
		reason = "the stream end is not a stanza";
	else if (ok)
		ok = xml_stream_feed(s, tail, sizeof tail - 1) == 0;
	if (!reason && o.condition)
		reason = one_reason(o.condition);
	if (!reason && (!ok || !o.closed))
		reason = "malformed XML";
	if (!reason && s->stray_text)
		reason = "text outside the element";
	if (!reason && o.count != 1)
		reason = o.count ? "more than one element" : "no element";
	xml_stream_free(s);
done:
	if (reason && o.doc) {
		xmlFreeDoc(o.doc);
		o.doc = NULL;
	}
	if (why)
		*why = reason;
	return o.doc;
}

/* ---- serialisation --------------------------------------------------------------- */

static int
xml_out_write(void *ctx, const char *p, int len)
{
	if (len < 0 || buf_append(ctx, p, (size_t)len) < 0)
		return -1;
	return len;
}

static int
xml_out_close(void *ctx)
{
	(void)ctx;
	return 0;
}

int
xml_serialize(xmlNodePtr node, struct buf *b)
{
	static const xmlChar utf8[] = "UTF-8";
	xmlOutputBufferPtr out;
	xmlNsPtr ns;
	xmlDocPtr copy = NULL, doc;
	xmlNodePtr root = node;
	size_t start = b->len;
	int rc = -1, err;

	if (!node || node->type != XML_ELEMENT_NODE)
		return -1;
	/* A subtree may use namespaces declared by its ancestors: copied into a document of
	 * its own, its root gets those declarations and the output stands alone. */
	if (node->parent && node->parent->type != XML_DOCUMENT_NODE) {
		copy = xmlNewDoc((const xmlChar *)"1.0");
		if (!copy)
			return -1;
		root = xmlDocCopyNode(node, copy, 1);
		if (!root)
			goto done;
		xmlDocSetRootElement(copy, root);
		/* The copy gets what its elements use, but not an ancestor's xmlns="" that
		 * keeps unprefixed elements out of any namespace: restate it. */
		ns = xmlSearchNs(node->doc, node, NULL);
		if (ns && ns->href && !*ns->href && !xmlSearchNs(copy, root, NULL) &&
		    !xmlNewNs(root, ns->href, NULL))
			goto done;
	}
	out = xmlOutputBufferCreateIO(xml_out_write, xml_out_close, b, NULL);
	if (!out)
		goto done;
	/* Non-ASCII stays UTF-8 rather than becoming character references only if an
	 * encoding is named: for text, the one passed here; for attribute values, the
	 * document's, set for the time of the dump when it has none. */
	doc = root->doc;
	if (doc && !doc->encoding)
		doc->encoding = utf8;
	xmlNodeDumpOutput(out, doc, root, 0, 0, "UTF-8");
	if (doc && doc->encoding == utf8)
		doc->encoding = NULL;
	err = out->error;
	if (xmlOutputBufferClose(out) >= 0 && err == 0)
		rc = 0;
done:
	if (copy)
		xmlFreeDoc(copy);
	if (rc < 0 && b->data && b->len >= start && start >= b->off) {
		b->len = start;
		b->data[b->len] = '\0';
	}
	return rc;
}

/* ---- tree helpers ------------------------------------------------------------------ */

const char *
xml_attr(xmlNodePtr n, const char *name)
{
	xmlAttrPtr a;

	if (!n || n->type != XML_ELEMENT_NODE)
		return NULL;
	for (a = n->properties; a; a = a->next) {
		if (a->ns || !xmlStrEqual(a->name, (const xmlChar *)name))
			continue;
		if (!a->children)
			return "";
		/* A value built from entity references has several children; ours never
		 * has, and nothing else can be returned without allocating. */
		if (a->children->type != XML_TEXT_NODE || a->children->next)
			return NULL;
		return a->children->content ? (const char *)a->children->content : "";
	}
	return NULL;
}

xmlNodePtr
xml_child(xmlNodePtr n, const char *name, const char *ns)
{
	xmlNodePtr c;

	for (c = xml_first_elem(n); c; c = xml_next_elem(c))
		if (xmlStrEqual(c->name, (const xmlChar *)name) &&
		    (!ns || strcmp(xml_ns(c), ns) == 0))
			return c;
	return NULL;
}

const char *
xml_ns(xmlNodePtr n)
{
	if (!n || !n->ns || !n->ns->href)
		return "";
	return (const char *)n->ns->href;
}

char *
xml_text(xmlNodePtr n)
{
	xmlChar *c;
	char *s;

	/* Copied so that the caller frees with free() whatever libxml2's allocator is. */
	c = n ? xmlNodeGetContent(n) : NULL;
	s = strdup(c ? (const char *)c : "");
	xmlFree(c);
	return s;
}

xmlNodePtr
xml_first_elem(xmlNodePtr n)
{
	xmlNodePtr c;

	if (!n)
		return NULL;
	for (c = n->children; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE)
			return c;
	return NULL;
}

xmlNodePtr
xml_next_elem(xmlNodePtr n)
{
	xmlNodePtr c;

	if (!n)
		return NULL;
	for (c = n->next; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE)
			return c;
	return NULL;
}
