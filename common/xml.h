/* xml.h: libxml2 helpers for untrusted XML: no DTD, no entity expansion, no network,
 * limits on stanza size and depth; an XMPP stream splitter on libxml2's push parser. */
#ifndef SLIDGE_XML_H
#define SLIDGE_XML_H

#include <stddef.h>
#include <libxml/tree.h>

#include "buf.h"

#define XML_STANZA_MAX (256 * 1024)  /* default bytes in one stanza */
#define XML_DEPTH_MAX 64             /* default element depth inside a stanza */

/* Process-wide libxml2 setup (no network, no entities, error output silenced).
 * Call once at start, before any other xml_* call. */
void xml_init(void);

/* ---- stream splitter ------------------------------------------------------------ */

struct xml_stream;

struct xml_stream_cb {
	/* The <stream:stream> opening tag; attrs is NULL-terminated name/value pairs. */
	void (*open)(void *arg, const char **attrs);
	/* One complete top-level element (a stanza, or stream:error / handshake), as its own
	 * document; ownership passes to the callee (xmlFreeDoc it). */
	void (*stanza)(void *arg, xmlDocPtr doc);
	/* </stream:stream> from the peer. */
	void (*close)(void *arg);
	/* A fatal error: the stream is unusable afterwards. condition is an RFC 6120 stream
	 * error condition ("not-well-formed", "policy-violation", "restricted-xml", ...),
	 * text a human explanation. */
	void (*error)(void *arg, const char *condition, const char *text);
};

/* New splitter; max_stanza and max_depth of 0 mean the defaults above. A stanza's size
 * counts every byte since the previous stanza (or the stream header, itself limited
 * the same way); its depth counts its root as 1. The stream header must be
 * <stream:stream> in the streams namespace and declare a default namespace
 * (else "invalid-namespace"). Returns NULL on allocation failure. */
struct xml_stream *xml_stream_new(const struct xml_stream_cb *cb, void *arg,
    size_t max_stanza, int max_depth);
/* Feed bytes; callbacks run from inside. -1 once the stream is in error (the error
 * callback ran exactly once). A callback may call xml_stream_free on this stream (the
 * feed then stops and returns -1), but not xml_stream_feed (it would return -1). */
int xml_stream_feed(struct xml_stream *s, const char *data, size_t len);
void xml_stream_free(struct xml_stream *s);

/* ---- single stanzas --------------------------------------------------------------- */

/* Parse one stanza (a single top-level element, nothing else but blanks around it) from
 * len bytes with the same refusals and depth limit (max_depth 0: the default); len
 * itself is the size limit, the caller bounds it. The element is read as if it came on
 * the component stream: where it declares no namespace it is in jabber:component:accept.
 * Returns a document (caller frees with xmlFreeDoc) or NULL, with a short reason in *why
 * (static string; NULL on success). */
xmlDocPtr xml_parse_stanza(const char *data, size_t len, size_t max_depth, const char **why);

/* Append node (an element, and its subtree) to b without an XML declaration; namespaces
 * are written where they are declared or needed, so a subtree stands alone. -1 on
 * failure (b is then as it was). */
int xml_serialize(xmlNodePtr node, struct buf *b);

/* ---- tree helpers ------------------------------------------------------------------ */

/* Attribute value (no namespace) or NULL. The string belongs to the node. Only valid
 * until the node changes; copy to keep. */
const char *xml_attr(xmlNodePtr n, const char *name);
/* First element child with this local name and namespace href (ns NULL: any), or NULL. */
xmlNodePtr xml_child(xmlNodePtr n, const char *name, const char *ns);
/* Namespace href of an element, or "" if none. */
const char *xml_ns(xmlNodePtr n);
/* Text content of the element (caller frees with free()), never NULL unless OOM. */
char *xml_text(xmlNodePtr n);
/* Next element sibling/child, skipping text and comments. */
xmlNodePtr xml_first_elem(xmlNodePtr n);
xmlNodePtr xml_next_elem(xmlNodePtr n);

#endif
