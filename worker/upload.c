/* upload.c: files for the user's client to fetch (reference/slidge.md §1 row 0363, §3
 * --upload-service & co, §4 "no-upload-path"; slidge's AttachmentMixin.__upload and
 * __no_upload).
 *
 * XEP-0363: the upload service (--upload-service, else the parent domain of the
 * component's JID, as slidge) is asked once for its disco#info, whose XEP-0128 form
 * gives max-file-size (cached for the life of the worker); then each file gets a slot
 * (an iq get from --upload-requester, else the component's JID), is PUT with the
 * headers the slot gives (Authorization, Cookie, Expires: XEP-0363 §5.1), and its GET
 * URL is the result. slidged tracks these iqs (policy.c allows exactly these two
 * payloads to the upload service) and routes their answers back here.
 *
 * No-upload mode (--no-upload-path + --no-upload-url-prefix): the file is copied, moved
 * or linked (--no-upload-method) to DIR/<legacy file id or uuid>/<uuid>/<name>, and the
 * URL is the prefix followed by the same path; a legacy file id already there is reused.
 *
 * Completion is always reported from the loop (a zero timer, an iq answer, an HTTP
 * transfer), never from inside the call that started it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http.h"
#include "log.h"
#include "upload.h"
#include "worker.h"
#include "xml.h"

#define NS_UPLOAD "urn:xmpp:http:upload:0"
#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_DATA "jabber:x:data"
#define HEADERS_MAX 8
#define NAME_MAX_BYTES 255

enum up_state { UP_DISCO, UP_SLOT, UP_PUT, UP_LATER, UP_DEAD };

struct up {
	enum up_state state;
	char *path, *name, *type, *fid;
	int own_path;                  /* our temporary file: removed at the end */
	uint64_t size;
	upload_done_cb *done;
	void *arg;
	char *url;                     /* the GET URL once known */
	char *error;                   /* UP_LATER: failure text */
	char *headers[HEADERS_MAX + 2];
	struct http_req *http;
	ev_timer later;
	struct up *next;
};

static struct {
	char *service, *requester, *dir, *prefix;
	int method;                    /* 0 copy, 1 move, 2 hardlink, 3 symlink */
	int read_others;
} opt;

static const char *const methods[] = { "copy", "move", "hardlink", "symlink" };

/* disco#info of the service: 0 unknown, 1 asked, 2 known. */
static int disco_state;
static uint64_t max_size;          /* 0: no limit announced */
static struct up *ups;

/* ---- options ------------------------------------------------------------------------ */

static int
set_str(char **dst, const char *v)
{
	char *d = strdup(v);

	if (d == NULL)
		return -1;
	free(*dst);
	*dst = d;
	return 0;
}

int
upload_set_option(const char *name, const char *value)
{
	size_t i;

	if (strcmp(name, "upload-service") == 0)
		return set_str(&opt.service, value);
	if (strcmp(name, "upload-requester") == 0)
		return set_str(&opt.requester, value);
	if (strcmp(name, "no-upload-path") == 0) {
		if (value[0] != '/') {
			fprintf(stderr, "slidge-worker: --no-upload-path must be absolute\n");
			return -1;
		}
		return set_str(&opt.dir, value);
	}
	if (strcmp(name, "no-upload-url-prefix") == 0)
		return set_str(&opt.prefix, value);
	if (strcmp(name, "no-upload-file-read-others") == 0) {
		opt.read_others = strcmp(value, "true") == 0 || strcmp(value, "1") == 0;
		return 0;
	}
	if (strcmp(name, "no-upload-method") == 0) {
		for (i = 0; i < sizeof methods / sizeof methods[0]; i++)
			if (strcmp(methods[i], value) == 0) {
				opt.method = (int)i;
				return 0;
			}
		fprintf(stderr, "slidge-worker: --no-upload-method: %s is not one of copy, "
		    "move, hardlink, symlink\n", value);
		return -1;
	}
	fprintf(stderr, "slidge-worker: unknown upload option %s\n", name);
	return -1;
}

const char *
upload_no_upload_path(void)
{
	return opt.dir != NULL && opt.prefix != NULL ? opt.dir : NULL;
}

/* The upload service: --upload-service, else the parent domain of the component. */
static const char *
service_jid(void)
{
	const char *dot;

	if (opt.service != NULL && *opt.service != '\0')
		return opt.service;
	dot = strchr(worker.component_jid, '.');
	return dot != NULL && dot[1] != '\0' ? dot + 1 : worker.component_jid;
}

/* --upload-requester, else the component. The gateway can only speak from JIDs of its
 * own domain (slidged refuses anything else): another requester is ignored, once
 * logged. */
static const char *
requester_jid(void)
{
	static int warned;
	struct jid j;

	if (opt.requester == NULL || *opt.requester == '\0')
		return worker.component_jid;
	if (jid_parse(opt.requester, &j) == 0 && strcmp(j.domain, worker.component_jid) == 0)
		return opt.requester;
	if (!warned++)
		log_warn("upload: --upload-requester %s is outside the component's domain: "
		    "requesting slots as %s", opt.requester, worker.component_jid);
	return worker.component_jid;
}

const char *
upload_guess_type(const char *name)
{
	static const char *const types[] = {
		"png", "image/png", "jpg", "image/jpeg", "jpeg", "image/jpeg",
		"gif", "image/gif", "webp", "image/webp", "svg", "image/svg+xml",
		"mp4", "video/mp4", "webm", "video/webm", "ogg", "audio/ogg", "oga", "audio/ogg",
		"opus", "audio/ogg", "mp3", "audio/mpeg", "m4a", "audio/mp4", "wav", "audio/wav",
		"pdf", "application/pdf", "txt", "text/plain", "html", "text/html",
		"json", "application/json", "zip", "application/zip", NULL };
	const char *dot = name != NULL ? strrchr(name, '.') : NULL;
	size_t i;

	for (i = 0; dot != NULL && types[i] != NULL; i += 2)
		if (strcasecmp(dot + 1, types[i]) == 0)
			return types[i + 1];
	return "application/octet-stream";
}

/* ---- jobs ------------------------------------------------------------------------- */

static void
up_free(struct up *u)
{
	struct up **pp;
	size_t i;

	for (pp = &ups; *pp != NULL; pp = &(*pp)->next)
		if (*pp == u) {
			*pp = u->next;
			break;
		}
	ev_timer_stop(worker.loop, &u->later);
	if (u->http != NULL)
		http_cancel(u->http);
	if (u->own_path && u->path != NULL)
		unlink(u->path);
	for (i = 0; u->headers[i] != NULL; i++)
		free(u->headers[i]);
	free(u->path);
	free(u->name);
	free(u->type);
	free(u->fid);
	free(u->url);
	free(u->error);
	free(u);
}

/* Report the result and forget the job. A job waiting for its slot stays (dead) until
 * the answer or its timeout comes: iq.c still holds it. */
static void
up_finish(struct up *u, const char *url, const char *error)
{
	upload_done_cb *done = u->done;
	void *arg = u->arg;
	int waiting_iq = u->state == UP_SLOT;   /* iq.c holds u until the answer */

	if (url == NULL)
		log_warn("upload of a file (%llu bytes) failed: %s",
		    (unsigned long long)u->size, error);
	u->done = NULL;
	if (waiting_iq) {
		u->state = UP_DEAD;
		if (u->own_path && u->path != NULL) {
			unlink(u->path);
			u->own_path = 0;
		}
	}
	/* url and error may belong to u: free it only after the call. */
	if (done != NULL)
		done(arg, url, url != NULL ? NULL : error);
	if (!waiting_iq)
		up_free(u);
}

static void
later_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct up *u = (struct up *)((char *)w - offsetof(struct up, later));

	u->state = UP_PUT;   /* not waiting for an iq: freed by up_finish */
	up_finish(u, u->url, u->error != NULL ? u->error : "upload failed");
}

/* Complete from the loop, later. */
static void
up_later(struct up *u, const char *url, const char *error)
{
	u->state = UP_LATER;
	if (url != NULL && u->url == NULL)
		u->url = strdup(url);
	if (url == NULL)
		u->error = strdup(error != NULL ? error : "upload failed");
	ev_timer_init(&u->later, later_cb, 0., 0.);
	ev_timer_start(worker.loop, &u->later);
}

/* ---- no-upload mode ------------------------------------------------------------------ */

void
upload_uuid(char out[37])
{
	unsigned char b[16];
	size_t i, o = 0;

	if (getrandom(b, sizeof b, 0) != sizeof b)
		for (i = 0; i < sizeof b; i++)
			b[i] = (unsigned char)rand();
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	for (i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		snprintf(out + o, 3, "%02x", b[i]);
		o += 2;
	}
	out[o] = '\0';
}

/* A safe path component: '/' and a leading '.' become '_' ("" becomes "_"). */
static void
safe_component(const char *s, char *out, size_t outsz)
{
	size_t i;

	snprintf(out, outsz, "%s", *s != '\0' ? s : "_");
	for (i = 0; out[i] != '\0'; i++)
		if (out[i] == '/' || (i == 0 && out[i] == '.'))
			out[i] = '_';
}

/* URL-encode one path component into b. */
static int
url_component(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char e[3];

	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr("-._~", ch) != NULL) {
			if (buf_append(b, s, 1) < 0)
				return -1;
			continue;
		}
		e[0] = '%';
		e[1] = hex[ch >> 4];
		e[2] = hex[ch & 15];
		if (buf_append(b, e, 3) < 0)
			return -1;
	}
	return 0;
}

static int
make_url(struct buf *b, const char *fid, const char *uu, const char *name)
{
	size_t n = strlen(opt.prefix);

	if (buf_append(b, opt.prefix, n) < 0 ||
	    (n > 0 && opt.prefix[n - 1] != '/' && buf_puts(b, "/") < 0) ||
	    url_component(b, fid) < 0 || buf_puts(b, "/") < 0 ||
	    url_component(b, uu) < 0 || buf_puts(b, "/") < 0 || url_component(b, name) < 0)
		return -1;
	return 0;
}

/* DIR/fid holding exactly one DIR/fid/<uuid>/<file>: its uuid and name. */
static int
find_existing(const char *fdir, char *uu, size_t uusz, char *name, size_t namesz)
{
	DIR *d, *d2;
	struct dirent *e, *e2;
	char sub[4096];
	int n = 0;

	if ((d = opendir(fdir)) == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (snprintf(sub, sizeof sub, "%s/%s", fdir, e->d_name) >= (int)sizeof sub ||
		    (d2 = opendir(sub)) == NULL) {
			n = 2;
			break;
		}
		while ((e2 = readdir(d2)) != NULL) {
			if (e2->d_name[0] == '.' && (e2->d_name[1] == '\0' ||
			    (e2->d_name[1] == '.' && e2->d_name[2] == '\0')))
				continue;
			snprintf(uu, uusz, "%s", e->d_name);
			snprintf(name, namesz, "%s", e2->d_name);
			n++;
		}
		closedir(d2);
	}
	closedir(d);
	return n == 1 ? 0 : -1;
}

static int
copy_file(const char *from, const char *to, mode_t mode)
{
	char b[65536];
	ssize_t n, w, off;
	int in, out, rc = -1;

	if ((in = open(from, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	if ((out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)) < 0) {
		close(in);
		return -1;
	}
	while ((n = read(in, b, sizeof b)) > 0)
		for (off = 0; off < n; off += w)
			if ((w = write(out, b + off, (size_t)(n - off))) < 0)
				goto done;
	rc = n == 0 ? 0 : -1;
done:
	close(in);
	if (close(out) < 0)
		rc = -1;
	if (rc < 0)
		unlink(to);
	return rc;
}

/* Put u's file into the no-upload directory; its URL into u->url. -1 with *why. */
static int
no_upload(struct up *u, const char **why)
{
	char fid[NAME_MAX_BYTES + 1], uu[NAME_MAX_BYTES + 1], name[NAME_MAX_BYTES + 1];
	char fdir[4096], ddir[4096], dest[4096];
	mode_t dmode = opt.read_others ? 0755 : 0750, fmode = opt.read_others ? 0644 : 0640;
	struct buf b = BUF_INIT;
	int method = u->own_path ? 1 : opt.method, rc, fd;
	char id[37];

	upload_uuid(id);
	safe_component(u->fid != NULL ? u->fid : id, fid, sizeof fid);
	if (snprintf(fdir, sizeof fdir, "%s/%s", opt.dir, fid) >= (int)sizeof fdir) {
		*why = "the no-upload path is too long";
		return -1;
	}
	if (u->fid != NULL && find_existing(fdir, uu, sizeof uu, name, sizeof name) == 0) {
		log_debug("no-upload: reusing a legacy file already in place");
		goto url;
	}
	upload_uuid(uu);
	safe_component(u->name, name, sizeof name);
	if (snprintf(ddir, sizeof ddir, "%s/%s", fdir, uu) >= (int)sizeof ddir ||
	    snprintf(dest, sizeof dest, "%s/%s", ddir, name) >= (int)sizeof dest ||
	    ((mkdir(fdir, dmode) < 0 && errno != EEXIST) || mkdir(ddir, dmode) < 0)) {
		*why = "cannot create a directory in the no-upload path";
		log_warn("no-upload: %s: %s", fdir, strerror(errno));
		return -1;
	}
	switch (method) {
	case 1:
		rc = rename(u->path, dest);
		if (rc < 0 && errno == EXDEV && (rc = copy_file(u->path, dest, fmode)) == 0)
			unlink(u->path);
		if (rc == 0)
			u->own_path = 0;
		break;
	case 2:
		rc = link(u->path, dest);
		break;
	case 3:
		rc = symlink(u->path, dest);
		break;
	default:
		rc = copy_file(u->path, dest, fmode);
		break;
	}
	if (rc < 0) {
		log_warn("no-upload: %s of a file failed: %s", methods[method], strerror(errno));
		*why = "cannot put the file into the no-upload path";
		rmdir(ddir);
		return -1;
	}
	/* fchmod: the sandbox has no chmod (and a rename keeps our file's 0600). */
	if (method != 3 && (fd = open(dest, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) >= 0) {
		if (fchmod(fd, fmode) < 0)
			log_warn("no-upload: cannot set the mode of a file: %s", strerror(errno));
		close(fd);
	}
url:
	if (make_url(&b, fid, uu, name) < 0 || (u->url = buf_steal(&b)) == NULL) {
		buf_free(&b, 0);
		*why = "out of memory";
		return -1;
	}
	buf_free(&b, 0);
	return 0;
}

/* ---- XEP-0363 -------------------------------------------------------------------------- */

static void
put_done(void *arg, const struct http_result *res)
{
	struct up *u = arg;

	u->http = NULL;
	if (res->error != NULL) {
		char t[512];

		log_warn("upload: the PUT failed: %s", res->error);
		snprintf(t, sizeof t, "the upload failed: %s", res->error);
		up_finish(u, NULL, t);
		return;
	}
	up_finish(u, u->url, NULL);
}

/* XEP-0363 §5.1: only these headers, without newlines. */
static int
header_ok(const char *name, const char *value)
{
	return (strcasecmp(name, "Authorization") == 0 || strcasecmp(name, "Cookie") == 0 ||
	    strcasecmp(name, "Expires") == 0) && strpbrk(value, "\r\n") == NULL;
}

static void
slot_answer(xmlNodePtr answer, void *arg)
{
	struct up *u = arg;
	struct http_opts ho = { 0 };
	xmlNodePtr slot, put, get, h;
	const char *put_url, *get_url, *hname, *err;
	char *v;
	size_t nh = 0;

	if (u->state == UP_DEAD) {
		up_free(u);
		return;
	}
	u->state = UP_PUT;
	if (answer == NULL) {
		up_finish(u, NULL, "the upload service did not answer");
		return;
	}
	slot = xml_child(answer, "slot", NS_UPLOAD);
	put = slot != NULL ? xml_child(slot, "put", NS_UPLOAD) : NULL;
	get = slot != NULL ? xml_child(slot, "get", NS_UPLOAD) : NULL;
	put_url = put != NULL ? xml_attr(put, "url") : NULL;
	get_url = get != NULL ? xml_attr(get, "url") : NULL;
	if (strcmp(xml_attr(answer, "type") ? xml_attr(answer, "type") : "", "result") != 0 ||
	    put_url == NULL || get_url == NULL) {
		up_finish(u, NULL, "the upload service refused the file");
		return;
	}
	for (h = xml_first_elem(put); h != NULL && nh < HEADERS_MAX; h = xml_next_elem(h)) {
		if (strcmp((const char *)h->name, "header") != 0 ||
		    (hname = xml_attr(h, "name")) == NULL || (v = xml_text(h)) == NULL)
			continue;
		if (header_ok(hname, v) && asprintf(&u->headers[nh], "%s: %s", hname, v) >= 0)
			nh++;
		free(v);
	}
	if (asprintf(&u->headers[nh], "Content-Type: %s", u->type) >= 0)
		nh++;
	u->headers[nh] = NULL;
	if ((u->url = strdup(get_url)) == NULL) {
		up_finish(u, NULL, "out of memory");
		return;
	}
	ho.method = "PUT";
	ho.url = put_url;
	ho.headers = (const char *const *)u->headers;
	ho.upload_path = u->path;
	if (http_start(&ho, put_done, u, &u->http, &err) < 0) {
		log_warn("upload: cannot start the PUT: %s", err);
		up_finish(u, NULL, "the upload could not start");
	}
}

static void
slot_ask(struct up *u)
{
	struct buf b = BUF_INIT;
	struct xb x = { 0 };
	char size[32];

	if (max_size > 0 && u->size > max_size) {
		char t[160];

		snprintf(t, sizeof t, "the file (%llu bytes) is larger than the upload service "
		    "accepts (%llu bytes)", (unsigned long long)u->size,
		    (unsigned long long)max_size);
		up_later(u, NULL, t);
		return;
	}
	snprintf(size, sizeof size, "%llu", (unsigned long long)u->size);
	xb_open(&x, "request");
	xb_attr(&x, "xmlns", NS_UPLOAD);
	xb_attr(&x, "filename", u->name);
	xb_attr(&x, "size", size);
	xb_attr(&x, "content-type", u->type);
	xb_open_end(&x);
	xb_close(&x, "request");
	u->state = UP_SLOT;
	if (x.err || iq_send(requester_jid(), service_jid(), "get", x.b.data, slot_answer, u) < 0)
		up_later(u, NULL, "cannot ask the upload service for a slot");
	xb_free(&x);
	buf_free(&b, 0);
}

/* The XEP-0128 form of the service's disco#info: max-file-size. */
static uint64_t
parse_max_size(xmlNodePtr query)
{
	xmlNodePtr x, f, v;
	const char *var;
	char *t, *end;
	int ours;
	uint64_t n = 0;

	for (x = xml_first_elem(query); x != NULL; x = xml_next_elem(x)) {
		if (strcmp((const char *)x->name, "x") != 0 || strcmp(xml_ns(x), NS_DATA) != 0)
			continue;
		ours = 0;
		n = 0;
		for (f = xml_first_elem(x); f != NULL; f = xml_next_elem(f)) {
			if ((var = xml_attr(f, "var")) == NULL ||
			    (v = xml_child(f, "value", NS_DATA)) == NULL || (t = xml_text(v)) == NULL)
				continue;
			if (strcmp(var, "FORM_TYPE") == 0 && strcmp(t, NS_UPLOAD) == 0)
				ours = 1;
			else if (strcmp(var, "max-file-size") == 0)
				n = strtoull(t, &end, 10);
			free(t);
		}
		if (ours)
			return n;
	}
	return 0;
}

static void
disco_answer(xmlNodePtr answer, void *arg)
{
	struct up *u, *next;
	xmlNodePtr q;

	(void)arg;
	disco_state = 2;
	if (answer != NULL && (q = xml_child(answer, "query", NS_DISCO_INFO)) != NULL &&
	    strcmp(xml_attr(answer, "type") ? xml_attr(answer, "type") : "", "result") == 0)
		max_size = parse_max_size(q);
	if (answer == NULL)
		log_warn("upload: the upload service %s did not answer disco#info", service_jid());
	else
		log_debug("upload: the service accepts files up to %llu bytes (0: no limit)",
		    (unsigned long long)max_size);
	for (u = ups; u != NULL; u = next) {
		next = u->next;
		if (u->state == UP_DISCO)
			slot_ask(u);
	}
}

static void
start(struct up *u)
{
	const char *why;
	char q[128];

	if (upload_no_upload_path() != NULL) {
		if (no_upload(u, &why) < 0)
			up_later(u, NULL, why);
		else
			up_later(u, u->url, NULL);
		return;
	}
	if (disco_state == 2) {
		slot_ask(u);
		return;
	}
	u->state = UP_DISCO;
	if (disco_state == 0) {
		snprintf(q, sizeof q, "<query xmlns='%s'/>", NS_DISCO_INFO);
		if (iq_send(requester_jid(), service_jid(), "get", q, disco_answer, NULL) < 0) {
			disco_state = 2;
			slot_ask(u);
			return;
		}
		disco_state = 1;
	}
}

static struct up *
up_new(const char *path, const char *name, const char *content_type, const char *fid,
    int own, upload_done_cb *done, void *arg)
{
	struct up *u;
	struct stat st;
	const char *base;

	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
		log_warn("upload: cannot read the file to upload: %s", strerror(errno));
		return NULL;
	}
	if (name == NULL || *name == '\0')
		name = (base = strrchr(path, '/')) != NULL ? base + 1 : path;
	if (content_type == NULL || *content_type == '\0')
		content_type = upload_guess_type(name);
	if ((u = calloc(1, sizeof *u)) == NULL)
		return NULL;
	u->path = strdup(path);
	u->name = strdup(name);
	u->type = strdup(content_type);
	u->fid = fid != NULL && *fid != '\0' ? strdup(fid) : NULL;
	if (u->path == NULL || u->name == NULL || u->type == NULL ||
	    (fid != NULL && *fid != '\0' && u->fid == NULL)) {
		free(u->path);
		free(u->name);
		free(u->type);
		free(u->fid);
		free(u);
		return NULL;
	}
	ev_timer_init(&u->later, later_cb, 0., 0.);
	u->own_path = own;
	u->size = (uint64_t)st.st_size;
	u->done = done;
	u->arg = arg;
	u->next = ups;
	ups = u;
	return u;
}

int
upload_file(const char *path, const char *name, const char *content_type,
    const char *legacy_file_id, int take, upload_done_cb *done, void *arg)
{
	struct up *u;

	if ((u = up_new(path, name, content_type, legacy_file_id, take, done, arg)) == NULL)
		return -1;
	start(u);
	return 0;
}

int
upload_path(const char *path, const char *name, const char *content_type,
    upload_done_cb *done, void *arg)
{
	return upload_file(path, name, content_type, NULL, 0, done, arg);
}

int
upload_write_file(const char *path, const void *data, size_t len)
{
	const unsigned char *p = data;
	ssize_t w;
	size_t off = 0;
	int fd, saved;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
		return -1;
	while (off < len) {
		if ((w = write(fd, p + off, len - off)) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		off += (size_t)w;
	}
	if (close(fd) < 0 || off < len) {
		saved = off < len ? errno : EIO;
		unlink(path);
		errno = saved;
		return -1;
	}
	return 0;
}

int
upload_bytes(const void *data, size_t len, const char *name, const char *content_type,
    upload_done_cb *done, void *arg)
{
	char path[4096], id[37];
	struct up *u;

	/* A file of ours in the state dir: uploads stream from files, and the no-upload
	 * mode moves it into place. */
	upload_uuid(id);
	snprintf(path, sizeof path, "%s/upload-%s", worker.state_dir, id);
	if (upload_write_file(path, data, len) < 0) {
		log_warn("upload: cannot write a file in the state dir: %s", strerror(errno));
		return -1;
	}
	if ((u = up_new(path, name, content_type, NULL, 1, done, arg)) == NULL) {
		unlink(path);
		return -1;
	}
	start(u);
	return 0;
}

void
upload_free_all(void)
{
	struct up *u, *next;

	for (u = ups; u != NULL; u = next) {
		next = u->next;
		if (u->done != NULL)
			up_finish(u, NULL, "the gateway is stopping");
	}
	/* Jobs still waiting for an iq answer are left to iq.c's callbacks (or exit). */
	free(opt.service);
	free(opt.requester);
	free(opt.dir);
	free(opt.prefix);
	memset(&opt, 0, sizeof opt);
}
