/* sandbox_test: each denial of the worker sandbox, proven one by one.
 *
 * Every case forks a child that enters the real sandbox (common/sandbox.c, the same
 * policy the worker uses) and tries one thing; the parent checks how the child ended.
 * A case that needs a kernel feature this machine lacks prints "skipped", never "ok". */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "sandbox.h"

/* Child exit codes. */
#define RES_OK 0         /* the action was denied the expected way (or allowed, for allows) */
#define RES_WRONG 1      /* the action succeeded though it must not (or the reverse) */
#define RES_SKIP 77      /* the kernel lacks what the case needs */
#define RES_SETUP 2

static char state_dir[256], other_dir[256];
static uint16_t open_port, closed_port;
static int listen_open = -1, listen_closed = -1;
static pid_t sibling;

static int
listener(uint16_t *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 8) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		return -1;
	*port = ntohs(sa.sin_port);
	return fd;
}

static int
try_connect(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
		.sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int rc;

	if (fd < 0)
		return -1;
	rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
	close(fd);
	return rc;
}

static void *
thread_fn(void *arg)
{
	return arg;
}

static int
status_field(const char *name)
{
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");
	int v = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, name, strlen(name)) == 0)
			v = atoi(line + strlen(name));
	fclose(f);
	return v;
}

/* What each case does inside the sandbox; returns the child's exit code. */
static int
run_case(int n, const struct sandbox_report *rep)
{
	char path[512];
	int fd;
	pthread_t t;

	switch (n) {
	case 0: /* exec is killed */
		execl("/bin/true", "true", (char *)NULL);
		return RES_WRONG;
	case 1: /* fork is killed */
		if (fork() == 0)
			_exit(0);
		return RES_WRONG;
	case 2: /* ptrace of a sibling is killed */
		ptrace(PTRACE_ATTACH, sibling, NULL, NULL);
		return RES_WRONG;
	case 3: /* threads work */
		if (pthread_create(&t, NULL, thread_fn, NULL) != 0 || pthread_join(t, NULL) != 0)
			return RES_WRONG;
		return RES_OK;
	case 4: /* the state dir is writable */
		snprintf(path, sizeof path, "%s/file", state_dir);
		fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
		if (fd < 0 || write(fd, "x", 1) != 1)
			return RES_WRONG;
		close(fd);
		return RES_OK;
	case 5: /* another user's directory (or the registration store) is not readable */
		if (!rep->landlock_abi)
			return RES_SKIP;
		snprintf(path, sizeof path, "%s/secret", other_dir);
		fd = open(path, O_RDONLY);
		return fd < 0 && errno == EACCES ? RES_OK : RES_WRONG;
	case 6: /* nor writable */
		if (!rep->landlock_abi)
			return RES_SKIP;
		snprintf(path, sizeof path, "%s/new", other_dir);
		fd = open(path, O_CREAT | O_WRONLY, 0600);
		return fd < 0 && errno == EACCES ? RES_OK : RES_WRONG;
	case 7: /* /etc/shadow and the like are out of reach */
		if (!rep->landlock_abi)
			return RES_SKIP;
		fd = open("/etc/passwd", O_RDONLY);
		return fd < 0 && errno == EACCES ? RES_OK : RES_WRONG;
	case 8: /* connect to an undeclared port is refused */
		if (!rep->landlock_net)
			return RES_SKIP;
		return try_connect(closed_port) < 0 && errno == EACCES ? RES_OK : RES_WRONG;
	case 9: /* connect to a declared port works */
		return try_connect(open_port) == 0 ? RES_OK : RES_WRONG;
	case 10: /* no signals outside the sandbox */
		if (!rep->landlock_scoped)
			return RES_SKIP;
		return kill(sibling, SIGTERM) < 0 && errno == EPERM ? RES_OK : RES_WRONG;
	case 11: /* what the supervisor checks */
		return status_field("NoNewPrivs:") == 1 && status_field("Seccomp:") == 2 ? RES_OK : RES_WRONG;
	case 12: /* no raw or netlink sockets */
		fd = socket(AF_NETLINK, SOCK_RAW, 0);
		return fd < 0 && errno == EPERM ? RES_OK : RES_WRONG;
	case 13: /* core dumps are off and the process is not dumpable */
		{
			struct rlimit rl;
			if (getrlimit(RLIMIT_CORE, &rl) < 0 || rl.rlim_max != 0)
				return RES_WRONG;
			return prctl(PR_GET_DUMPABLE) == 0 ? RES_OK : RES_WRONG;
		}
	case 14: /* cannot turn dumpability back on */
		prctl(PR_SET_DUMPABLE, 1);
		return prctl(PR_GET_DUMPABLE) == 0 ? RES_OK : RES_WRONG;
	}
	return RES_SETUP;
}

static const struct {
	const char *name;
	int want_signal; /* 0: want exit RES_OK */
} cases[] = {
	{ "exec is killed", SIGSYS },
	{ "fork is killed", SIGSYS },
	{ "ptrace of a sibling is killed", SIGSYS },
	{ "threads are allowed", 0 },
	{ "own state dir is writable", 0 },
	{ "another user's directory is not readable", 0 },
	{ "another user's directory is not writable", 0 },
	{ "system files outside the list are not readable", 0 },
	{ "connect to an undeclared port is refused", 0 },
	{ "connect to a declared port works", 0 },
	{ "signals to processes outside are refused", 0 },
	{ "NoNewPrivs and Seccomp show in /proc", 0 },
	{ "netlink sockets are refused", 0 },
	{ "no core dumps, not dumpable", 0 },
	{ "dumpability cannot be restored", 0 },
};

int
main(void)
{
	char tmpl[] = "/tmp/sandbox-test-XXXXXX";
	char *base = mkdtemp(tmpl);
	uint16_t ports[2];
	size_t i;
	int passed = 0, failed = 0, skipped = 0;

	log_init("sandbox_test", LOG_LVL_WARN);
	if (!base)
		return 2;
	snprintf(state_dir, sizeof state_dir, "%s/users/romeo", base);
	snprintf(other_dir, sizeof other_dir, "%s/users/juliet", base);
	{
		char users[300];
		snprintf(users, sizeof users, "%s/users", base);
		mkdir(users, 0700);
	}
	if (mkdir(state_dir, 0700) < 0 || mkdir(other_dir, 0700) < 0)
		return 2;
	{
		char p[300];
		int fd;
		snprintf(p, sizeof p, "%s/secret", other_dir);
		fd = open(p, O_CREAT | O_WRONLY, 0600);
		if (fd < 0)
			return 2;
		close(fd);
	}
	listen_open = listener(&open_port);
	listen_closed = listener(&closed_port);
	if (listen_open < 0 || listen_closed < 0)
		return 2;
	ports[0] = open_port;
	ports[1] = 0;
	sibling = fork();
	if (sibling == 0) {
		pause();
		_exit(0);
	}

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int st;
		pid_t pid = fork();

		if (pid == 0) {
			struct sandbox_conf conf = { .state_dir = state_dir, .ports = ports };
			struct sandbox_report rep;
			if (sandbox_enter(&conf, &rep) < 0)
				_exit(RES_SETUP);
			_exit(run_case((int)i, &rep));
		}
		waitpid(pid, &st, 0);
		if (WIFEXITED(st) && WEXITSTATUS(st) == RES_SKIP) {
			printf("skipped: %s (this kernel lacks the feature)\n", cases[i].name);
			skipped++;
		} else if (cases[i].want_signal ? (WIFSIGNALED(st) && WTERMSIG(st) == cases[i].want_signal)
		    : (WIFEXITED(st) && WEXITSTATUS(st) == RES_OK)) {
			printf("ok: %s\n", cases[i].name);
			passed++;
		} else {
			printf("FAIL: %s (%s %d)\n", cases[i].name,
			    WIFSIGNALED(st) ? "signal" : "exit",
			    WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
			failed++;
		}
	}
	kill(sibling, SIGKILL);
	waitpid(sibling, NULL, 0);
	{
		char cmd[400];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", base);
	}
	printf("%d ok, %d failed, %d skipped\n", passed, failed, skipped);
	return failed ? 1 : 0;
}
