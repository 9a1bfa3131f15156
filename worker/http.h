/* http.h: the worker's HTTP client (libcurl's multi interface on the worker's libev
 * loop). Transfers stream: uploads read from a file or from memory, downloads go to a
 * file with a hard size limit. Nothing here ever blocks the loop. */
#ifndef SLIDGE_HTTP_H
#define SLIDGE_HTTP_H

#include <stddef.h>
#include <stdint.h>

struct http_req;

/* What a finished transfer gives its callback; every string valid during the call only. */
struct http_result {
	long status;              /* HTTP status, 0 if none was received */
	const char *error;        /* NULL on a 2xx answer, else a human text */
	const char *content_type; /* of the answer, or NULL */
	uint64_t size;            /* body bytes received (downloads) */
};

typedef void http_done_cb(void *arg, const struct http_result *res);

struct http_opts {
	const char *method;             /* "GET" (NULL), "PUT", "HEAD" */
	const char *url;                /* http:// or https:// only */
	const char *const *headers;     /* "Name: value" lines, NULL-terminated, or NULL */
	const char *upload_path;        /* PUT: body from this file, or */
	const void *upload_data;        /* PUT: body from memory (not copied: keep it) */
	size_t upload_len;
	const char *download_path;      /* GET: body to this file (created, truncated) */
	uint64_t max_size;              /* GET: fail past this many bytes (0: 100 MiB) */
	long timeout;                   /* seconds for the whole transfer (0: 300) */
};

/* Start libcurl (curl_global_init). http_start does it at the first transfer: a worker
 * that never speaks HTTP does not pay for GnuTLS and libcrypto's state (about 370 KiB of
 * private memory), and it works inside the sandbox. -1 on failure. */
int http_init(void);
/* Start a transfer; done is called exactly once, later (never from inside this call).
 * *out (may be NULL) lets the caller cancel it. -1 (done not called) if it cannot start;
 * *err then says why (static string). */
int http_start(const struct http_opts *o, http_done_cb *done, void *arg,
    struct http_req **out, const char **err);
/* Abort a transfer: its callback is not called. */
void http_cancel(struct http_req *r);
/* Abort every transfer (their callbacks are not called) and release libcurl. */
void http_free_all(void);
/* --http-ports: the TCP ports HTTP may connect to ("80,443,..."). -1 if malformed. */
int http_set_ports(const char *list);
/* The ports the sandbox must allow: the module's (0-terminated, may be NULL) plus
 * --http-ports. A static array, 0-terminated. */
const uint16_t *http_sandbox_ports(const uint16_t *module_ports);

#endif
