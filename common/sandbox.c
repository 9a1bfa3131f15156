/* sandbox.c: the worker's sandbox, the whole policy in one place.
 *
 * Order matters: rlimits and the privilege drop first (they need privileges we are about
 * to lose), then no_new_privs (required for unprivileged seccomp and Landlock), then
 * Landlock (paths and ports), then seccomp last, since its filter forbids the syscalls
 * the earlier steps use. The worker is single-threaded here: the filter is installed
 * without TSYNC, and every thread created later inherits it.
 *
 * Why each syscall is allowed is written next to it. The default for anything not listed
 * is EPERM, so a library probing an optional feature degrades instead of dying; the
 * syscalls that would let a compromised worker reach beyond its own process kill it. */
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/landlock.h>
#include <seccomp.h>

#include "log.h"
#include "sandbox.h"

/* ---- rlimits ---------------------------------------------------------------------- */

static const struct {
	int resource;
	rlim_t value;
	const char *why;
} rlimits[] = {
	{ RLIMIT_CORE, 0, "no core dumps: they would hold the user's credentials" },
	{ RLIMIT_NOFILE, 1024, "a session needs a few sockets and its store" },
	{ RLIMIT_FSIZE, 1024ull << 20, "no file in the state dir grows past 1 GiB" },
	{ RLIMIT_AS, 4096ull << 20, "bounds a runaway module (LMDB maps 1 GiB)" },
};

/* ---- Landlock --------------------------------------------------------------------- */

/* Newer than Debian 12's <linux/landlock.h> (ABI 2); the uAPI values are stable. */
#define SB_LL_FS_TRUNCATE (1ULL << 14)   /* ABI 3 */
#define SB_LL_FS_IOCTL_DEV (1ULL << 15)  /* ABI 5 */
#define SB_LL_RULE_NET_PORT 2            /* ABI 4 */
#define SB_LL_NET_BIND_TCP (1ULL << 0)
#define SB_LL_NET_CONNECT_TCP (1ULL << 1)
#define SB_LL_SCOPE_ABSTRACT_UNIX (1ULL << 0) /* ABI 6 */
#define SB_LL_SCOPE_SIGNAL (1ULL << 1)

struct sb_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};

struct sb_net_port_attr {
	uint64_t allowed_access;
	uint64_t port;
};

#define LL_READ (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
#define LL_EXEC_READ (LL_READ | LANDLOCK_ACCESS_FS_EXECUTE)

/* What the worker may read outside its state dir: what glibc's resolver and NSS, GnuTLS
 * and libcurl open at run time (reference/facts.md), time zones, and the shared
 * libraries NSS loads lazily (read + map executable). Missing paths are skipped.
 * HTTP (http.c, libcurl-gnutls): the resolver files (its threaded resolver calls
 * getaddrinfo: nsswitch.conf, host.conf, resolv.conf, hosts, gai.conf), /etc/services
 * (port names), the CA bundle under /etc/ssl and /usr/share/ca-certificates, GnuTLS's
 * /etc/gnutls/config; TCP connect is allowed to --http-ports (default
 * 80,443,5280,5281,5443) on top of the module's ports (worker main.c). */
static const struct {
	const char *path;
	uint64_t access;
} ro_paths[] = {
	{ "/etc/resolv.conf", LANDLOCK_ACCESS_FS_READ_FILE },
	{ "/etc/hosts", LANDLOCK_ACCESS_FS_READ_FILE },
	{ "/etc/host.conf", LANDLOCK_ACCESS_FS_READ_FILE },
	{ "/etc/nsswitch.conf", LANDLOCK_ACCESS_FS_READ_FILE },
	{ "/etc/gai.conf", LANDLOCK_ACCESS_FS_READ_FILE },
	{ "/etc/services", LANDLOCK_ACCESS_FS_READ_FILE },
	{ "/etc/localtime", LANDLOCK_ACCESS_FS_READ_FILE },
	{ "/etc/ssl", LL_READ },
	{ "/etc/ca-certificates", LL_READ },
	{ "/etc/gnutls", LL_READ },
	{ "/usr/share/ca-certificates", LL_READ },
	{ "/usr/share/zoneinfo", LL_READ },
	{ "/usr/lib", LL_EXEC_READ },
	{ "/dev/urandom", LANDLOCK_ACCESS_FS_READ_FILE },
	{ "/dev/null", LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE },
	{ "/proc/self", LL_READ },
	{ "/sys/devices/system/cpu", LL_READ },
};

static int
ll_create(const struct sb_ruleset_attr *a, size_t size)
{
	return (int)syscall(SYS_landlock_create_ruleset, a, size, 0);
}

static int
ll_add_path(int rfd, const char *path, uint64_t access, uint64_t handled)
{
	struct landlock_path_beneath_attr pb = { 0 };
	int fd = open(path, O_PATH | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	pb.allowed_access = access & handled;
	pb.parent_fd = fd;
	rc = (int)syscall(SYS_landlock_add_rule, rfd, LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
	if (rc < 0 && errno == EINVAL) {
		/* A directory right on a file: keep only the file rights. */
		pb.allowed_access &= LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE |
		    LANDLOCK_ACCESS_FS_EXECUTE | SB_LL_FS_TRUNCATE;
		rc = (int)syscall(SYS_landlock_add_rule, rfd, LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
	}
	close(fd);
	return rc;
}

static int
sandbox_landlock(const struct sandbox_conf *conf, struct sandbox_report *rep)
{
	struct sb_ruleset_attr a = { 0 };
	size_t size = sizeof a;
	int abi, rfd, rc = -1;
	size_t i;
	uint64_t all_fs;

	abi = (int)syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	if (abi < 1) {
		log_warn("sandbox: Landlock is not available on this kernel: files and ports are not restricted");
		return 0;
	}
	rep->landlock_abi = abi;
	all_fs = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1;   /* ABI 1 */
	if (abi >= 2)
		all_fs |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		all_fs |= SB_LL_FS_TRUNCATE;
	if (abi >= 5)
		all_fs |= SB_LL_FS_IOCTL_DEV;
	a.handled_access_fs = all_fs;
	if (abi >= 4)
		a.handled_access_net = SB_LL_NET_BIND_TCP | SB_LL_NET_CONNECT_TCP;
	if (abi >= 6)
		a.scoped = SB_LL_SCOPE_ABSTRACT_UNIX | SB_LL_SCOPE_SIGNAL;
	else
		size = abi >= 4 ? offsetof(struct sb_ruleset_attr, scoped) :
		    offsetof(struct sb_ruleset_attr, handled_access_net);
	rfd = ll_create(&a, size);
	if (rfd < 0) {
		log_error("sandbox: landlock_create_ruleset: %s", strerror(errno));
		return -1;
	}
	if (ll_add_path(rfd, conf->state_dir, all_fs & ~(uint64_t)LANDLOCK_ACCESS_FS_EXECUTE,
	    all_fs) < 0) {
		log_error("sandbox: landlock rule for %s: %s", conf->state_dir, strerror(errno));
		goto done;
	}
	/* HTTP: attachments put into --no-upload-path (files and directories created,
	 * renamed or linked there: the state dir's rights, REFER included). */
	if (conf->rw_dir != NULL && ll_add_path(rfd, conf->rw_dir,
	    all_fs & ~(uint64_t)LANDLOCK_ACCESS_FS_EXECUTE, all_fs) < 0) {
		log_error("sandbox: landlock rule for %s: %s", conf->rw_dir, strerror(errno));
		goto done;
	}
	for (i = 0; i < sizeof ro_paths / sizeof ro_paths[0]; i++)
		if (ll_add_path(rfd, ro_paths[i].path, ro_paths[i].access, all_fs) < 0) {
			log_error("sandbox: landlock rule for %s: %s", ro_paths[i].path, strerror(errno));
			goto done;
		}
	if (abi >= 4) {
		for (i = 0; conf->ports && conf->ports[i]; i++) {
			struct sb_net_port_attr np = { SB_LL_NET_CONNECT_TCP, conf->ports[i] };
			if (syscall(SYS_landlock_add_rule, rfd, SB_LL_RULE_NET_PORT, &np, 0) < 0) {
				log_error("sandbox: landlock port %u: %s", conf->ports[i], strerror(errno));
				goto done;
			}
		}
		rep->landlock_net = 1;
	}
	rep->landlock_scoped = abi >= 6;
	if (syscall(SYS_landlock_restrict_self, rfd, 0) < 0) {
		log_error("sandbox: landlock_restrict_self: %s", strerror(errno));
		goto done;
	}
	rc = 0;
done:
	close(rfd);
	return rc;
}

/* ---- seccomp ------------------------------------------------------------------------ */

/* Allowed without conditions, each for a reason. */
static const struct {
	const char *name;
	const char *why;
} sc_allow[] = {
	{ "read", "I/O on the channel, sockets, files" }, { "write", "" },
	{ "readv", "" }, { "writev", "" }, { "pread64", "LMDB" }, { "pwrite64", "LMDB" },
	{ "preadv", "" }, { "pwritev", "" }, { "close", "" }, { "close_range", "" },
	{ "lseek", "" }, { "fstat", "" }, { "newfstatat", "" }, { "statx", "" },
	{ "stat", "" }, { "lstat", "" }, { "fstatfs", "" }, { "statfs", "" },
	{ "openat", "files, limited by Landlock" }, { "open", "" },
	{ "getdents64", "directory listing inside the state dir" },
	{ "readlink", "" }, { "readlinkat", "" }, { "access", "" }, { "faccessat", "" },
	{ "faccessat2", "" }, { "mkdir", "" }, { "mkdirat", "" }, { "unlink", "" },
	{ "unlinkat", "" }, { "rename", "" }, { "renameat", "" }, { "renameat2", "" },
	{ "rmdir", "" }, { "ftruncate", "LMDB grows its file" }, { "fallocate", "" },
	{ "fsync", "LMDB commits" }, { "fdatasync", "LMDB commits" }, { "msync", "LMDB" },
	{ "flock", "" }, { "fchmod", "" }, { "utimensat", "" }, { "umask", "" },
	{ "getcwd", "" }, { "sendfile", "" }, { "copy_file_range", "" },
	{ "link", "attachments: a hard link keeps a module's file until its upload is over" },
	{ "linkat", "" },
	{ "symlink", "--no-upload-method hardlink/symlink (Landlock: the two writable dirs)" },
	{ "symlinkat", "" },
	{ "mmap", "malloc, LMDB, dlopen by NSS" }, { "munmap", "" }, { "mremap", "" },
	{ "mprotect", "dynamic loader, thread stacks" }, { "madvise", "malloc" },
	{ "brk", "malloc" }, { "mincore", "" }, { "membarrier", "" },
	{ "rt_sigaction", "" }, { "rt_sigprocmask", "" }, { "rt_sigreturn", "" },
	{ "sigaltstack", "" }, { "rt_sigtimedwait", "" }, { "restart_syscall", "" },
	{ "fcntl", "non-blocking sockets" }, { "dup", "" }, { "dup2", "" }, { "dup3", "" },
	{ "pipe", "" }, { "pipe2", "" },
	{ "epoll_create", "libev" }, { "epoll_create1", "libev" }, { "epoll_ctl", "libev" },
	{ "epoll_wait", "libev" }, { "epoll_pwait", "libev" }, { "epoll_pwait2", "libev" },
	{ "poll", "" }, { "ppoll", "" }, { "select", "" }, { "pselect6", "" },
	{ "eventfd", "libev async" }, { "eventfd2", "libev async" },
	{ "signalfd", "libev" }, { "signalfd4", "libev" },
	{ "timerfd_create", "libev" }, { "timerfd_settime", "" }, { "timerfd_gettime", "" },
	{ "clock_gettime", "" }, { "clock_getres", "" }, { "clock_nanosleep", "" },
	{ "nanosleep", "" }, { "gettimeofday", "" }, { "time", "" },
	{ "getitimer", "" }, { "setitimer", "" }, { "alarm", "" },
	{ "getpid", "" }, { "gettid", "" }, { "getppid", "" }, { "getuid", "" },
	{ "geteuid", "" }, { "getgid", "" }, { "getegid", "" }, { "getresuid", "" },
	{ "getresgid", "" }, { "getgroups", "" }, { "getpgrp", "" }, { "getsid", "" },
	{ "getrandom", "GnuTLS, ids" }, { "futex", "threads, LMDB robust mutexes" },
	{ "futex_waitv", "" }, { "set_robust_list", "threads" }, { "get_robust_list", "" },
	{ "rseq", "glibc" }, { "set_tid_address", "threads" }, { "arch_prctl", "threads" },
	{ "sched_yield", "" }, { "sched_getaffinity", "" }, { "sched_getparam", "" },
	{ "sched_getscheduler", "" }, { "getpriority", "" },
	{ "exit", "thread exit" }, { "exit_group", "" },
	{ "tgkill", "abort() signals itself; Landlock scopes signals" }, { "tkill", "" },
	{ "kill", "only reaches this process's scope (Landlock)" },
	{ "uname", "" }, { "sysinfo", "" }, { "getrusage", "" }, { "times", "" },
	{ "prlimit64", "getrlimit; raising hard limits needs privileges we do not have" },
	{ "getrlimit", "" },
	{ "connect", "the legacy network and HTTP (libcurl), ports limited by Landlock" },
	{ "sendto", "" }, { "recvfrom", "" }, { "sendmsg", "" }, { "recvmsg", "" },
	{ "sendmmsg", "glibc resolver" }, { "recvmmsg", "" }, { "shutdown", "" },
	{ "getsockopt", "" }, { "setsockopt", "" }, { "getsockname", "" },
	{ "getpeername", "" }, { "socketpair", "" }, { "bind", "UDP source ports; TCP bind is denied by Landlock" },
};

/* Killed on sight: what a compromised worker would use to escape or spy. */
static const char *const sc_kill[] = {
	"execve", "execveat", "ptrace", "process_vm_readv", "process_vm_writev",
	"mount", "umount2", "pivot_root", "chroot", "init_module", "finit_module",
	"delete_module", "kexec_load", "kexec_file_load", "bpf", "perf_event_open",
	"unshare", "setns", "keyctl", "add_key", "request_key", "userfaultfd",
	"open_by_handle_at", "name_to_handle_at", "fork", "vfork", "setuid", "setgid",
	"setreuid", "setregid", "setresuid", "setresgid", "setgroups", "swapon", "swapoff",
	"reboot", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "acct",
	"quotactl", "mknod", "mknodat", "io_uring_setup", "io_uring_enter",
	"io_uring_register", "pidfd_getfd", "kcmp", "lookup_dcookie", "fanotify_init",
};

static int
sc_rule(scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned int n,
    const struct scmp_arg_cmp *cmp)
{
	int nr = seccomp_syscall_resolve_name(name);

	if (nr == __NR_SCMP_ERROR)
		return 0; /* not on this architecture */
	if (seccomp_rule_add_array(ctx, action, nr, n, cmp) < 0) {
		log_error("sandbox: seccomp rule for %s failed", name);
		return -1;
	}
	return 0;
}

static int
sandbox_seccomp(void)
{
	scmp_filter_ctx ctx;
	size_t i;
	int rc = -1;

	ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	if (!ctx) {
		log_error("sandbox: seccomp_init failed");
		return -1;
	}
	for (i = 0; i < sizeof sc_allow / sizeof sc_allow[0]; i++)
		if (sc_rule(ctx, SCMP_ACT_ALLOW, sc_allow[i].name, 0, NULL) < 0)
			goto done;
	for (i = 0; i < sizeof sc_kill / sizeof sc_kill[0]; i++)
		if (sc_rule(ctx, SCMP_ACT_KILL_PROCESS, sc_kill[i], 0, NULL) < 0)
			goto done;
	{
		/* Threads only (libcurl's resolver): clone must carry CLONE_THREAD; a fork-like
		 * clone kills. clone3's flags are in memory seccomp cannot read: ENOSYS makes
		 * glibc fall back to clone (reference/facts.md). */
		struct scmp_arg_cmp thread = SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD);
		struct scmp_arg_cmp nothread = SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0);
		if (sc_rule(ctx, SCMP_ACT_ALLOW, "clone", 1, &thread) < 0 ||
		    sc_rule(ctx, SCMP_ACT_KILL_PROCESS, "clone", 1, &nothread) < 0 ||
		    sc_rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL) < 0)
			goto done;
	}
	{
		/* Sockets: Unix, IPv4, IPv6 only (no netlink, packet or raw sockets). */
		static const int families[] = { AF_UNIX, AF_INET, AF_INET6 };
		for (i = 0; i < sizeof families / sizeof families[0]; i++) {
			struct scmp_arg_cmp fam = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)families[i]);
			if (sc_rule(ctx, SCMP_ACT_ALLOW, "socket", 1, &fam) < 0)
				goto done;
		}
	}
	{
		/* prctl: names for threads, nothing that changes privileges or dumpability. */
		static const int ops[] = { PR_SET_NAME, PR_GET_NAME, PR_GET_DUMPABLE,
			PR_GET_NO_NEW_PRIVS, PR_CAPBSET_READ };
		for (i = 0; i < sizeof ops / sizeof ops[0]; i++) {
			struct scmp_arg_cmp op = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)ops[i]);
			if (sc_rule(ctx, SCMP_ACT_ALLOW, "prctl", 1, &op) < 0)
				goto done;
		}
	}
	{
		/* ioctl: non-blocking and byte counts on sockets, terminal checks by stdio. */
		static const unsigned long reqs[] = { FIONBIO, FIONREAD, FIOCLEX, TCGETS };
		for (i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
			struct scmp_arg_cmp req = SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)reqs[i]);
			if (sc_rule(ctx, SCMP_ACT_ALLOW, "ioctl", 1, &req) < 0)
				goto done;
		}
	}
	if (seccomp_load(ctx) < 0) {
		log_error("sandbox: seccomp_load failed");
		goto done;
	}
	rc = 0;
done:
	seccomp_release(ctx);
	return rc;
}

/* ---- entry -------------------------------------------------------------------------- */

int
sandbox_enter(const struct sandbox_conf *conf, struct sandbox_report *rep)
{
	struct sandbox_report dummy;
	size_t i;

	if (!rep)
		rep = &dummy;
	memset(rep, 0, sizeof *rep);
	for (i = 0; i < sizeof rlimits / sizeof rlimits[0]; i++) {
		struct rlimit rl;
		if (getrlimit(rlimits[i].resource, &rl) < 0)
			continue;
		/* Never raise: a hard limit already lower stays (we could not raise it anyway). */
		if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < rlimits[i].value)
			continue;
		rl.rlim_cur = rl.rlim_max = rlimits[i].value;
		if (setrlimit(rlimits[i].resource, &rl) < 0) {
			log_error("sandbox: setrlimit(%d): %s", rlimits[i].resource, strerror(errno));
			return -1;
		}
	}
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
		log_error("sandbox: PR_SET_DUMPABLE: %s", strerror(errno));
		return -1;
	}
	if (conf->drop_privileges) {
		if (setgroups(0, NULL) < 0 || setresgid(conf->gid, conf->gid, conf->gid) < 0 ||
		    setresuid(conf->uid, conf->uid, conf->uid) < 0) {
			log_error("sandbox: cannot drop to uid %u: %s", (unsigned)conf->uid, strerror(errno));
			return -1;
		}
		/* Setting the uid resets dumpability: set it again. */
		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		log_error("sandbox: PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
		return -1;
	}
	if (sandbox_landlock(conf, rep) < 0)
		return -1;
	if (sandbox_seccomp() < 0)
		return -1;
	rep->seccomp = 1;
	return 0;
}
