/* http.c: the worker's HTTP client, libcurl's multi interface driven by libev.
 *
 * libcurl tells us which sockets to watch (socket callback) and when to wake it up
 * (timer callback); libev tells libcurl when a socket is ready or the time has come
 * (curl_multi_socket_action). Finished transfers are read with curl_multi_info_read and
 * their callback is called from the loop, never from inside http_start. Name lookups run
 * in libcurl's resolver thread (the sandbox allows threads), so nothing blocks the loop.
 *
 * Downloads are written to a file as they arrive and stop at max_size bytes (and before
 * the first byte when Content-Length says more): a hostile server cannot fill the disk
 * or the memory. Only http and https are spoken, redirects included. This is the one
 * file of the worker that includes curl.h (STYLE.md).
 *
 * libcurl is loaded with dlopen at the first transfer, not linked: Debian's libcurl-gnutls
 * brings GnuTLS, p11-kit, libcrypto, Kerberos and LDAP, whose constructors cost an idle
 * worker about 1.1 MiB of private memory and 30 ms of start-up (docs/performance.md);
 * most workers never transfer anything. curl.h gives the types and constants only. */
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dlfcn.h>

#include <curl/curl.h>

#include "build_config.h"
#include "http.h"
#include "log.h"
#include "worker.h"

#define DEFAULT_MAX_SIZE (100ull << 20)
#define DEFAULT_TIMEOUT 300L
#define CONNECT_TIMEOUT 30L
#define MAX_REDIRECTS 5L
#define PORTS_MAX 64

struct http_req {
	CURL *easy;
	http_done_cb *done;
	void *arg;
	struct curl_slist *headers;
	FILE *in;                      /* upload from a file */
	const unsigned char *data;     /* upload from memory */
	size_t len, off;
	int out;                       /* download file, -1 if none */
	uint64_t max_size, got;
	int too_big;
	char errbuf[CURL_ERROR_SIZE];
	struct http_req *prev, *next;
};

struct sock {
	ev_io w;                       /* first: the callback casts back */
	curl_socket_t fd;
	struct sock *next;
};

static CURLM *multi;
static ev_timer timer;
static struct http_req *reqs;
static struct sock *socks;
static int curl_ready;
static uint16_t ports[PORTS_MAX + 1] = { 80, 443, 5280, 5281, 5443 };

/* ---- the loop side ------------------------------------------------------------------ */

/* The libcurl functions this file uses, resolved at the first transfer. */
static struct {
	void *dl;
	CURLcode (*global_init)(long);
	void (*global_cleanup)(void);
	CURL *(*easy_init)(void);
	void (*easy_cleanup)(CURL *);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	const char *(*easy_strerror)(CURLcode);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
	CURLM *(*multi_init)(void);
	CURLMcode (*multi_cleanup)(CURLM *);
	CURLMcode (*multi_setopt)(CURLM *, CURLMoption, ...);
	CURLMcode (*multi_add_handle)(CURLM *, CURL *);
	CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
	CURLMcode (*multi_assign)(CURLM *, curl_socket_t, void *);
	CURLMcode (*multi_socket_action)(CURLM *, curl_socket_t, int, int *);
	CURLMsg *(*multi_info_read)(CURLM *, int *);
} lib;

/* dlopen libcurl (the GnuTLS flavour Debian builds against, else any libcurl 4) and
 * resolve every function above; -1 with the reason logged. */
static int
lib_load(void)
{
	static const char *const names[] = { "libcurl-gnutls.so.4", "libcurl.so.4" };
	static const struct {
		const char *sym;
		size_t off;
	} syms[] = {
#define SYM(f) { "curl_" #f, offsetof(__typeof__(lib), f) }
		SYM(global_init), SYM(global_cleanup), SYM(easy_init), SYM(easy_cleanup),
		SYM(easy_setopt), SYM(easy_getinfo), SYM(easy_strerror), SYM(slist_append),
		SYM(slist_free_all), SYM(multi_init), SYM(multi_cleanup), SYM(multi_setopt),
		SYM(multi_add_handle), SYM(multi_remove_handle), SYM(multi_assign),
		SYM(multi_socket_action), SYM(multi_info_read),
#undef SYM
	};
	size_t i;
	void *f;

	if (lib.dl != NULL)
		return 0;
	for (i = 0; i < sizeof names / sizeof names[0] && lib.dl == NULL; i++)
		lib.dl = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
	if (lib.dl == NULL) {
		log_error("http: cannot load libcurl: %s", dlerror());
		return -1;
	}
	for (i = 0; i < sizeof syms / sizeof syms[0]; i++) {
		if ((f = dlsym(lib.dl, syms[i].sym)) == NULL) {
			log_error("http: libcurl has no %s", syms[i].sym);
			dlclose(lib.dl);
			memset(&lib, 0, sizeof lib);
			return -1;
		}
		memcpy((char *)&lib + syms[i].off, &f, sizeof f);
	}
	return 0;
}

static void
req_unlink(struct http_req *r)
{
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		reqs = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
}

static void
req_free(struct http_req *r)
{
	if (r->easy != NULL) {
		lib.multi_remove_handle(multi, r->easy);
		lib.easy_cleanup(r->easy);
	}
	lib.slist_free_all(r->headers);
	if (r->in != NULL)
		fclose(r->in);
	if (r->out >= 0)
		close(r->out);
	free(r);
}

/* The human text of a failed transfer. */
static const char *
req_error(struct http_req *r, CURLcode rc, long status, char *buf, size_t bufsz)
{
	if (r->too_big || rc == CURLE_FILESIZE_EXCEEDED) {
		snprintf(buf, bufsz, "the file is larger than %llu bytes",
		    (unsigned long long)r->max_size);
		return buf;
	}
	if (rc == CURLE_HTTP_RETURNED_ERROR || (rc == CURLE_OK && (status < 200 || status > 299))) {
		snprintf(buf, bufsz, "the HTTP server answered %ld", status);
		return buf;
	}
	if (rc == CURLE_OK)
		return NULL;
	snprintf(buf, bufsz, "%s", r->errbuf[0] != '\0' ? r->errbuf : lib.easy_strerror(rc));
	return buf;
}

static void
check_done(void)
{
	CURLMsg *m;
	int left;
	struct http_req *r;
	struct http_result res;
	char *ct, ebuf[CURL_ERROR_SIZE + 64];
	curl_off_t got;

	while ((m = lib.multi_info_read(multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		r = NULL;
		lib.easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		if (r == NULL)
			continue;
		memset(&res, 0, sizeof res);
		lib.easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &res.status);
		ct = NULL;
		lib.easy_getinfo(r->easy, CURLINFO_CONTENT_TYPE, &ct);
		res.content_type = ct;
		got = 0;
		lib.easy_getinfo(r->easy, CURLINFO_SIZE_DOWNLOAD_T, &got);
		res.size = r->out >= 0 ? r->got : (uint64_t)got;
		res.error = req_error(r, m->data.result, res.status, ebuf, sizeof ebuf);
		/* A file that cannot be fully written is a failure too. */
		if (res.error == NULL && r->out >= 0) {
			if (close(r->out) < 0) {
				snprintf(ebuf, sizeof ebuf, "writing the file failed: %s",
				    strerror(errno));
				res.error = ebuf;
			}
			r->out = -1;
		}
		req_unlink(r);
		r->done(r->arg, &res);
		req_free(r);
	}
}

static void
io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct sock *s = (struct sock *)w;
	int running, flags = 0;

	if (revents & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (revents & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	lib.multi_socket_action(multi, s->fd, flags, &running);
	check_done();
}

static void
timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	int running;

	lib.multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done();
}

static void
sock_free(struct sock *s)
{
	struct sock **pp;

	for (pp = &socks; *pp != NULL; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	ev_io_stop(worker.loop, &s->w);
	free(s);
}

/* CURLMOPT_SOCKETFUNCTION: watch (or stop watching) fd for what libcurl waits for. */
static int
socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct sock *s = socketp;
	int ev = 0;

	if (what == CURL_POLL_REMOVE) {
		if (s != NULL)
			sock_free(s);
		return 0;
	}
	if (s == NULL) {
		if ((s = calloc(1, sizeof *s)) == NULL) {
			log_error("http: out of memory watching a socket");
			return -1;
		}
		s->fd = fd;
		s->next = socks;
		socks = s;
		lib.multi_assign(multi, fd, s);
	}
	if (what & CURL_POLL_IN)
		ev |= EV_READ;
	if (what & CURL_POLL_OUT)
		ev |= EV_WRITE;
	ev_io_stop(worker.loop, &s->w);
	ev_io_init(&s->w, io_cb, fd, ev);
	ev_io_start(worker.loop, &s->w);
	return 0;
}

/* CURLMOPT_TIMERFUNCTION: one timer; -1 stops it. */
static int
timer_set_cb(CURLM *m, long ms, void *userp)
{
	ev_timer_stop(worker.loop, &timer);
	if (ms >= 0) {
		ev_timer_set(&timer, (double)ms / 1000.0, 0.);
		ev_timer_start(worker.loop, &timer);
	}
	return 0;
}

/* ---- the transfer side ---------------------------------------------------------------- */

static size_t
write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct http_req *r = arg;
	size_t len = size * n, off = 0;
	ssize_t w;

	if (r->out < 0)
		return len;   /* no body wanted (PUT answers): dropped */
	if (r->got + len > r->max_size) {
		r->too_big = 1;
		return 0;     /* CURLE_WRITE_ERROR: the transfer stops here */
	}
	while (off < len) {
		if ((w = write(r->out, p + off, len - off)) < 0) {
			if (errno == EINTR)
				continue;
			snprintf(r->errbuf, sizeof r->errbuf, "writing the file failed: %s",
			    strerror(errno));
			return 0;
		}
		off += (size_t)w;
	}
	r->got += len;
	return len;
}

static size_t
read_mem_cb(char *p, size_t size, size_t n, void *arg)
{
	struct http_req *r = arg;
	size_t len = size * n;

	if (len > r->len - r->off)
		len = r->len - r->off;
	memcpy(p, r->data + r->off, len);
	r->off += len;
	return len;
}

int
http_init(void)
{
	if (lib_load() < 0)
		return -1;
	if (lib.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_error("http: libcurl cannot start");
		return -1;
	}
	curl_ready = 1;
	return 0;
}

static int
multi_setup(void)
{
	if (multi != NULL)
		return 0;
	if (!curl_ready && http_init() < 0)
		return -1;
	if ((multi = lib.multi_init()) == NULL)
		return -1;
	lib.multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	lib.multi_setopt(multi, CURLMOPT_TIMERFUNCTION, timer_set_cb);
	ev_timer_init(&timer, timer_cb, 0., 0.);
	return 0;
}

static int
http_url_ok(const char *url)
{
	return url != NULL && (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0);
}

/* The easy handle's options; -1 with *err on failure. */
static int
req_setup(struct http_req *r, const struct http_opts *o, const char **err)
{
	const char *method = o->method != NULL ? o->method : "GET";
	CURL *e = r->easy;
	size_t i;

	lib.easy_setopt(e, CURLOPT_URL, o->url);
	lib.easy_setopt(e, CURLOPT_PRIVATE, (char *)r);
	lib.easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
	lib.easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	lib.easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	lib.easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	lib.easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
	lib.easy_setopt(e, CURLOPT_MAXREDIRS, MAX_REDIRECTS);
	lib.easy_setopt(e, CURLOPT_FAILONERROR, 1L);
	lib.easy_setopt(e, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT);
	lib.easy_setopt(e, CURLOPT_TIMEOUT, o->timeout > 0 ? o->timeout : DEFAULT_TIMEOUT);
	lib.easy_setopt(e, CURLOPT_USERAGENT, "slidge-c/" SLIDGE_VERSION);
	lib.easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	lib.easy_setopt(e, CURLOPT_WRITEDATA, r);
	/* Prosody and others answer 100-continue late or never: send the body at once. */
	if ((r->headers = lib.slist_append(NULL, "Expect:")) == NULL)
		goto oom;
	for (i = 0; o->headers != NULL && o->headers[i] != NULL; i++) {
		struct curl_slist *l = lib.slist_append(r->headers, o->headers[i]);
		if (l == NULL)
			goto oom;
		r->headers = l;
	}
	lib.easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
	if (strcmp(method, "HEAD") == 0) {
		lib.easy_setopt(e, CURLOPT_NOBODY, 1L);
	} else if (strcmp(method, "PUT") == 0) {
		lib.easy_setopt(e, CURLOPT_UPLOAD, 1L);
		if (o->upload_path != NULL) {
			struct stat st;

			if ((r->in = fopen(o->upload_path, "rbe")) == NULL) {
				*err = "cannot open the file to upload";
				return -1;
			}
			if (fstat(fileno(r->in), &st) < 0 || !S_ISREG(st.st_mode)) {
				*err = "cannot read the file to upload";
				return -1;
			}
			lib.easy_setopt(e, CURLOPT_READDATA, r->in);
			lib.easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)st.st_size);
		} else {
			r->data = o->upload_data;
			r->len = o->upload_len;
			lib.easy_setopt(e, CURLOPT_READFUNCTION, read_mem_cb);
			lib.easy_setopt(e, CURLOPT_READDATA, r);
			lib.easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->len);
		}
	} else if (strcmp(method, "GET") == 0) {
		r->max_size = o->max_size > 0 ? o->max_size : DEFAULT_MAX_SIZE;
		lib.easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)r->max_size);
		if (o->download_path != NULL &&
		    (r->out = open(o->download_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0600)) < 0) {
			*err = "cannot create the download file";
			return -1;
		}
	} else {
		*err = "unknown HTTP method";
		return -1;
	}
	return 0;
oom:
	*err = "out of memory";
	return -1;
}

int
http_start(const struct http_opts *o, http_done_cb *done, void *arg,
    struct http_req **out, const char **err)
{
	struct http_req *r;
	const char *dummy;

	if (err == NULL)
		err = &dummy;
	if (out != NULL)
		*out = NULL;
	if (!http_url_ok(o->url)) {
		*err = "not an http or https URL";
		return -1;
	}
	if (multi_setup() < 0) {
		*err = "libcurl cannot start";
		return -1;
	}
	if ((r = calloc(1, sizeof *r)) == NULL) {
		*err = "out of memory";
		return -1;
	}
	r->out = -1;
	r->done = done;
	r->arg = arg;
	if ((r->easy = lib.easy_init()) == NULL) {
		*err = "libcurl cannot start a transfer";
		free(r);
		return -1;
	}
	if (req_setup(r, o, err) < 0) {
		if (o->download_path != NULL && r->out >= 0)
			unlink(o->download_path);
		req_free(r);
		return -1;
	}
	if (lib.multi_add_handle(multi, r->easy) != CURLM_OK) {
		*err = "libcurl refused the transfer";
		req_free(r);
		return -1;
	}
	r->next = reqs;
	if (reqs != NULL)
		reqs->prev = r;
	reqs = r;
	if (out != NULL)
		*out = r;
	return 0;
}

void
http_cancel(struct http_req *r)
{
	if (r == NULL)
		return;
	req_unlink(r);
	req_free(r);
}

void
http_free_all(void)
{
	while (reqs != NULL)
		http_cancel(reqs);
	if (multi != NULL) {
		lib.multi_cleanup(multi);
		multi = NULL;
		ev_timer_stop(worker.loop, &timer);
	}
	while (socks != NULL)
		sock_free(socks);
	if (curl_ready) {
		lib.global_cleanup();
		curl_ready = 0;
	}
}

/* ---- sandbox ports ------------------------------------------------------------------ */

int
http_set_ports(const char *list)
{
	uint16_t tmp[PORTS_MAX + 1];
	const char *s = list;
	char *end;
	unsigned long n;
	size_t i = 0;

	while (*s != '\0') {
		n = strtoul(s, &end, 10);
		if (end == s || n == 0 || n > 65535 || i >= PORTS_MAX ||
		    (*end != ',' && *end != '\0'))
			return -1;
		tmp[i++] = (uint16_t)n;
		s = *end == ',' ? end + 1 : end;
	}
	tmp[i] = 0;
	memcpy(ports, tmp, (i + 1) * sizeof tmp[0]);
	return 0;
}

const uint16_t *
http_sandbox_ports(const uint16_t *module_ports)
{
	static uint16_t all[2 * PORTS_MAX + 1];
	size_t n = 0, i;

	for (i = 0; module_ports != NULL && module_ports[i] != 0 && n < PORTS_MAX; i++)
		all[n++] = module_ports[i];
	for (i = 0; ports[i] != 0; i++)
		all[n++] = ports[i];
	all[n] = 0;
	return all;
}
