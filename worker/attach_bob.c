/* attach_bob.c: stickers, XEP-0231 Bits of Binary (reference/slidge.md §1 row 0231, §4
 * the bob table; slidge's __send_bob in dispatcher/message/message.py and its BobStore).
 *
 * A sticker is a message whose XHTML-IM body is one paragraph holding nothing but one
 * <img src='cid:...'/> (slidge's rule; more is "custom emojis" in text). Its data is the
 * BoB of that cid: carried in the message itself, already in our cache, or fetched with
 * an iq get to the user's full JID. The bytes are checked against the hash the cid
 * names, cached in the state dir (bob-<algo>-<hex>, its type in bob-<algo>-<hex>.type)
 * and handed to on_sticker. BoB requests for a cid we hold are answered with its data;
 * any other cid gets item-not-found. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nettle/base64.h>
#include <nettle/sha1.h>
#include <nettle/sha2.h>

#include "log.h"
#include "worker.h"
#include "attach.h"
#include "upload.h"
#include "xml.h"

#define NS_BOB "urn:xmpp:bob"
#define NS_XHTML_IM "http://jabber.org/protocol/xhtml-im"
#define NS_XHTML "http://www.w3.org/1999/xhtml"
#define BOB_MAX (1u << 20)        /* decoded bytes; BoB is meant for small things */
#define BOB_MAX_AGE "86400"
#define TYPE_MAX 128

/* A parsed cid: "algo+hex@bob.xmpp.org". */
struct cid {
	char algo[16];                 /* "sha1", "sha-256", "sha-512" */
	char hex[129];
	size_t digest_len;
	char path[4096];               /* the cached data */
	char type_path[4200];
};

/* A sticker waiting for its data (the user's answer to our BoB request). */
struct pending {
	struct slidge_contact *c;
	struct slidge_reply *r;
	struct cid id;
	char *cid;
	char *reply_to_msg_id, *fallback, *thread;
	struct slidge_contact *reply_to;
};

static int
parse_cid(const char *s, struct cid *c)
{
	static const struct { const char *name, *canon; size_t len; } algos[] = {
		{ "sha1", "sha1", 20 }, { "sha-1", "sha1", 20 },
		{ "sha-256", "sha-256", 32 }, { "sha256", "sha-256", 32 },
		{ "sha-512", "sha-512", 64 }, { "sha512", "sha-512", 64 },
	};
	const char *plus = strchr(s, '+'), *at;
	size_t i, n;

	if (plus == NULL || (at = strchr(plus, '@')) == NULL)
		return -1;
	for (i = 0; i < sizeof algos / sizeof algos[0]; i++)
		if ((size_t)(plus - s) == strlen(algos[i].name) &&
		    strncasecmp(s, algos[i].name, strlen(algos[i].name)) == 0)
			break;
	if (i == sizeof algos / sizeof algos[0])
		return -1;
	n = (size_t)(at - plus - 1);
	if (n != 2 * algos[i].len)
		return -1;
	for (size_t k = 0; k < n; k++) {
		char ch = plus[1 + k];

		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F')))
			return -1;
		c->hex[k] = (char)(ch >= 'A' && ch <= 'F' ? ch - 'A' + 'a' : ch);
	}
	c->hex[n] = '\0';
	snprintf(c->algo, sizeof c->algo, "%s", algos[i].canon);
	c->digest_len = algos[i].len;
	if (snprintf(c->path, sizeof c->path, "%s/bob-%s-%s", worker.state_dir, c->algo,
	    c->hex) >= (int)sizeof c->path)
		return -1;
	snprintf(c->type_path, sizeof c->type_path, "%s.type", c->path);
	return 0;
}

/* 1 if data hashes to the cid's digest. */
static int
hash_ok(const struct cid *c, const uint8_t *data, size_t len)
{
	uint8_t d[SHA512_DIGEST_SIZE];
	char hex[2 * SHA512_DIGEST_SIZE + 1];
	size_t i;

	if (strcmp(c->algo, "sha1") == 0) {
		struct sha1_ctx x;

		sha1_init(&x);
		sha1_update(&x, len, data);
		sha1_digest(&x, SHA1_DIGEST_SIZE, d);
	} else if (strcmp(c->algo, "sha-256") == 0) {
		struct sha256_ctx x;

		sha256_init(&x);
		sha256_update(&x, len, data);
		sha256_digest(&x, SHA256_DIGEST_SIZE, d);
	} else {
		struct sha512_ctx x;

		sha512_init(&x);
		sha512_update(&x, len, data);
		sha512_digest(&x, SHA512_DIGEST_SIZE, d);
	}
	for (i = 0; i < c->digest_len; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	return strcmp(hex, c->hex) == 0;
}

static int
write_file(const char *path, const void *data, size_t len)
{
	char tmp[4300];

	/* Whole or nothing: written aside, then renamed into place. */
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	unlink(tmp);
	if (upload_write_file(tmp, data, len) < 0)
		return -1;
	if (rename(tmp, path) < 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* Read the whole file (caller frees), at most BOB_MAX bytes. NULL if absent. */
static uint8_t *
read_file(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *b;
	ssize_t n;
	size_t off = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || st.st_size < 0 || (uint64_t)st.st_size > BOB_MAX ||
	    (b = malloc((size_t)st.st_size + 1)) == NULL) {
		close(fd);
		return NULL;
	}
	while (off < (size_t)st.st_size && (n = read(fd, b + off, (size_t)st.st_size - off)) > 0)
		off += (size_t)n;
	close(fd);
	b[off] = '\0';
	*len = off;
	return b;
}

/* The cached type of a cid ("application/octet-stream" if unknown) into out. */
static void
cached_type(const struct cid *c, char *out, size_t outsz)
{
	size_t len;
	uint8_t *t = read_file(c->type_path, &len);

	snprintf(out, outsz, "%s", t != NULL && len > 0 && len < TYPE_MAX &&
	    strpbrk((char *)t, "\r\n<>&'\"") == NULL ? (char *)t : "application/octet-stream");
	free(t);
}

/* Decode, check and cache the data of a <data xmlns='urn:xmpp:bob'> element. -1 (with
 * *why) if it is not the data of c. */
static int
store_data(const struct cid *c, xmlNodePtr data, const char **why)
{
	struct base64_decode_ctx ctx;
	const char *type = xml_attr(data, "type");
	char *b64;
	uint8_t *bin;
	size_t len, blen;
	int rc = -1;

	if ((b64 = xml_text(data)) == NULL) {
		*why = "out of memory";
		return -1;
	}
	len = strlen(b64);
	blen = BASE64_DECODE_LENGTH(len);
	if (blen > BOB_MAX + 3) {
		*why = "the sticker is too large";
		free(b64);
		return -1;
	}
	if ((bin = malloc(blen + 1)) == NULL) {
		*why = "out of memory";
		free(b64);
		return -1;
	}
	base64_decode_init(&ctx);
	if (!base64_decode_update(&ctx, &blen, bin, len, b64) || !base64_decode_final(&ctx)) {
		*why = "the sticker data is not base64";
	} else if (!hash_ok(c, bin, blen)) {
		*why = "the sticker data does not match its cid";
	} else if (type != NULL && (strlen(type) >= TYPE_MAX ||
	    strpbrk(type, "\r\n<>&'\"") != NULL)) {
		*why = "the sticker has a bad type";
	} else if (write_file(c->type_path, type ? type : "application/octet-stream",
	    type ? strlen(type) : strlen("application/octet-stream")) < 0 ||
	    write_file(c->path, bin, blen) < 0) {
		*why = "cannot store the sticker";
		log_warn("bob: cannot store a sticker: %s", strerror(errno));
	} else {
		rc = 0;
	}
	free(b64);
	free(bin);
	return rc;
}

/* The data element for c's cid in node's children, or NULL. */
static xmlNodePtr
find_data(xmlNodePtr node, const char *cid)
{
	xmlNodePtr n;
	const char *a;

	for (n = xml_first_elem(node); n != NULL; n = xml_next_elem(n))
		if (strcmp((const char *)n->name, "data") == 0 && strcmp(xml_ns(n), NS_BOB) == 0 &&
		    (a = xml_attr(n, "cid")) != NULL && strcmp(a, cid) == 0)
			return n;
	return NULL;
}

static void
call_module(struct slidge_contact *c, const struct cid *id, const char *cid,
    const struct slidge_text_opts *opts, struct slidge_reply *r)
{
	struct slidge_sticker st = { 0 };
	char type[TYPE_MAX];
	struct stat sb;

	cached_type(id, type, sizeof type);
	st.path = id->path;
	st.content_type = type;
	st.cid = cid;
	st.hash_algo = id->algo;
	st.hash = id->hex;
	st.size = stat(id->path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
	log_debug("sticker to %s (%llu bytes)", c->jid, (unsigned long long)st.size);
	module->on_sticker(session, c, &st, opts, r);
}

static void
pending_free(struct pending *p)
{
	free(p->cid);
	free(p->reply_to_msg_id);
	free(p->fallback);
	free(p->thread);
	free(p);
}

static void
bob_answer(xmlNodePtr answer, void *arg)
{
	struct pending *p = arg;
	struct slidge_text_opts o = { 0 };
	const char *why = "the client did not send the sticker";
	xmlNodePtr data;

	if (answer != NULL && (data = find_data(answer, p->cid)) != NULL &&
	    strcmp(xml_attr(answer, "type") ? xml_attr(answer, "type") : "", "result") == 0 &&
	    store_data(&p->id, data, &why) == 0) {
		o.reply_to_msg_id = p->reply_to_msg_id;
		o.reply_to_fallback_text = p->fallback;
		o.thread = p->thread;
		o.reply_to = p->reply_to;
		call_module(p->c, &p->id, p->cid, &o, p->r);
	} else {
		log_info("a sticker from the user could not be fetched: %s", why);
		reply_complete_error(p->r, SLIDGE_ITEM_NOT_FOUND, why);
	}
	pending_free(p);
}

void
attach_on_sticker(struct slidge_contact *c, const char *from, const char *cid, xmlNodePtr msg,
    const struct slidge_text_opts *opts, struct slidge_reply *r)
{
	struct pending *p;
	struct cid id;
	xmlNodePtr data;
	const char *why = "out of memory";
	char q[1024];

	if (parse_cid(cid, &id) < 0) {
		reply_complete_error(r, SLIDGE_BAD_REQUEST, "Not a valid Bits of Binary content id");
		return;
	}
	/* Known already, or carried in the message itself (XEP-0231 §3). */
	if (access(id.path, R_OK) == 0 ||
	    ((data = find_data(msg, cid)) != NULL && store_data(&id, data, &why) == 0)) {
		call_module(c, &id, cid, opts, r);
		return;
	}
	if ((p = calloc(1, sizeof *p)) == NULL)
		goto fail;
	p->c = c;
	p->r = r;
	p->id = id;
	p->reply_to = opts->reply_to;
	p->cid = strdup(cid);
	p->reply_to_msg_id = opts->reply_to_msg_id ? strdup(opts->reply_to_msg_id) : NULL;
	p->fallback = opts->reply_to_fallback_text ? strdup(opts->reply_to_fallback_text) : NULL;
	p->thread = opts->thread ? strdup(opts->thread) : NULL;
	if (p->cid == NULL || strpbrk(cid, "<>&'\"") != NULL) {
		why = "Not a valid Bits of Binary content id";
		pending_free(p);
		goto fail;
	}
	snprintf(q, sizeof q, "<data xmlns='%s' cid='%s'/>", NS_BOB, cid);
	if (iq_send(session->component_jid, from, "get", q, bob_answer, p) < 0) {
		why = "cannot ask the client for the sticker";
		pending_free(p);
		goto fail;
	}
	return;
fail:
	reply_complete_error(r, SLIDGE_INTERNAL_SERVER_ERROR, why);
}

const char *
attach_sticker_cid(xmlNodePtr msg)
{
	xmlNodePtr html, body, p, img = NULL, n;
	const char *src;
	int np = 0;

	if ((html = xml_child(msg, "html", NS_XHTML_IM)) == NULL ||
	    (body = xml_child(html, "body", NS_XHTML)) == NULL)
		return NULL;
	for (n = xml_first_elem(body), p = NULL; n != NULL; n = xml_next_elem(n))
		if (strcmp((const char *)n->name, "p") == 0 && np++ == 0)
			p = n;
	if (np != 1)
		return NULL;
	/* No text in the paragraph, one image. */
	for (n = p->children; n != NULL; n = n->next) {
		if (n->type == XML_TEXT_NODE) {
			const char *t = (const char *)n->content;

			if (t != NULL && t[strspn(t, " \t\r\n")] != '\0')
				return NULL;
		} else if (n->type == XML_ELEMENT_NODE) {
			if (img != NULL || strcmp((const char *)n->name, "img") != 0)
				return NULL;
			img = n;
		}
	}
	if (img == NULL || (src = xml_attr(img, "src")) == NULL || strncmp(src, "cid:", 4) != 0 ||
	    src[4] == '\0')
		return NULL;
	return src + 4;
}

enum inbound_result
attach_bob_iq(struct inbound *in, xmlNodePtr q)
{
	struct xb x = { 0 };
	struct cid id;
	const char *cid = xml_attr(q, "cid");
	char type[TYPE_MAX], *b64;
	uint8_t *data;
	size_t len;

	if (strcmp(in->type, "get") != 0) {
		stanza_error("iq", in->to, in->from, in->id, SLIDGE_BAD_REQUEST, NULL);
		return INBOUND_DONE;
	}
	if (cid == NULL || parse_cid(cid, &id) < 0 ||
	    (data = read_file(id.path, &len)) == NULL) {
		stanza_error("iq", in->to, in->from, in->id, SLIDGE_ITEM_NOT_FOUND, NULL);
		return INBOUND_DONE;
	}
	cached_type(&id, type, sizeof type);
	if ((b64 = malloc(BASE64_ENCODE_RAW_LENGTH(len) + 1)) == NULL) {
		free(data);
		stanza_error("iq", in->to, in->from, in->id, SLIDGE_INTERNAL_SERVER_ERROR, NULL);
		return INBOUND_DONE;
	}
	base64_encode_raw((char *)b64, len, data);
	b64[BASE64_ENCODE_RAW_LENGTH(len)] = '\0';
	xb_iq_result_open(&x, in);
	xb_open(&x, "data");
	xb_attr(&x, "xmlns", NS_BOB);
	xb_attr(&x, "cid", cid);
	xb_attr(&x, "type", type);
	xb_attr(&x, "max-age", BOB_MAX_AGE);
	xb_open_end(&x);
	xb_esc(&x, b64);
	xb_close(&x, "data");
	xb_close(&x, "iq");
	xb_emit(&x);
	xb_free(&x);
	free(b64);
	free(data);
	return INBOUND_DONE;
}
