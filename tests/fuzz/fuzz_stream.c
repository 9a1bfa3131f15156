/* fuzz_stream.c: the XMPP stream splitter on arbitrary bytes, fed in three chunks cut at
 * offsets taken from the data, and (for small inputs) one byte at a time: both runs must
 * agree, and every stanza must serialise into something xml_parse_stanza reads back the
 * same. The data is also parsed as a single stanza. abort() on a violated invariant. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_run {
	struct buf ev;
	int errors;
	int max_depth;
};

/* Serialise, parse back, serialise again: the supervisor re-serialises every stanza
 * and workers parse them back. */
static void
fuzz_roundtrip(xmlNodePtr root, int max_depth, struct buf *out)
{
	struct buf first = BUF_INIT, again = BUF_INIT;
	const char *why;
	xmlDocPtr d;

	if (xml_serialize(root, &first) < 0)
		abort();
	/* An element in no namespace reads back in the component's, by design. */
	if (*xml_ns(root)) {
		d = xml_parse_stanza(buf_head(&first), buf_avail(&first), (size_t)max_depth, &why);
		if (!d)
			abort();
		if (xml_serialize(xmlDocGetRootElement(d), &again) < 0 ||
		    strcmp(buf_head(&first), buf_head(&again)) != 0)
			abort();
		xmlFreeDoc(d);
	}
	if (out)
		buf_append(out, buf_head(&first), buf_avail(&first));
	buf_free(&first, 0);
	buf_free(&again, 0);
}

static void
fz_open(void *arg, const char **attrs)
{
	struct fuzz_run *r = arg;
	size_t i;

	buf_puts(&r->ev, "open(");
	for (i = 0; attrs[i]; i += 2) {
		if (!attrs[i + 1])
			abort();
		buf_printf(&r->ev, "%s=%s,", attrs[i], attrs[i + 1]);
	}
	buf_puts(&r->ev, ")\n");
}

static void
fz_stanza(void *arg, xmlDocPtr doc)
{
	struct fuzz_run *r = arg;
	xmlNodePtr root = xmlDocGetRootElement(doc), c;
	char *t;

	if (!root)
		abort();
	fuzz_roundtrip(root, r->max_depth, &r->ev);
	buf_puts(&r->ev, "\n");
	/* The tree helpers, for coverage and for the sanitizers. */
	xml_attr(root, "to");
	xml_child(root, "body", NULL);
	for (c = xml_first_elem(root); c; c = xml_next_elem(c)) {
		xml_ns(c);
		t = xml_text(c);
		if (!t)
			abort();
		free(t);
		/* A subtree stands alone too. */
		if (xml_first_elem(c))
			fuzz_roundtrip(c, r->max_depth, NULL);
	}
	xmlFreeDoc(doc);
}

static void
fz_close(void *arg)
{
	buf_puts(&((struct fuzz_run *)arg)->ev, "close\n");
}

static void
fz_error(void *arg, const char *condition, const char *text)
{
	struct fuzz_run *r = arg;

	if (!condition || !text)
		abort();
	r->errors++;
}

static const struct xml_stream_cb fz_cb = { fz_open, fz_stanza, fz_close, fz_error };

/* Feed data[cuts[i]..cuts[i+1]) for each i; the events in r. */
static void
fuzz_feed(struct fuzz_run *r, const uint8_t *data, const size_t *cuts, size_t ncuts,
    size_t max_stanza)
{
	struct xml_stream *s;
	size_t i;
	int rc = 0;

	s = xml_stream_new(&fz_cb, r, max_stanza, r->max_depth);
	if (!s)
		abort();
	for (i = 0; i + 1 < ncuts && rc == 0; i++)
		rc = xml_stream_feed(s, (const char *)data + cuts[i], cuts[i + 1] - cuts[i]);
	if ((rc < 0) != (r->errors == 1) || r->errors > 1)
		abort();
	/* In error, it stays there, silently. */
	if (rc < 0 && (xml_stream_feed(s, "<a/>", 4) != -1 || r->errors != 1))
		abort();
	xml_stream_free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct fuzz_run a = { BUF_INIT, 0, 0 }, b = { BUF_INIT, 0, 0 };
	size_t cuts[4], max_stanza, i, n;
	size_t *bytes;
	const char *why;
	xmlDocPtr d;

	if (!ready) {
		xml_init();
		ready = 1;
	}
	/* Limits small enough to be reached, large enough that libxml2's own buffering
	 * (up to 300 bytes of pending text) does not make the two runs differ. */
	max_stanza = 512 + (size ? (size_t)data[size - 1] * 16 : 0);
	a.max_depth = b.max_depth = 2 + (size > 1 ? data[size - 2] % 12 : 0);

	cuts[0] = 0;
	cuts[1] = size ? (size_t)data[0] * size / 256 : 0;
	cuts[2] = size > 1 ? cuts[1] + (size_t)data[1] * (size - cuts[1]) / 256 : cuts[1];
	cuts[3] = size;
	fuzz_feed(&a, data, cuts, 4, max_stanza);

	if (size <= 2048) {
		bytes = malloc((size + 1) * sizeof *bytes);
		if (!bytes)
			abort();
		for (i = 0; i <= size; i++)
			bytes[i] = i;
		fuzz_feed(&b, data, bytes, size + 1, max_stanza);
		free(bytes);
		/* Without an error both runs saw the same events; with one, the run that
		 * stopped first saw a prefix of the other's. (libxml2 may see an error in
		 * an unfinished tag early in one run and only with more input in the
		 * other: errors themselves can differ.) */
		n = a.ev.len < b.ev.len ? a.ev.len : b.ev.len;
		if ((!a.errors && !b.errors && a.ev.len != b.ev.len) ||
		    (n && memcmp(a.ev.data, b.ev.data, n) != 0))
			abort();
	}
	buf_free(&a.ev, 0);
	buf_free(&b.ev, 0);

	d = xml_parse_stanza((const char *)data, size, (size_t)a.max_depth, &why);
	if (d) {
		if (why)
			abort();
		fuzz_roundtrip(xmlDocGetRootElement(d), a.max_depth, NULL);
		xmlFreeDoc(d);
	} else if (!why) {
		abort();
	}
	return 0;
}
