/* slidgectl: talk to slidged's control socket.
 *
 *   slidgectl [-s|--socket PATH] [--json] COMMAND [ARGS...]
 *
 * One request, one reply. The exit status is the reply's status (enum ctl_status): 0 ok,
 * 1 failed, 2 cannot reach slidged or usage error, 3 unknown JID, 4 unknown command,
 * 5 bad arguments, 6 refused. */
#include <errno.h>
#include <glob.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "build_config.h"
#include "control.h"
#include "proto.h"

#define EXIT_USAGE 2

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: slidgectl [-s|--socket PATH] [--json] COMMAND [ARGS...]\n"
	    "\n"
	    "commands:\n"
	    "  list                       every registered user and its session\n"
	    "  status JID                 one user's session\n"
	    "  restart JID                restart one user's session (nobody else's)\n"
	    "  stop JID                   stop one user's session until 'start'\n"
	    "  start JID                  start a stopped or parked session\n"
	    "  kill JID                   SIGKILL the session's worker (it restarts)\n"
	    "  stats                      gateway-wide counters and memory\n"
	    "  register JID [key=value]   register a user with this legacy_module_data\n"
	    "  unregister JID             unregister a user\n"
	    "  loglevel LEVEL             debug, info, warning or error\n"
	    "\n"
	    "The socket defaults to $SLIDGE_CONTROL_SOCKET, else the only\n"
	    "/var/lib/slidge/*/slidged.sock (slidged's --control-socket).\n");
}

static char *
default_socket(void)
{
	const char *env = getenv("SLIDGE_CONTROL_SOCKET");
	glob_t g;
	char *p = NULL;

	if (env && *env)
		return strdup(env);
	if (glob("/var/lib/slidge/*/slidged.sock", 0, NULL, &g) != 0)
		return NULL;
	if (g.gl_pathc == 1)
		p = strdup(g.gl_pathv[0]);
	else
		fprintf(stderr, "slidgectl: %zu gateways found under /var/lib/slidge: pass -s PATH\n",
		    g.gl_pathc);
	globfree(&g);
	return p;
}

static void
json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c == '\n')
			fputs("\\n", stdout);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void
print_json(const struct proto_msg *m)
{
	const struct proto_table *t = &m->v[CTL_REPLY_rows].table;
	size_t r, c;

	printf("{\"status\":%llu,\"text\":", (unsigned long long)m->v[CTL_REPLY_status].u);
	json_str(m->v[CTL_REPLY_text].s);
	fputs(",\"rows\":[", stdout);
	for (r = 1; r < t->n; r++) {
		printf("%s{", r > 1 ? "," : "");
		for (c = 0; c < t->rows[r].n && c < t->rows[0].n; c++) {
			printf("%s", c ? "," : "");
			json_str(t->rows[0].v[c]);
			putchar(':');
			json_str(t->rows[r].v[c]);
		}
		putchar('}');
	}
	puts("]}");
}

static void
print_table(const struct proto_msg *m)
{
	const struct proto_table *t = &m->v[CTL_REPLY_rows].table;
	size_t widths[64] = { 0 }, r, c, ncols;

	if (t->n == 0) {
		puts(m->v[CTL_REPLY_text].s);
		return;
	}
	ncols = t->rows[0].n < 64 ? t->rows[0].n : 64;
	for (r = 0; r < t->n; r++)
		for (c = 0; c < ncols && c < t->rows[r].n; c++)
			if (strlen(t->rows[r].v[c]) > widths[c])
				widths[c] = strlen(t->rows[r].v[c]);
	for (r = 0; r < t->n; r++) {
		for (c = 0; c < ncols && c < t->rows[r].n; c++)
			if (c + 1 < ncols)
				printf("%-*s  ", (int)widths[c], t->rows[r].v[c]);
			else
				fputs(t->rows[r].v[c], stdout);
		putchar('\n');
	}
}

int
main(int argc, char **argv)
{
	char *path = NULL;
	int json = 0, i, fd = -1, rc = EXIT_USAGE;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct proto_val v[CTL_REQUEST__NFIELDS] = { 0 };
	struct proto_msg m = { 0 };
	struct buf out = BUF_INIT, in = BUF_INIT;
	size_t consumed, off = 0;
	enum proto_err e;

	for (i = 1; i < argc; i++) {
		if ((!strcmp(argv[i], "-s") || !strcmp(argv[i], "--socket")) && i + 1 < argc) {
			free(path);
			path = strdup(argv[++i]);
		} else if (!strncmp(argv[i], "--socket=", 9)) {
			free(path);
			path = strdup(argv[i] + 9);
		} else if (!strcmp(argv[i], "--json")) {
			json = 1;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			rc = 0;
			goto out;
		} else if (!strcmp(argv[i], "--version")) {
			printf("slidgectl %s\n", SLIDGE_VERSION);
			rc = 0;
			goto out;
		} else if (argv[i][0] == '-') {
			fprintf(stderr, "slidgectl: unknown option %s\n", argv[i]);
			usage(stderr);
			goto out;
		} else {
			break;
		}
	}
	if (i >= argc) {
		usage(stderr);
		goto out;
	}
	if (!path && !(path = default_socket())) {
		fprintf(stderr, "slidgectl: no control socket found: pass -s PATH\n");
		goto out;
	}
	v[CTL_REQUEST_command].s = argv[i++];
	for (; i < argc; i++)
		if (proto_list_add(&v[CTL_REQUEST_args].list, argv[i]) < 0) {
			rc = 1;
			goto out;
		}
	if (proto_encode(&out, PROTO_CTL_REQUEST, v) < 0) {
		fprintf(stderr, "slidgectl: request too large\n");
		goto out;
	}

	if (strlen(path) >= sizeof sa.sun_path) {
		fprintf(stderr, "slidgectl: socket path too long\n");
		goto out;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		fprintf(stderr, "slidgectl: cannot connect to %s: %s\n", path, strerror(errno));
		goto out;
	}
	/* slidged may answer (a refusal) and close before reading the request: a failed
	 * write is not the end, the reply may be waiting. */
	while (off < out.len) {
		ssize_t n = send(fd, out.data + off, out.len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	for (;;) {
		char rb[65536];
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		e = proto_decode_frame(in.data ? in.data : "", in.len, PROTO_S2C, &consumed, &m);
		if (e == PROTO_OK)
			break;
		if (e != PROTO_ERR_INCOMPLETE) {
			fprintf(stderr, "slidgectl: bad reply: %s\n", proto_strerror(e));
			goto out;
		}
		if (poll(&pfd, 1, 30000) <= 0) {
			fprintf(stderr, "slidgectl: no reply from slidged in 30 s\n");
			goto out;
		}
		n = read(fd, rb, sizeof rb);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "slidgectl: slidged closed the connection\n");
			goto out;
		}
		buf_append(&in, rb, (size_t)n);
	}
	if (json) {
		print_json(&m);
	} else if (m.v[CTL_REPLY_status].u != CTL_OK) {
		fprintf(stderr, "slidgectl: %s\n", m.v[CTL_REPLY_text].s);
	} else if (m.v[CTL_REPLY_rows].table.n) {
		print_table(&m);
	} else {
		puts(m.v[CTL_REPLY_text].s);
	}
	rc = (int)m.v[CTL_REPLY_status].u;
out:
	if (fd >= 0)
		close(fd);
	proto_msg_free(&m);
	proto_list_free(&v[CTL_REQUEST_args].list);
	buf_free(&in, 0);
	buf_free(&out, 0);
	free(path);
	return rc;
}
