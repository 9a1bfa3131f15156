/* xml_test.c: the stream splitter (fed whole, one byte at a time and in odd chunks),
 * its refusals and limits, single-stanza parsing, serialisation and the tree helpers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "xml.h"

static int failures, cases;

#define H "<stream:stream xmlns='jabber:component:accept' " \
	"xmlns:stream='http://etherx.jabber.org/streams' from='gw.example' id='abc'>"
#define NSC " xmlns=\"jabber:component:accept\""
#define NSS " xmlns:stream=\"http://etherx.jabber.org/streams\""
#define END "</stream:stream>"

/* Events of one run, as text: "open(from=..,id=..)|<stanza>|close|error:condition". */
struct run {
	struct buf ev;
	struct xml_stream *s;
	int errors;
	int free_in_stanza;   /* free the stream from the stanza callback */
	int roundtrip_bad;    /* a stanza did not survive serialise/parse/serialise */
};

static void
ev_sep(struct run *r)
{
	if (r->ev.len)
		buf_puts(&r->ev, "|");
}

static void
cb_open(void *arg, const char **attrs)
{
	struct run *r = arg;
	size_t i;

	ev_sep(r);
	buf_puts(&r->ev, "open(");
	for (i = 0; attrs[i]; i += 2)
		buf_printf(&r->ev, "%s%s=%s", i ? "," : "", attrs[i], attrs[i + 1]);
	buf_puts(&r->ev, ")");
}

static void
cb_stanza(void *arg, xmlDocPtr doc)
{
	struct run *r = arg;
	struct buf a = BUF_INIT, b = BUF_INIT;
	const char *why = NULL;
	xmlDocPtr again;

	ev_sep(r);
	if (xml_serialize(xmlDocGetRootElement(doc), &a) < 0) {
		buf_puts(&r->ev, "SERIALIZE-FAILED");
	} else {
		buf_append(&r->ev, a.data, a.len);
		/* What we write must read back the same (an element in no namespace reads
		 * back in the component's, by design). */
		again = xml_parse_stanza(a.data, a.len, 0, &why);
		if (*xml_ns(xmlDocGetRootElement(doc)) && (!again || xml_serialize(xmlDocGetRootElement(again), &b) < 0 ||
		    strcmp(a.data, b.data) != 0)) {
			printf("  round trip of %s: %s -> %s\n", a.data, why ? why : "ok",
			    b.data ? b.data : "");
			r->roundtrip_bad = 1;
		}
		xmlFreeDoc(again);
	}
	buf_free(&a, 0);
	buf_free(&b, 0);
	xmlFreeDoc(doc);
	if (r->free_in_stanza) {
		xml_stream_free(r->s);
		r->s = NULL;
	}
}

static void
cb_close(void *arg)
{
	struct run *r = arg;

	ev_sep(r);
	buf_puts(&r->ev, "close");
}

static void
cb_error(void *arg, const char *condition, const char *text)
{
	struct run *r = arg;

	ev_sep(r);
	buf_printf(&r->ev, "error:%s", condition);
	r->errors++;
	if (!text || !*text)
		buf_puts(&r->ev, "(no text)");
}

static const struct xml_stream_cb cbs = { cb_open, cb_stanza, cb_close, cb_error };

/* Feed in in chunks of step bytes (0: all at once); the events, caller frees. */
static char *
run_stream(const char *in, size_t len, size_t step, size_t max_stanza, int max_depth,
    int *roundtrip_bad)
{
	struct run r = { BUF_INIT, NULL, 0, 0, 0 };
	size_t off = 0, n;
	int rc = 0;

	r.s = xml_stream_new(&cbs, &r, max_stanza, max_depth);
	if (!r.s)
		return strdup("NEW-FAILED");
	while (off < len && rc == 0) {
		n = step && step < len - off ? step : len - off;
		rc = xml_stream_feed(r.s, in + off, n);
		off += n;
	}
	/* Once in error, the stream stays there and the callback never runs again. */
	if (rc < 0 && (xml_stream_feed(r.s, "<a/>", 4) != -1 || r.errors != 1)) {
		ev_sep(&r);
		buf_puts(&r.ev, "ERROR-NOT-STICKY");
	}
	xml_stream_free(r.s);
	*roundtrip_bad = r.roundtrip_bad;
	buf_puts(&r.ev, "");
	return buf_steal(&r.ev);
}

static void
check(const char *name, const char *got, const char *want)
{
	cases++;
	if (strcmp(got, want) != 0) {
		failures++;
		printf("FAIL %s\n  got:  %s\n  want: %s\n", name, got, want);
	}
}

struct stream_case {
	const char *name;
	const char *in;
	size_t max_stanza;
	int max_depth;
	const char *want;
};

#define OPEN "open(from=gw.example,id=abc)"
#define T50 "01234567890123456789012345678901234567890123456789"

static const struct stream_case stream_cases[] = {
	{ "handshake and message", H "<handshake/><message to='a@b' from='c@d'>"
	  "<body>hi &amp; bye &lt;3 &gt; &quot; &apos;</body></message>" END, 0, 0,
	  OPEN "|<handshake" NSC "/>|<message" NSC " to=\"a@b\" from=\"c@d\"><body>"
	  "hi &amp; bye &lt;3 &gt; \" '</body></message>|close" },
	{ "xml declaration", "<?xml version='1.0' encoding='UTF-8'?>\n" H "<iq/>" END, 0, 0,
	  OPEN "|<iq" NSC "/>|close" },
	{ "declared encoding ignored", "<?xml version='1.0' encoding='ISO-8859-1'?>" H
	  "<iq id='\xc3\xa9'/>", 0, 0, OPEN "|<iq" NSC " id=\"\xc3\xa9\"/>" },
	{ "keepalives between stanzas", H " \n\t<a/>  \r\n <b/> " END, 0, 0,
	  OPEN "|<a" NSC "/>|<b" NSC "/>|close" },
	{ "attribute escapes", H "<iq id='a&amp;b&#38;c&lt;&gt;&quot;&apos;\"' type=\"x'y\"/>",
	  0, 0, OPEN "|<iq" NSC " id=\"a&amp;b&amp;c&lt;&gt;&quot;'&quot;\" type=\"x'y\"/>" },
	{ "character references", H "<m><b>&#x1F600;&#65;\xc3\xa9&#38;</b></m>", 0, 0,
	  OPEN "|<m" NSC "><b>\xf0\x9f\x98\x80" "A\xc3\xa9&amp;</b></m>" },
	{ "whitespace in attributes", H "<m a='x\ty\nz' b='&#9;&#10;&#13;'/>", 0, 0,
	  OPEN "|<m" NSC " a=\"x y z\" b=\"&#9;&#10;&#13;\"/>" },
	{ "cdata is text", H "<m><body><![CDATA[<b>&x]]>!</body></m>", 0, 0,
	  OPEN "|<m" NSC "><body>&lt;b&gt;&amp;x!</body></m>" },
	{ "child namespaces", H "<message><x xmlns='urn:x'><y a='1'/></x>"
	  "<p:z xmlns:p='urn:p' p:attr='1' attr='2'/><q xmlns=''><r/></q></message>", 0, 0,
	  OPEN "|<message" NSC "><x xmlns=\"urn:x\"><y a=\"1\"/></x><p:z xmlns:p=\"urn:p\" "
	  "p:attr=\"1\" attr=\"2\"/><q xmlns=\"\"><r/></q></message>" },
	{ "stream error keeps its prefix", H "<stream:error><not-authorized "
	  "xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>" END, 0, 0,
	  OPEN "|<stream:error" NSS "><not-authorized "
	  "xmlns=\"urn:ietf:params:xml:ns:xmpp-streams\"/></stream:error>|close" },
	{ "prefix declared on the stream", "<s:stream xmlns:s='http://etherx.jabber.org/streams' "
	  "xmlns='jabber:component:accept' xmlns:f='urn:f'><f:x f:a='1'><y/></f:x><z/></s:stream>",
	  0, 0, "open()|<f:x xmlns:f=\"urn:f\" xmlns=\"jabber:component:accept\" f:a=\"1\"><y/>"
	  "</f:x>|<z" NSC "/>|close" },
	{ "no default namespace on the stream", "<stream:stream "
	  "xmlns:stream='http://etherx.jabber.org/streams'><a><b/></a>" END, 0, 0,
	  "error:invalid-namespace" },
	{ "empty default namespace on the stream", "<stream:stream xmlns='' "
	  "xmlns:stream='http://etherx.jabber.org/streams'><a><b/></a>" END, 0, 0,
	  "error:invalid-namespace" },
	{ "no namespace under a prefixed root", H "<p:a xmlns:p='urn:p' xmlns=''><b/>"
	  "<c xmlns='urn:c'/></p:a>", 0, 0, OPEN "|<p:a xmlns:p=\"urn:p\" xmlns=\"\"><b/>"
	  "<c xmlns=\"urn:c\"/></p:a>" },
	{ "default namespace redeclared", H "<message xmlns='jabber:client'><body/></message>",
	  0, 0, OPEN "|<message xmlns=\"jabber:client\"><body/></message>" },
	{ "xml:lang", H "<message xml:lang='en'><body xml:lang='fr'>x</body></message>", 0, 0,
	  OPEN "|<message" NSC " xml:lang=\"en\"><body xml:lang=\"fr\">x</body></message>" },
	{ "stream attributes", "<stream:stream xmlns='jabber:component:accept' "
	  "xmlns:stream='http://etherx.jabber.org/streams' to='x' xml:lang='en' "
	  "version='1.0' id='a&amp;b'/>", 0, 0, "open(to=x,xml:lang=en,version=1.0,id=a&b)|close" },
	{ "many stanzas", H "<a/><b/><c/><d/><e/><f/><g/><h/><i/><j/>", 0, 0,
	  OPEN "|<a" NSC "/>|<b" NSC "/>|<c" NSC "/>|<d" NSC "/>|<e" NSC "/>|<f" NSC "/>|<g" NSC
	  "/>|<h" NSC "/>|<i" NSC "/>|<j" NSC "/>" },
	{ "non-ascii names", H "<m\xc3\xa9 a\xc3\xa9='\xe2\x82\xac'/>", 0, 0,
	  OPEN "|<m\xc3\xa9" NSC " a\xc3\xa9=\"\xe2\x82\xac\"/>" },

	{ "doctype", "<!DOCTYPE stream>" H, 0, 0, "error:restricted-xml" },
	{ "doctype inside the stream", H "<!DOCTYPE m [<!ENTITY a 'x'>]><m>&a;</m>", 0, 0,
	  "open(from=gw.example,id=abc)|error:restricted-xml" },
	{ "billion laughs", "<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>"
	  "<!ENTITY lol2 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>"
	  "<!ENTITY lol3 '&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;'>]>"
	  H "<m>&lol3;</m>", 0, 0, "error:restricted-xml" },
	{ "external entity", "<!DOCTYPE m [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>" H
	  "<m>&x;</m>", 0, 0, "error:restricted-xml" },
	{ "external dtd", "<!DOCTYPE stream:stream SYSTEM 'http://127.0.0.1:1/x.dtd'>" H, 0, 0,
	  "error:restricted-xml" },
	{ "undeclared entity in text", H "<m>&foo;</m>", 0, 0, OPEN "|error:restricted-xml" },
	{ "undeclared entity in attribute", H "<m to='&foo;'/>", 0, 0,
	  OPEN "|error:restricted-xml" },
	{ "comment in a stanza", H "<m><!-- hi --></m>", 0, 0, OPEN "|error:restricted-xml" },
	{ "comment between stanzas", H "<a/><!-- hi --><b/>", 0, 0,
	  OPEN "|<a" NSC "/>|error:restricted-xml" },
	{ "comment before the stream", "<!-- hi -->" H, 0, 0, "error:restricted-xml" },
	{ "processing instruction", H "<m><?php x ?></m>", 0, 0, OPEN "|error:restricted-xml" },
	{ "late xml declaration", H "<?xml version='1.0'?><m/>", 0, 0,
	  OPEN "|error:not-well-formed" },
	{ "mismatched tags", H "<message><body></message>", 0, 0,
	  OPEN "|error:not-well-formed" },
	{ "duplicate attribute", H "<m a='1' a='2'/>", 0, 0, OPEN "|error:not-well-formed" },
	{ "undeclared prefix", H "<foo:bar/>", 0, 0, OPEN "|error:not-well-formed" },
	{ "undeclared attribute prefix", H "<m foo:a='1'/>", 0, 0,
	  OPEN "|error:not-well-formed" },
	{ "bad utf-8", H "<m>\xff\xfe</m>", 0, 0, OPEN "|error:not-well-formed" },
	{ "overlong utf-8", H "<m>\xc0\xaf</m>", 0, 0, OPEN "|error:not-well-formed" },
	{ "control character", H "<m>\x01</m>", 0, 0, OPEN "|error:not-well-formed" },
	{ "nul byte", "<stream\0", 0, 0, "error:not-well-formed" },
	{ "utf-16", "<\0s\0", 0, 0, "error:not-well-formed" },
	{ "utf-16 bom", "\xff\xfe<\0", 0, 0, "error:not-well-formed" },
	{ "ebcdic", "\x4c\x6f\xa7\x94", 0, 0, "error:not-well-formed" },
	{ "text before the stream", "hello" H, 0, 0, "error:not-well-formed" },
	{ "wrong root", "<foo xmlns='jabber:component:accept'>", 0, 0,
	  "error:invalid-namespace" },
	{ "wrong stream namespace", "<stream:stream xmlns:stream='urn:nope'>", 0, 0,
	  "error:invalid-namespace" },
	{ "content after the close", H "<a/>" END "<b/>", 0, 0,
	  OPEN "|<a" NSC "/>|close|error:not-well-formed" },
	{ "second root", H END H, 0, 0, OPEN "|close|error:not-well-formed" },

	/* Limits. The stanza is counted from the end of the previous boundary. */
	{ "stanza at the size limit", H "<m>" T50 T50 T50 T50 "</m>", 207, 0,
	  OPEN "|<m" NSC ">" T50 T50 T50 T50 "</m>" },
	{ "stanza over the size limit", H "<m>" T50 T50 T50 T50 "</m>", 206, 0,
	  OPEN "|error:policy-violation" },
	{ "keepalives do not add up", H "<m>" T50 T50 T50 "</m>     <m>" T50 T50 T50 "</m>",
	  160, 0, OPEN "|<m" NSC ">" T50 T50 T50 "</m>|<m" NSC ">" T50 T50 T50 "</m>" },
	{ "stream header over the size limit", H, 40, 0, "error:policy-violation" },
	{ "unterminated start tag", H "<message to='" T50 T50 T50 T50 T50 T50, 200, 0,
	  OPEN "|error:policy-violation" },
	{ "depth at the limit", H "<a><b><c/></b></a>", 0, 3,
	  OPEN "|<a" NSC "><b><c/></b></a>" },
	{ "depth over the limit", H "<a><b><c><d/></c></b></a>", 0, 3,
	  OPEN "|error:policy-violation" },
};

static void
test_stream_cases(void)
{
	static const size_t steps[] = { 0, 1, 2, 7, 64 };
	size_t i, j;
	char name[160];

	for (i = 0; i < sizeof stream_cases / sizeof stream_cases[0]; i++) {
		const struct stream_case *c = &stream_cases[i];
		/* The table's inputs with a NUL in them end at "</m>" or the second byte. */
		size_t len = strlen(c->in);

		if (strcmp(c->name, "nul byte") == 0)
			len = 8;
		else if (strcmp(c->name, "utf-16") == 0 || strcmp(c->name, "utf-16 bom") == 0)
			len = 4;
		for (j = 0; j < sizeof steps / sizeof steps[0]; j++) {
			int bad = 0;
			char *got = run_stream(c->in, len, steps[j], c->max_stanza, c->max_depth,
			    &bad);

			snprintf(name, sizeof name, "%s (chunks of %zu)", c->name, steps[j]);
			check(name, got, c->want);
			if (bad) {
				failures++;
				printf("FAIL %s: round trip\n", name);
			}
			free(got);
		}
	}
}

/* Many stanzas per chunk, and a stanza callback that frees the stream. */
static void
test_stream_bulk(void)
{
	struct buf in = BUF_INIT;
	struct run r = { BUF_INIT, NULL, 0, 0, 0 };
	size_t i, count = 0;
	const char *p;

	buf_puts(&in, H);
	for (i = 0; i < 1000; i++)
		buf_printf(&in, "<message id='%zu'><body>%zu</body></message>", i, i);
	r.s = xml_stream_new(&cbs, &r, 0, 0);
	cases++;
	if (xml_stream_feed(r.s, in.data, in.len) != 0) {
		failures++;
		printf("FAIL bulk: feed\n");
	}
	for (p = r.ev.data; p && (p = strstr(p, "<message")); p++)
		count++;
	if (count != 1000 || !strstr(r.ev.data, "<message" NSC " id=\"999\"><body>999</body>")) {
		failures++;
		printf("FAIL bulk: %zu stanzas\n", count);
	}
	xml_stream_free(r.s);
	buf_free(&r.ev, 0);

	/* Freed from the stanza callback: the feed returns -1 and nothing else runs. */
	r.s = xml_stream_new(&cbs, &r, 0, 0);
	r.free_in_stanza = 1;
	cases++;
	if (xml_stream_feed(r.s, in.data, in.len) != -1 || r.s != NULL ||
	    strstr(r.ev.data, "id=\"1\"")) {
		failures++;
		printf("FAIL free from the stanza callback: %s\n", r.ev.data);
	}
	buf_free(&r.ev, 0);
	buf_free(&in, 0);
}

/* A long-lived stream full of distinct names: libxml2's dictionary alone would fail
 * the parse at 10 MB; the splitter must keep going, namespaces intact. */
static void
test_stream_many_names(void)
{
	struct buf in = BUF_INIT;
	struct run r = { BUF_INIT, NULL, 0, 0, 0 };
	char name[1001];
	size_t i, count = 0, total = 12000;
	const char *p;
	int rc = 0;
	static const char head[] = "<s:stream xmlns:s='http://etherx.jabber.org/streams' "
	    "xmlns='jabber:component:accept' xmlns:f='urn:f'>";

	r.s = xml_stream_new(&cbs, &r, 0, 0);
	rc |= xml_stream_feed(r.s, head, sizeof head - 1);
	memset(name, 'n', sizeof name - 1);
	name[sizeof name - 1] = '\0';
	for (i = 0; i < total && rc == 0; i++) {
		snprintf(name, sizeof name, "n%zu", i);
		name[strlen(name)] = 'x';
		/* Ten stanzas per feed, so that restarts also happen with a partly read
		 * stanza inside libxml2. */
		buf_printf(&in, " <f:%s a='%zu'/>", name, i);
		if (i % 10 != 9 && i + 1 < total)
			continue;
		rc |= xml_stream_feed(r.s, in.data, in.len);
		buf_reset(&in);
		/* Keep the event log short: only the count and the last stanza matter. */
		for (p = r.ev.data; p && (p = strstr(p, "<f:")); p++)
			count++;
		if (i + 1 < total)
			buf_reset(&r.ev);
	}
	cases++;
	if (rc != 0 || count != total || !strstr(r.ev.data, "xmlns:f=\"urn:f\"") ||
	    !strstr(r.ev.data, " a=\"11999\"")) {
		failures++;
		printf("FAIL many names: rc %d, %zu stanzas, last %.80s\n", rc, count,
		    r.ev.data ? r.ev.data : "");
	}
	xml_stream_free(r.s);
	buf_free(&r.ev, 0);
	buf_free(&in, 0);
}

struct stanza_case {
	const char *name;
	const char *in;
	size_t max_depth;
	const char *want;   /* serialised, or "!reason" */
};

static const struct stanza_case stanza_cases[] = {
	{ "no namespace gets the component's", "<message to='a@b'><body>x</body></message>", 0,
	  "<message" NSC " to=\"a@b\"><body>x</body></message>" },
	{ "own namespace kept", "<message xmlns='jabber:client'/>", 0,
	  "<message xmlns=\"jabber:client\"/>" },
	{ "surrounding blanks", " \n<iq/>\n ", 0, "<iq" NSC "/>" },
	{ "prefixed root", "<p:x xmlns:p='urn:p'><p:y/></p:x>", 0,
	  "<p:x xmlns:p=\"urn:p\"><p:y/></p:x>" },
	{ "depth at the limit", "<a><b/></a>", 2, "<a" NSC "><b/></a>" },
	{ "depth over the limit", "<a><b><c/></b></a>", 2, "!too deep or too large" },
	{ "empty", "", 0, "!no element" },
	{ "blank", "  ", 0, "!no element" },
	{ "two elements", "<a/><b/>", 0, "!more than one element" },
	{ "text before", "x<a/>", 0, "!text outside the element" },
	{ "text after", "<a/>x", 0, "!text outside the element" },
	{ "unterminated", "<a>", 0, "!malformed XML" },
	{ "half a tag", "<a", 0, "!malformed XML" },
	{ "stray end tag", "</a>", 0, "!malformed XML" },
	{ "stream end", "</stream:stream>", 0, "!the stream end is not a stanza" },
	{ "stream end and more", "<a/></stream:stream><b/>", 0,
	  "!the stream end is not a stanza" },
	{ "xml declaration", "<?xml version='1.0'?><a/>", 0, "!malformed XML" },
	{ "doctype", "<!DOCTYPE a><a/>", 0,
	  "!restricted XML (DTD, comment, processing instruction or entity)" },
	{ "comment", "<a><!--x--></a>", 0,
	  "!restricted XML (DTD, comment, processing instruction or entity)" },
	{ "entity", "<a>&x;</a>", 0,
	  "!restricted XML (DTD, comment, processing instruction or entity)" },
	{ "processing instruction", "<a/><?x y?>", 0,
	  "!restricted XML (DTD, comment, processing instruction or entity)" },
	{ "undeclared prefix", "<a:b/>", 0, "!malformed XML" },
	{ "stream element", "<stream:stream>", 0, "!malformed XML" },
};

static void
test_parse_stanza(void)
{
	size_t i;
	struct buf b = BUF_INIT;
	const char *why;
	xmlDocPtr d;

	for (i = 0; i < sizeof stanza_cases / sizeof stanza_cases[0]; i++) {
		const struct stanza_case *c = &stanza_cases[i];

		why = NULL;
		buf_reset(&b);
		d = xml_parse_stanza(c->in, strlen(c->in), c->max_depth, &why);
		if (d) {
			if (xml_serialize(xmlDocGetRootElement(d), &b) < 0)
				buf_puts(&b, "SERIALIZE-FAILED");
			if (why)
				buf_printf(&b, " (why %s)", why);
			xmlFreeDoc(d);
		} else {
			buf_printf(&b, "!%s", why ? why : "(null)");
		}
		check(c->name, buf_head(&b), c->want);
	}
	why = NULL;
	d = xml_parse_stanza("<a>\0</a>", 8, 0, &why);
	check("nul byte", d ? "parsed" : why, "malformed XML");
	xmlFreeDoc(d);
	buf_free(&b, 0);
}

/* Subtrees serialise with the namespaces they inherit; helpers read the tree. */
static void
test_tree(void)
{
	static const char in[] = "<message xmlns='jabber:component:accept' to='a@b' "
	    "xmlns:p='urn:p'>text<body>hi <b>there</b></body><!---->"
	    "<x xmlns='urn:x' p:a='1'><y n='v&amp;'/></x><x xmlns='urn:y'/></message>";
	const char *why;
	struct buf b = BUF_INIT;
	xmlDocPtr d;
	xmlNodePtr root, body, x, y;
	char *t;

	/* Comments are refused by the parser, so build this tree by hand from a parse
	 * of the same text without the comment. */
	char clean[sizeof in];
	const char *c = strstr(in, "<!---->");

	memcpy(clean, in, (size_t)(c - in));
	strcpy(clean + (c - in), c + 7);
	d = xml_parse_stanza(clean, strlen(clean), 0, &why);
	cases++;
	if (!d) {
		failures++;
		printf("FAIL tree: parse: %s\n", why);
		return;
	}
	root = xmlDocGetRootElement(d);
	xmlAddNextSibling(root->children->next, xmlNewDocComment(d, (const xmlChar *)"c"));

	body = xml_first_elem(root);
	check("first element", body ? (const char *)body->name : "(null)", "body");
	x = xml_next_elem(body);
	check("next element skips comments", x ? (const char *)x->name : "(null)", "x");
	check("xml_ns", xml_ns(x), "urn:x");
	check("xml_ns of the root", xml_ns(root), "jabber:component:accept");
	check("xml_attr", xml_attr(root, "to") ? xml_attr(root, "to") : "(null)", "a@b");
	check("xml_attr absent", xml_attr(root, "from") ? "found" : "(null)", "(null)");
	check("xml_attr with a namespace", xml_attr(x, "a") ? "found" : "(null)", "(null)");
	check("xml_child any namespace", xml_child(root, "x", NULL) == x ? "x" : "?", "x");
	check("xml_child by namespace",
	    xml_child(root, "x", "urn:y") == xml_next_elem(x) ? "y" : "?", "y");
	check("xml_child missing", xml_child(root, "x", "urn:z") ? "found" : "(null)", "(null)");
	t = xml_text(body);
	check("xml_text", t, "hi there");
	free(t);
	t = xml_text(xml_child(x, "y", NULL));
	check("xml_text empty", t, "");
	free(t);

	buf_reset(&b);
	xml_serialize(body, &b);
	check("serialise a child", buf_head(&b),
	    "<body" NSC ">hi <b>there</b></body>");
	buf_reset(&b);
	y = xml_child(x, "y", "urn:x");
	xml_serialize(y, &b);
	check("serialise a grandchild", buf_head(&b), "<y xmlns=\"urn:x\" n=\"v&amp;\"/>");
	buf_reset(&b);
	xml_serialize(x, &b);
	check("serialise with an inherited prefix", buf_head(&b),
	    "<x xmlns=\"urn:x\" xmlns:p=\"urn:p\" p:a=\"1\"><y n=\"v&amp;\"/></x>");
	/* Appends to what the buffer holds. */
	buf_reset(&b);
	buf_puts(&b, "<<");
	xml_serialize(y, &b);
	check("serialise appends", buf_head(&b), "<<<y xmlns=\"urn:x\" n=\"v&amp;\"/>");
	xmlFreeDoc(d);

	/* An ancestor's xmlns="" is restated on a subtree that needs it. */
	d = xml_parse_stanza("<m xmlns=''><p:a xmlns:p='urn:p'><b/></p:a></m>", 47, 0, &why);
	cases++;
	if (!d) {
		failures++;
		printf("FAIL tree: parse: %s\n", why);
		buf_free(&b, 0);
		return;
	}
	x = xml_first_elem(xmlDocGetRootElement(d));
	buf_reset(&b);
	xml_serialize(x, &b);
	check("serialise under xmlns=\"\"", buf_head(&b),
	    "<p:a xmlns:p=\"urn:p\" xmlns=\"\"><b/></p:a>");
	buf_reset(&b);
	xml_serialize(xml_first_elem(x), &b);
	check("serialise a no-namespace leaf", buf_head(&b), "<b xmlns=\"\"/>");
	root = xmlDocGetRootElement(d);

	buf_reset(&b);
	xmlAddChild(root, xmlNewDocText(d, (const xmlChar *)"t"));
	check("serialise a text node", xml_serialize(root->last, &b) == -1 ? "-1" : "0", "-1");
	xmlFreeDoc(d);
	buf_free(&b, 0);
}

int
main(void)
{
	xml_init();
	test_stream_cases();
	test_stream_bulk();
	test_stream_many_names();
	test_parse_stanza();
	test_tree();
	xmlCleanupParser();
	printf("xml: %d/%d cases passed\n", cases - failures, cases);
	return failures ? 1 : 0;
}
