/* attach.c: attachments (issue 5; reference/slidge.md §1 rows 0066/0363/0385/0447/0461,
 * §2 LegacyAttachment and send_file(s), §4 the attachment table; slidge's
 * AttachmentMixin and the OOB part of dispatcher/message/message.py).
 *
 * Towards the user (send_file): the file (a path, bytes, a stream spooled to the state
 * dir, or a legacy URL downloaded there) is uploaded (upload.c), then sent as one message
 * whose body is the URL, with XEP-0066 OOB, a XEP-0385 SIMS reference and XEP-0447
 * stateless file sharing metadata (name, size, date, media type, SHA-256, the caption as
 * description). A caption follows as a text message carrying the legacy id; both XMPP
 * ids are then parts of that legacy message (store_multi_put), so that reactions and
 * retractions reach both. A legacy file id seen before reuses its URL and metadata (the
 * per-user store) once an HTTP HEAD says the URL still works.
 *
 * Order: while a file of a sender (a contact, or the gateway) is in flight, every other
 * message from that sender is kept back in its lane (attach_hold, called by worker_send)
 * and goes out after the file, in order: a send_text after a send_file never overtakes
 * the upload. A failed upload still sends something: slidge's note, then the caption.
 *
 * From the user (on_file): a message carrying an OOB URL is downloaded into the state dir
 * (streamed, at most --attachment-max-size bytes) and handed to on_file; a download that
 * fails answers the user's message with an error stanza saying why. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <nettle/base64.h>
#include <nettle/sha2.h>

#include "http.h"
#include "log.h"
#include "upload.h"
#include "worker.h"
#include "parity.h"
#include "attach.h"

#define NS_OOB "jabber:x:oob"
#define NS_REPLY "urn:xmpp:reply:0"
#define NS_REFERENCE "urn:xmpp:reference:0"
#define NS_SIMS "urn:xmpp:sims:1"
#define NS_JINGLE_FILE "urn:xmpp:jingle:apps:file-transfer:5"
#define NS_HASHES "urn:xmpp:hashes:2"
#define NS_SFS "urn:xmpp:sfs:0"
#define NS_FILE_META "urn:xmpp:file:metadata:0"
#define NS_URL_DATA "http://jabber.org/protocol/url-data"

#define FAILURE_NOTE "I tried to send a file, but something went wrong. Tell your slidge " \
	"admin to check the logs."

static struct {
	uint64_t max_size;             /* --attachment-max-size */
	int original_urls;             /* --use-attachment-original-urls */
	size_t name_max;               /* --attachment-maximum-file-name-length */
} cfg = { 100ull << 20, 0, 200 };

/* What the message needs to say about the file (slidge's cached SIMS and SFS). */
struct meta {
	char *url, *name, *type;
	char sha256[64];               /* base64, "" if unknown */
	uint64_t size;
	time_t date;
	int have;                      /* name/size/date/hash known: SIMS and SFS */
};

struct lane;

/* One send_file. */
struct job {
	struct lane *lane;
	struct slidge_contact *c;      /* NULL: from the gateway */
	char *legacy_id, *caption, *fid, *src_url;
	char *path;                    /* the local file */
	int own;                       /* path is our temporary file */
	struct meta m;
	struct meta cached;            /* from the cache, until a HEAD says it works */
	/* send options, copied */
	time_t when;
	char *reply_to, *thread;
	int reply_to_user, carbon;
	struct slidge_contact *reply_to_author;
	unsigned hints;
	/* progress */
	struct http_req *http;         /* download or HEAD */
	int uploading;                 /* upload.c holds the job */
	int cache_checked;             /* the cached URL was tried */
	int ready;
	char *error;                   /* the upload failed (logged) */
};

/* A lane: what a sender emits while one of its files is in flight, in order. */
struct item {
	struct job *job;               /* a file, or */
	char *xml;                     /* a stanza kept back */
	size_t len;
	struct item *next;
};

struct lane {
	char from[JID_BUF + 16];
	struct item *head, **tail;
	struct lane *next;
};

/* A file from the user on its way to on_file. */
struct infile {
	struct slidge_contact *c;
	struct slidge_reply *r;
	char *url, *path, *name;
	char *reply_to_msg_id, *fallback, *thread;
	struct slidge_contact *reply_to;
	struct http_req *http;
	struct infile *next;
};

static struct lane *lanes;
static struct infile *infiles;
static int emitting;               /* our own stanzas pass attach_hold */
static int stopping;

static void job_step(struct job *j);
static void lane_drain(struct lane *l);

/* ---- options -------------------------------------------------------------------------- */

int
attach_set_option(const char *name, const char *value)
{
	char *end;
	unsigned long long n;

	if (strcmp(name, "use-attachment-original-urls") == 0) {
		cfg.original_urls = strcmp(value, "true") == 0 || strcmp(value, "1") == 0;
		return 0;
	}
	if (strcmp(name, "attachment-max-size") == 0 ||
	    strcmp(name, "attachment-maximum-file-name-length") == 0) {
		n = strtoull(value, &end, 10);
		if (*value == '\0' || *end != '\0' || n == 0) {
			fprintf(stderr, "slidge-worker: --%s wants a positive number\n", name);
			return -1;
		}
		if (strcmp(name, "attachment-max-size") == 0)
			cfg.max_size = n;
		else
			cfg.name_max = n > 255 ? 255 : (size_t)n;
		return 0;
	}
	if (strcmp(name, "http-ports") == 0) {
		if (http_set_ports(value) < 0) {
			fprintf(stderr, "slidge-worker: --http-ports wants ports separated by "
			    "commas\n");
			return -1;
		}
		return 0;
	}
	return upload_set_option(name, value);
}

/* ---- small helpers ------------------------------------------------------------------ */

static char *
dup_or_null(const char *s)
{
	return s != NULL && *s != '\0' ? strdup(s) : NULL;
}

/* A fresh file name in the state dir ("<prefix>-<random>"). */
static void
state_file(const char *prefix, char *out, size_t outsz)
{
	char id[40];

	upload_uuid(id);
	snprintf(out, outsz, "%s/%s-%s", worker.state_dir, prefix, id);
}

static int
hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* The last path segment of a URL, percent-decoded, without '/' (caller frees); NULL if
 * there is none. */
static char *
url_file_name(const char *url)
{
	const char *p = strstr(url, "://"), *end, *seg;
	char *out, *o;

	p = p != NULL ? p + 3 : url;
	end = p + strcspn(p, "?#");
	for (seg = end; seg > p && seg[-1] != '/'; seg--)
		;
	if (seg == end || seg == p)
		return NULL;
	if ((out = malloc((size_t)(end - seg) + 1)) == NULL)
		return NULL;
	for (o = out; seg < end; seg++) {
		if (*seg == '%' && seg + 2 < end && hexval(seg[1]) >= 0 &&
		    hexval(seg[2]) >= 0) {
			*o = (char)(hexval(seg[1]) << 4 | hexval(seg[2]));
			seg += 2;
		} else {
			*o = *seg;
		}
		if (*o == '/' || *o == '\0')
			*o = '_';
		o++;
	}
	*o = '\0';
	return out;
}

/* slidge's --attachment-maximum-file-name-length: cut the base, keep the suffix, never
 * in the middle of a UTF-8 character. */
static void
trim_name(char *name)
{
	size_t n = strlen(name), keep, slen;
	const char *dot;

	if (n <= cfg.name_max)
		return;
	dot = strrchr(name, '.');
	slen = dot != NULL && (size_t)(name + n - dot) < cfg.name_max ? (size_t)(name + n - dot) : 0;
	keep = cfg.name_max - slen;
	while (keep > 0 && ((unsigned char)name[keep] & 0xc0) == 0x80)
		keep--;
	memmove(name + keep, name + n - slen, slen + 1);
}

/* SHA-256 (base64), size and date of the file at path into m. -1 if unreadable. */
static int
meta_from_file(struct meta *m, const char *path)
{
	struct sha256_ctx ctx;
	uint8_t digest[SHA256_DIGEST_SIZE], buf[65536];
	struct stat st;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return -1;
	}
	sha256_init(&ctx);
	m->size = 0;
	while ((n = read(fd, buf, sizeof buf)) > 0) {
		sha256_update(&ctx, (size_t)n, buf);
		m->size += (uint64_t)n;
	}
	close(fd);
	if (n < 0)
		return -1;
	sha256_digest(&ctx, sizeof digest, digest);
	base64_encode_raw((char *)m->sha256, sizeof digest, digest);
	m->sha256[BASE64_ENCODE_RAW_LENGTH(SHA256_DIGEST_SIZE)] = '\0';
	m->date = time(NULL);
	m->have = 1;
	return 0;
}

static void
meta_free(struct meta *m)
{
	free(m->url);
	free(m->name);
	free(m->type);
	memset(m, 0, sizeof *m);
}

/* ---- the attachment cache (legacy file id -> URL + metadata) ------------------------- *
 * One record of NUL-separated fields: url, name, type, sha256, size, date. */

static void
cache_put(const char *fid, const struct meta *m)
{
	struct buf b = BUF_INIT;

	if (fid == NULL || m->url == NULL)
		return;
	if (buf_printf(&b, "%s%c%s%c%s%c%s%c%llu%c%lld", m->url, 0, m->name ? m->name : "", 0,
	    m->type ? m->type : "", 0, m->sha256, 0, (unsigned long long)m->size, 0,
	    (long long)m->date) == 0)
		store_kv_put(KV_ATTACH, fid, b.data, b.len);
	buf_free(&b, 0);
}

static int
cache_get(const char *fid, struct meta *m)
{
	void *val;
	size_t len, i, nf = 0;
	const char *f[6];
	char *p;

	if (fid == NULL || store_kv_get(KV_ATTACH, fid, &val, &len) < 0)
		return -1;
	p = val;
	f[nf++] = p;
	for (i = 0; i < len && nf < 6; i++)
		if (p[i] == '\0')
			f[nf++] = p + i + 1;
	if (nf < 6 || *f[0] == '\0' || strlen(f[3]) >= sizeof m->sha256) {
		free(val);
		return -1;
	}
	m->url = strdup(f[0]);
	m->name = dup_or_null(f[1]);
	m->type = dup_or_null(f[2]);
	snprintf(m->sha256, sizeof m->sha256, "%s", f[3]);
	m->size = strtoull(f[4], NULL, 10);
	m->date = (time_t)strtoll(f[5], NULL, 10);
	m->have = m->name != NULL && m->sha256[0] != '\0';
	free(val);
	return m->url != NULL ? 0 : -1;
}

/* ---- lanes --------------------------------------------------------------------------- */

static struct lane *
lane_find(const char *from)
{
	struct lane *l;

	for (l = lanes; l != NULL; l = l->next)
		if (strcmp(l->from, from) == 0)
			return l;
	return NULL;
}

static struct lane *
lane_get(const char *from)
{
	struct lane *l;

	if ((l = lane_find(from)) != NULL)
		return l;
	if ((l = calloc(1, sizeof *l)) == NULL)
		return NULL;
	snprintf(l->from, sizeof l->from, "%s", from);
	l->tail = &l->head;
	l->next = lanes;
	lanes = l;
	return l;
}

static void
lane_free(struct lane *l)
{
	struct lane **pp;

	for (pp = &lanes; *pp != NULL; pp = &(*pp)->next)
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	free(l);
}

static int
lane_push(struct lane *l, struct job *j, const char *xml, size_t len)
{
	struct item *it;

	if ((it = calloc(1, sizeof *it)) == NULL)
		return -1;
	if (xml != NULL) {
		if ((it->xml = malloc(len + 1)) == NULL) {
			free(it);
			return -1;
		}
		memcpy(it->xml, xml, len);
		it->xml[len] = '\0';
		it->len = len;
	}
	it->job = j;
	*l->tail = it;
	l->tail = &it->next;
	return 0;
}

/* The value of the first attribute `name` of the root element of xml, into out. */
static int
root_attr(const char *xml, size_t len, const char *name, char *out, size_t outsz)
{
	const char *end = memchr(xml, '>', len), *p = xml;
	size_t n = strlen(name), vlen;
	char q;

	if (end == NULL)
		return -1;
	while ((p = memmem(p, (size_t)(end - p), name, n)) != NULL) {
		if (p > xml && p[-1] == ' ' && p + n + 1 < end && p[n] == '=' &&
		    (p[n + 1] == '\'' || p[n + 1] == '"')) {
			q = p[n + 1];
			p += n + 2;
			vlen = strcspn(p, q == '\'' ? "'" : "\"");
			if (p + vlen > end || vlen >= outsz)
				return -1;
			memcpy(out, p, vlen);
			out[vlen] = '\0';
			return 0;
		}
		p += n;
	}
	return -1;
}

int
attach_hold(const char *xml, size_t len)
{
	char from[JID_BUF + 16];
	struct lane *l;

	if (lanes == NULL || emitting || len < 9 || strncmp(xml, "<message ", 9) != 0)
		return 0;
	if (root_attr(xml, len, "from", from, sizeof from) < 0 || (l = lane_find(from)) == NULL)
		return 0;
	if (lane_push(l, NULL, xml, len) < 0) {
		log_error("out of memory keeping a message in order: sending it now");
		return 0;
	}
	return 1;
}

static void
emit_raw(const char *xml, size_t len)
{
	struct proto_val v[EMIT__NFIELDS] = { 0 };

	v[EMIT_xml].s = xml;
	v[EMIT_xml].len = len;
	emitting++;
	worker_send(PROTO_EMIT, v);
	emitting--;
}

/* ---- the messages of a file --------------------------------------------------------- */

static void
write_file_meta(struct xb *x, const char *file_ns, const struct meta *m, const char *caption)
{
	char size[32], date[32];

	snprintf(size, sizeof size, "%llu", (unsigned long long)m->size);
	stanza_format_time(m->date, date, sizeof date);
	xb_open(x, "file");
	xb_attr(x, "xmlns", file_ns);
	xb_open_end(x);
	if (m->type != NULL)
		xb_text(x, "media-type", NULL, m->type);
	xb_text(x, "name", NULL, m->name);
	xb_text(x, "size", NULL, size);
	xb_text(x, "date", NULL, date);
	xb_open(x, "hash");
	xb_attr(x, "xmlns", NS_HASHES);
	xb_attr(x, "algo", "sha-256");
	xb_open_end(x);
	xb_esc(x, m->sha256);
	xb_close(x, "hash");
	if (caption != NULL)
		xb_text(x, "desc", NULL, caption);
	xb_close(x, "file");
}

/* XEP-0066, XEP-0385 and XEP-0447 for m. */
static void
write_file_elems(struct xb *x, const struct meta *m, const char *caption)
{
	xb_open(x, "x");
	xb_attr(x, "xmlns", NS_OOB);
	xb_open_end(x);
	xb_text(x, "url", NULL, m->url);
	xb_close(x, "x");
	if (!m->have)
		return;
	xb_open(x, "reference");
	xb_attr(x, "xmlns", NS_REFERENCE);
	xb_attr(x, "type", "data");
	xb_open_end(x);
	xb_open(x, "media-sharing");
	xb_attr(x, "xmlns", NS_SIMS);
	xb_open_end(x);
	write_file_meta(x, NS_JINGLE_FILE, m, caption);
	xb_open(x, "sources");
	xb_open_end(x);
	xb_open(x, "reference");
	xb_attr(x, "xmlns", NS_REFERENCE);
	xb_attr(x, "type", "data");
	xb_attr(x, "uri", m->url);
	xb_raw(x, "/>");
	xb_close(x, "sources");
	xb_close(x, "media-sharing");
	xb_close(x, "reference");

	xb_open(x, "file-sharing");
	xb_attr(x, "xmlns", NS_SFS);
	xb_attr(x, "disposition", "inline");
	xb_open_end(x);
	write_file_meta(x, NS_FILE_META, m, caption);
	xb_open(x, "sources");
	xb_open_end(x);
	xb_open(x, "url-data");
	xb_attr(x, "xmlns", NS_URL_DATA);
	xb_attr(x, "target", m->url);
	xb_raw(x, "/>");
	xb_close(x, "sources");
	xb_close(x, "file-sharing");
}

/* The message with the file (m != NULL) or the failure note (body), with id; id ""
 * gets a new one (chat.c's, a carbon's included), written back into id. */
static void
send_file_message(struct job *j, const struct meta *m, const char *body, char id[ID_BUF])
{
	struct slidge_contact *c = j->c;
	struct chat_out o;
	char rid[ID_BUF];

	chat_out_open(&o, c, j->carbon, *id != '\0' ? id : NULL);
	memcpy(id, o.id, ID_BUF);
	xb_text(&o.x, "body", NULL, m != NULL ? m->url : body);
	chat_out_common(&o, j->thread, j->hints, j->when);
	/* XEP-0461 without a quoted fallback: slidge sends none with attachments. */
	if (j->reply_to != NULL && c != NULL) {
		chat_legacy_to_xmpp(j->reply_to, rid);
		xb_open(&o.x, "reply");
		xb_attr(&o.x, "xmlns", NS_REPLY);
		xb_attr(&o.x, "id", rid);
		xb_attr(&o.x, "to", j->reply_to_user ? session->user_jid :
		    j->reply_to_author != NULL ? j->reply_to_author->full : NULL);
		xb_raw(&o.x, "/>");
	}
	if (m != NULL)
		write_file_elems(&o.x, m, j->caption);
	emitting++;
	chat_out_send(&o);
	emitting--;
}

/* The file's message(s), now that it is its turn. */
static void
job_emit(struct job *j)
{
	char id[ID_BUF], cid[ID_BUF];
	const char *parts[2];
	int with_id = j->legacy_id != NULL && j->caption == NULL;

	id[0] = '\0';
	if (with_id)
		chat_legacy_to_xmpp(j->legacy_id, id);
	/* A carbon with a legacy id is the user's own message: remember it as such. */
	if (j->carbon && with_id)
		store_id_put(STORE_MSG, id, j->legacy_id);
	if (j->error != NULL)
		send_file_message(j, NULL, FAILURE_NOTE, id);
	else
		send_file_message(j, &j->m, NULL, id);
	if (j->caption == NULL)
		return;
	emitting++;
	if (j->c != NULL) {
		struct slidge_send_opts o = { 0 };

		o.when = j->when;
		o.thread = j->thread;
		o.carbon = j->carbon;
		o.hints = j->hints;
		chat_send_text(j->c, j->caption, j->legacy_id, &o);
	} else {
		session_gateway_message(NULL, j->caption);
	}
	emitting--;
	/* One legacy message, two XMPP messages (legacy_ids_multi). */
	if (j->legacy_id != NULL && j->c != NULL) {
		chat_legacy_to_xmpp(j->legacy_id, cid);
		parts[0] = id;
		parts[1] = cid;
		store_multi_put(j->legacy_id, parts, 2);
	}
}

static void
job_free(struct job *j)
{
	if (j->http != NULL)
		http_cancel(j->http);
	if (j->own && j->path != NULL)
		unlink(j->path);
	free(j->legacy_id);
	free(j->caption);
	free(j->fid);
	free(j->src_url);
	free(j->path);
	meta_free(&j->m);
	meta_free(&j->cached);
	free(j->reply_to);
	free(j->thread);
	free(j->error);
	free(j);
}

static void
lane_drain(struct lane *l)
{
	struct item *it;

	while ((it = l->head) != NULL && (it->job == NULL || it->job->ready)) {
		l->head = it->next;
		if (l->head == NULL)
			l->tail = &l->head;
		if (it->job != NULL) {
			job_emit(it->job);
			job_free(it->job);
		} else {
			emit_raw(it->xml, it->len);
			free(it->xml);
		}
		free(it);
	}
	if (l->head == NULL)
		lane_free(l);
}

/* The job is over (sent or failed): its lane may move on. */
static void
job_ready(struct job *j, const char *error)
{
	if (error != NULL && j->error == NULL) {
		log_warn("a file for %s could not be sent: %s",
		    j->c != NULL ? j->c->jid : "the user", error);
		j->error = strdup(error);
	}
	j->ready = 1;
	if (!stopping)
		lane_drain(j->lane);
}

/* ---- the steps of a job ------------------------------------------------------------ */

static void
upload_done(void *arg, const char *url, const char *error)
{
	struct job *j = arg;

	j->uploading = 0;
	if (url == NULL) {
		job_ready(j, error);
		return;
	}
	free(j->m.url);
	if ((j->m.url = strdup(url)) == NULL) {
		job_ready(j, "out of memory");
		return;
	}
	if (j->own && j->path != NULL && access(j->path, F_OK) < 0) {
		/* Moved into the no-upload path: nothing of ours to remove any more. */
		j->own = 0;
	}
	cache_put(j->fid, &j->m);
	job_ready(j, NULL);
}

static void
job_upload(struct job *j)
{
	if (j->m.type == NULL)
		j->m.type = strdup(upload_guess_type(j->m.name));
	if (meta_from_file(&j->m, j->path) < 0) {
		job_ready(j, "cannot read the file");
		return;
	}
	if (upload_file(j->path, j->m.name, j->m.type, j->fid, j->own, upload_done, j) < 0) {
		job_ready(j, "the upload could not start");
		return;
	}
	/* upload.c removes a file handed over to it. */
	j->own = 0;
	j->uploading = 1;
}

static void
download_done(void *arg, const struct http_result *res)
{
	struct job *j = arg;

	j->http = NULL;
	if (res->error != NULL) {
		job_ready(j, res->error);
		return;
	}
	if (j->m.type == NULL && res->content_type != NULL)
		j->m.type = strndup(res->content_type, strcspn(res->content_type, "; "));
	job_upload(j);
}

static void
head_done(void *arg, const struct http_result *res)
{
	struct job *j = arg;

	j->http = NULL;
	if (res->error == NULL) {
		log_debug("reusing the URL of a legacy file already sent");
		meta_free(&j->m);
		j->m = j->cached;
		memset(&j->cached, 0, sizeof j->cached);
		job_ready(j, NULL);
		return;
	}
	/* slidge: a cached URL that no longer works is forgotten. */
	meta_free(&j->cached);
	store_kv_put(KV_ATTACH, j->fid, NULL, 0);
	job_step(j);
}

/* Where the job goes next, from what it has. */
static void
job_step(struct job *j)
{
	struct http_opts ho = { 0 };
	const char *err;
	char path[4096];

	if (j->fid != NULL && upload_no_upload_path() == NULL && !j->cache_checked &&
	    cache_get(j->fid, &j->cached) == 0) {
		j->cache_checked = 1;
		ho.method = "HEAD";
		ho.url = j->cached.url;
		ho.timeout = 30;
		if (http_start(&ho, head_done, j, &j->http, &err) == 0)
			return;
		meta_free(&j->cached);
	}
	if (j->src_url != NULL && cfg.original_urls) {
		free(j->m.url);
		j->m.url = strdup(j->src_url);
		j->m.have = 0;
		job_ready(j, j->m.url == NULL ? "out of memory" : NULL);
		return;
	}
	if (j->path == NULL && j->src_url != NULL) {
		state_file("get", path, sizeof path);
		if ((j->path = strdup(path)) == NULL) {
			job_ready(j, "out of memory");
			return;
		}
		j->own = 1;
		ho.url = j->src_url;
		ho.download_path = j->path;
		ho.max_size = cfg.max_size;
		if (http_start(&ho, download_done, j, &j->http, &err) < 0)
			job_ready(j, err);
		return;
	}
	job_upload(j);
}

/* ---- send_file ------------------------------------------------------------------ */

/* Spool a module's stream into our own file, bounded by --attachment-max-size. */
static int
spool(const struct slidge_attachment *a, char *path, size_t pathsz, const char **why)
{
	char buf[65536];
	uint64_t total = 0;
	long n;
	int fd;

	state_file("put", path, pathsz);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
		*why = "cannot create a file in the state dir";
		return -1;
	}
	for (;;) {
		if (a->read != NULL)
			n = a->read(a->stream, buf, sizeof buf);
		else
			n = (long)(a->len - total > sizeof buf ? sizeof buf : a->len - total);
		if (n < 0 || (size_t)n > sizeof buf) {
			*why = "the module's stream failed";
			break;
		}
		if (n == 0) {
			if (close(fd) < 0) {
				*why = "cannot write a file in the state dir";
				unlink(path);
				return -1;
			}
			return 0;
		}
		if (total + (uint64_t)n > cfg.max_size) {
			*why = "the file is larger than --attachment-max-size";
			break;
		}
		if (write(fd, a->read != NULL ? buf : (const char *)a->data + total,
		    (size_t)n) != n) {
			*why = "cannot write a file in the state dir";
			break;
		}
		total += (uint64_t)n;
	}
	close(fd);
	unlink(path);
	return -1;
}

static char *
pick_name(const struct slidge_attachment *a)
{
	const char *base;
	char id[40], *name;

	if (a->name != NULL && *a->name != '\0')
		name = strdup(a->name);
	else if (a->path != NULL)
		name = strdup((base = strrchr(a->path, '/')) != NULL ? base + 1 : a->path);
	else if (a->url == NULL || (name = url_file_name(a->url)) == NULL) {
		upload_uuid(id);
		name = strdup(id);
	}
	if (name != NULL)
		trim_name(name);
	return name;
}

static struct job *
job_new(struct slidge_contact *c, const struct slidge_attachment *a, const char *legacy_id,
    const struct slidge_send_opts *opts)
{
	struct job *j;

	if ((j = calloc(1, sizeof *j)) == NULL)
		return NULL;
	j->c = c;
	j->legacy_id = dup_or_null(legacy_id);
	j->caption = dup_or_null(a->caption);
	j->fid = dup_or_null(a->legacy_file_id);
	j->src_url = dup_or_null(a->url);
	j->m.name = pick_name(a);
	j->m.type = dup_or_null(a->content_type);
	if (opts != NULL) {
		j->when = opts->when;
		j->reply_to = dup_or_null(opts->reply_to);
		j->thread = dup_or_null(opts->thread);
		j->reply_to_user = opts->reply_to_user;
		j->reply_to_author = opts->reply_to_author;
		j->carbon = opts->carbon;
		j->hints = opts->hints;
	}
	if (j->m.name == NULL || (legacy_id && *legacy_id && !j->legacy_id) ||
	    (a->caption && *a->caption && !j->caption) ||
	    (a->legacy_file_id && *a->legacy_file_id && !j->fid) ||
	    (a->url && *a->url && !j->src_url)) {
		job_free(j);
		return NULL;
	}
	return j;
}

static void
send_file(struct slidge_contact *c, const struct slidge_attachment *a, const char *legacy_id,
    const struct slidge_send_opts *opts)
{
	struct job *j;
	struct lane *l;
	const char *why = NULL;
	char path[4096];
	int sources;

	sources = (a->path != NULL) + (a->data != NULL) + (a->read != NULL) + (a->url != NULL);
	if (sources != 1) {
		log_warn("send_file: %s source given (one of path, data, read, url is needed)",
		    sources == 0 ? "no" : "more than one");
		return;
	}
	if ((j = job_new(c, a, legacy_id, opts)) == NULL ||
	    (l = lane_get(c != NULL ? c->full : session->component_jid)) == NULL ||
	    lane_push(l, j, NULL, 0) < 0) {
		log_error("send_file: out of memory");
		if (j != NULL)
			job_free(j);
		return;
	}
	j->lane = l;
	/* The module's memory is only valid during this call: bytes and streams become a
	 * file of ours now. */
	if (a->data != NULL || a->read != NULL) {
		if (spool(a, path, sizeof path, &why) < 0 || (j->path = strdup(path)) == NULL) {
			if (why == NULL)
				unlink(path);
			job_ready(j, why != NULL ? why : "out of memory");
			return;
		}
		j->own = 1;
	} else if (a->path != NULL) {
		/* The module may remove its file as soon as this returns (on_file's file is
		 * gone then): a hard link of ours keeps it until the upload is over. */
		state_file("put", path, sizeof path);
		if (link(a->path, path) == 0)
			j->own = 1;
		if ((j->path = strdup(j->own ? path : a->path)) == NULL) {
			if (j->own)
				unlink(path);
			j->own = 0;
			job_ready(j, "out of memory");
			return;
		}
	}
	job_step(j);
}

void
slidge_contact_send_file(struct slidge_contact *c, const struct slidge_attachment *a,
    const char *legacy_msg_id, const struct slidge_send_opts *opts)
{
	if (c == NULL || session == NULL || c->s != session || a == NULL) {
		log_warn("slidge_contact_send_file: called without a contact of this session");
		return;
	}
	send_file(c, a, legacy_msg_id, opts);
}

void
slidge_contact_send_files(struct slidge_contact *c, const struct slidge_attachment *a,
    size_t n, const char *legacy_msg_id, const char *body, int body_first,
    const struct slidge_send_opts *opts)
{
	size_t i;
	int has_body = body != NULL && *body != '\0';

	if (c == NULL || session == NULL || c->s != session || (a == NULL && n > 0)) {
		log_warn("slidge_contact_send_files: called without a contact of this session");
		return;
	}
	/* slidge: the legacy id goes to the last message sent, so that no two share it. */
	if (has_body && body_first)
		chat_send_text(c, body, legacy_msg_id, opts);
	for (i = 0; i < n; i++)
		send_file(c, &a[i], i + 1 == n && !has_body ? legacy_msg_id : NULL, opts);
	if (has_body && !body_first)
		chat_send_text(c, body, legacy_msg_id, opts);
}

void
slidge_session_send_gateway_file(struct slidge_session *s, const struct slidge_attachment *a)
{
	if (s == NULL || s != session || a == NULL) {
		log_warn("slidge_session_send_gateway_file: called without this worker's session");
		return;
	}
	send_file(NULL, a, NULL, NULL);
}

/* ---- files from the user (on_file) ---------------------------------------------------- */

static void
infile_free(struct infile *f)
{
	struct infile **pp;

	for (pp = &infiles; *pp != NULL; pp = &(*pp)->next)
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	if (f->http != NULL)
		http_cancel(f->http);
	if (f->path != NULL)
		unlink(f->path);
	free(f->url);
	free(f->path);
	free(f->name);
	free(f->reply_to_msg_id);
	free(f->fallback);
	free(f->thread);
	free(f);
}

static void
infile_done(void *arg, const struct http_result *res)
{
	struct infile *f = arg;
	struct slidge_text_opts o = { 0 };
	struct slidge_file sf = { 0 };
	char text[512], *type = NULL;

	f->http = NULL;
	if (res->error != NULL) {
		log_info("a file from the user could not be downloaded: %s", res->error);
		snprintf(text, sizeof text, "Cannot fetch the file to send it: %s", res->error);
		reply_complete_error(f->r, res->status >= 400 ? SLIDGE_ITEM_NOT_FOUND :
		    strstr(res->error, "larger than") != NULL ? SLIDGE_NOT_ACCEPTABLE :
		    "remote-server-not-found", text);
		infile_free(f);
		return;
	}
	if (res->content_type != NULL)
		type = strndup(res->content_type, strcspn(res->content_type, "; "));
	sf.url = f->url;
	sf.path = f->path;
	sf.name = f->name;
	sf.content_type = type != NULL && *type != '\0' ? type : upload_guess_type(f->name);
	sf.size = res->size;
	o.reply_to_msg_id = f->reply_to_msg_id;
	o.reply_to_fallback_text = f->fallback;
	o.thread = f->thread;
	o.reply_to = f->reply_to;
	log_debug("file to %s (%llu bytes)", f->c->jid, (unsigned long long)sf.size);
	module->on_file(session, f->c, &sf, &o, f->r);
	free(type);
	infile_free(f);
}

void
attach_on_file(struct slidge_contact *c, const char *url, const struct slidge_text_opts *opts,
    struct slidge_reply *r)
{
	struct http_opts ho = { 0 };
	struct infile *f;
	const char *err = "out of memory";
	char path[4096], id[40];

	if ((f = calloc(1, sizeof *f)) == NULL)
		goto fail;
	f->c = c;
	f->r = r;
	f->reply_to = opts->reply_to;
	state_file("file", path, sizeof path);
	f->url = strdup(url);
	f->path = strdup(path);
	if ((f->name = url_file_name(url)) == NULL) {
		upload_uuid(id);
		f->name = strdup(id);
	}
	f->reply_to_msg_id = dup_or_null(opts->reply_to_msg_id);
	f->fallback = dup_or_null(opts->reply_to_fallback_text);
	f->thread = dup_or_null(opts->thread);
	if (f->url == NULL || f->path == NULL || f->name == NULL)
		goto fail;
	ho.url = url;
	ho.download_path = path;
	ho.max_size = cfg.max_size;
	if (http_start(&ho, infile_done, f, &f->http, &err) < 0) {
		free(f->path);
		f->path = NULL;
		goto fail;
	}
	f->next = infiles;
	infiles = f;
	return;
fail:
	if (f != NULL) {
		f->next = infiles;
		infiles = f;
		infile_free(f);
	}
	log_info("a file from the user cannot be fetched: %s", err);
	snprintf(path, sizeof path, "Cannot fetch the file to send it: %s", err);
	reply_complete_error(r, SLIDGE_BAD_REQUEST, path);
}

/* ---- the end ---------------------------------------------------------------------- */

void
attach_free_all(void)
{
	struct lane *l;
	struct item *it;

	stopping = 1;
	/* Downloads for on_file: their replies are freed with the others (reply.c). */
	while (infiles != NULL)
		infiles->r = NULL, infile_free(infiles);
	/* Uploads in flight end with an error (upload_done sees `stopping`). */
	upload_free_all();
	/* What waited behind a file goes out, in order; the files themselves do not. */
	while ((l = lanes) != NULL) {
		while ((it = l->head) != NULL) {
			l->head = it->next;
			if (it->job != NULL) {
				if (!it->job->ready)
					log_warn("a file for the user was still on its way at exit");
				if (it->job->uploading)
					log_warn("an upload was cut short");
				job_free(it->job);
			} else {
				emit_raw(it->xml, it->len);
				free(it->xml);
			}
			free(it);
		}
		lanes = l->next;
		free(l);
	}
	http_free_all();
}
