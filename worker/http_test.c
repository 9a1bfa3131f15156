/* http_test.c: the HTTP client against a small HTTP server on loopback, both on one libev
 * loop: a download, a PUT from memory and from a file, 404, the size limit (announced by
 * Content-Length or not), an unreachable port, and --http-ports. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"
#include "log.h"
#include "worker.h"

struct worker worker;

static int failures;

#define CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #cond); failures++; } } while (0)

/* ---- the server: one request per connection ------------------------------------------ */

struct conn {
	ev_io w;
	char buf[16384];
	size_t len;
};

static char put_body[256];

static void
respond(int fd, const char *req, const char *body, size_t blen)
{
	char big[5000], head[256];
	const char *status = "200 OK";
	int n, with_len = 1;

	if (strncmp(req, "GET /ok ", 8) == 0) {
		body = "hello world";
	} else if (strncmp(req, "GET /big ", 9) == 0 || strncmp(req, "GET /big-nolen ", 15) == 0) {
		memset(big, 'x', sizeof big);
		body = big;
		blen = sizeof big;
		with_len = strncmp(req, "GET /big ", 9) == 0;
	} else if (strncmp(req, "PUT /put ", 9) == 0) {
		snprintf(put_body, sizeof put_body, "%.*s", (int)blen, body);
		status = "201 Created";
		body = "";
	} else {
		status = "404 Not Found";
		body = "no";
	}
	if (body != big)
		blen = strlen(body);
	if (with_len)
		n = snprintf(head, sizeof head, "HTTP/1.1 %s\r\nContent-Type: text/plain; "
		    "charset=utf-8\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", status, blen);
	else
		n = snprintf(head, sizeof head, "HTTP/1.1 %s\r\nConnection: close\r\n\r\n", status);
	if (write(fd, head, (size_t)n) != n || write(fd, body, blen) != (ssize_t)blen)
		fprintf(stderr, "server: short write\n");
}

static void
conn_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *c = (struct conn *)w;
	ssize_t n = read(w->fd, c->buf + c->len, sizeof c->buf - 1 - c->len);
	char *end, *cl;
	size_t want = 0;

	if (n > 0)
		c->len += (size_t)n;
	c->buf[c->len] = '\0';
	if ((end = strstr(c->buf, "\r\n\r\n")) == NULL && n > 0)
		return;
	if (end != NULL && (cl = strcasestr(c->buf, "Content-Length: ")) != NULL && cl < end)
		want = strtoul(cl + 16, NULL, 10);
	if (end != NULL && n > 0 && c->len < (size_t)(end + 4 - c->buf) + want)
		return;
	if (end != NULL)
		respond(w->fd, c->buf, end + 4, c->len - (size_t)(end + 4 - c->buf));
	ev_io_stop(loop, w);
	close(w->fd);
	free(c);
}

static void
accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *c;
	int fd = accept(w->fd, NULL, NULL);

	if (fd < 0 || (c = calloc(1, sizeof *c)) == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	ev_io_init(&c->w, conn_cb, fd, EV_READ);
	ev_io_start(loop, &c->w);
}

/* ---- the client side ----------------------------------------------------------------- */

struct outcome {
	int done;
	long status;
	char error[256];
	char type[64];
	uint64_t size;
};

static void
done_cb(void *arg, const struct http_result *res)
{
	struct outcome *o = arg;

	o->done++;
	o->status = res->status;
	snprintf(o->error, sizeof o->error, "%s", res->error ? res->error : "");
	snprintf(o->type, sizeof o->type, "%s", res->content_type ? res->content_type : "");
	o->size = res->size;
}

static void
run(const struct http_opts *ho, struct outcome *o)
{
	const char *err = NULL;

	memset(o, 0, sizeof *o);
	CHECK(http_start(ho, done_cb, o, NULL, &err) == 0);
	CHECK(o->done == 0);   /* never from inside http_start */
	while (!o->done)
		ev_run(worker.loop, EVRUN_ONCE);
	CHECK(o->done == 1);
}

static char *
slurp(const char *path)
{
	static char b[8192];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	b[0] = '\0';
	if (fd < 0)
		return b;
	n = read(fd, b, sizeof b - 1);
	b[n > 0 ? n : 0] = '\0';
	close(fd);
	return b;
}

int
main(void)
{
	struct sockaddr_in sa = { 0 };
	socklen_t salen = sizeof sa;
	struct http_opts ho;
	struct outcome o;
	ev_io lw;
	char url[128], dir[] = "/tmp/http_test.XXXXXX", path[256], src[256];
	const uint16_t *p;
	static const uint16_t mod[] = { 6667, 0 };
	int lfd;

	log_init("http_test", LOG_LVL_WARN);
	worker.loop = ev_default_loop(0);
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof path, "%s/dl", dir);
	snprintf(src, sizeof src, "%s/src", dir);

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(bind(lfd, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(lfd, 8) == 0);
	CHECK(getsockname(lfd, (struct sockaddr *)&sa, &salen) == 0);
	ev_io_init(&lw, accept_cb, lfd, EV_READ);
	ev_io_start(worker.loop, &lw);

	/* A download, streamed to a file. */
	memset(&ho, 0, sizeof ho);
	snprintf(url, sizeof url, "http://127.0.0.1:%u/ok", ntohs(sa.sin_port));
	ho.url = url;
	ho.download_path = path;
	run(&ho, &o);
	CHECK(o.status == 200 && o.error[0] == '\0' && o.size == 11);
	CHECK(strcmp(o.type, "text/plain; charset=utf-8") == 0);
	CHECK(strcmp(slurp(path), "hello world") == 0);

	/* 404: an error that says so. */
	snprintf(url, sizeof url, "http://127.0.0.1:%u/nothing", ntohs(sa.sin_port));
	run(&ho, &o);
	CHECK(o.status == 404 && strstr(o.error, "404") != NULL);

	/* Too big, announced or not: stopped at max_size. */
	ho.max_size = 1000;
	snprintf(url, sizeof url, "http://127.0.0.1:%u/big", ntohs(sa.sin_port));
	run(&ho, &o);
	CHECK(strstr(o.error, "larger than 1000 bytes") != NULL);
	snprintf(url, sizeof url, "http://127.0.0.1:%u/big-nolen", ntohs(sa.sin_port));
	run(&ho, &o);
	CHECK(strstr(o.error, "larger than 1000 bytes") != NULL);
	ho.max_size = 0;

	/* PUT from memory, then from a file, with a header. */
	{
		static const char *const hdrs[] = { "Authorization: Basic eA==", NULL };
		FILE *f;

		memset(&ho, 0, sizeof ho);
		snprintf(url, sizeof url, "http://127.0.0.1:%u/put", ntohs(sa.sin_port));
		ho.method = "PUT";
		ho.url = url;
		ho.headers = hdrs;
		ho.upload_data = "from memory";
		ho.upload_len = strlen("from memory");
		run(&ho, &o);
		CHECK(o.status == 201 && o.error[0] == '\0' && strcmp(put_body, "from memory") == 0);
		CHECK((f = fopen(src, "w")) != NULL && fputs("from a file", f) >= 0 && fclose(f) == 0);
		ho.upload_data = NULL;
		ho.upload_len = 0;
		ho.upload_path = src;
		run(&ho, &o);
		CHECK(o.status == 201 && strcmp(put_body, "from a file") == 0);
	}

	/* Nobody listening: a human error, status 0. */
	memset(&ho, 0, sizeof ho);
	snprintf(url, sizeof url, "http://127.0.0.1:1/x");
	ho.url = url;
	run(&ho, &o);
	CHECK(o.status == 0 && o.error[0] != '\0');

	/* Refused before starting: not http(s). */
	ho.url = "file:///etc/passwd";
	CHECK(http_start(&ho, done_cb, &o, NULL, NULL) < 0);

	/* --http-ports */
	CHECK(http_set_ports("80,8080") == 0);
	p = http_sandbox_ports(mod);
	CHECK(p[0] == 6667 && p[1] == 80 && p[2] == 8080 && p[3] == 0);
	CHECK(http_set_ports("80,,1") < 0 && http_set_ports("70000") < 0 && http_set_ports("x") < 0);
	p = http_sandbox_ports(NULL);
	CHECK(p[0] == 80 && p[1] == 8080 && p[2] == 0);

	http_free_all();
	ev_io_stop(worker.loop, &lw);
	close(lfd);
	unlink(path);
	unlink(src);
	rmdir(dir);
	if (failures)
		fprintf(stderr, "http_test: %d failure(s)\n", failures);
	return failures != 0;
}
