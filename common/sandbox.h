/* sandbox.h: the worker's sandbox. The whole policy (rlimits, Landlock paths and ports,
 * the seccomp allow-list) is one table in sandbox.c. */
#ifndef SLIDGE_SANDBOX_H
#define SLIDGE_SANDBOX_H

#include <stdint.h>
#include <sys/types.h>

struct sandbox_conf {
	const char *state_dir;        /* the directory the worker may write */
	const char *rw_dir;           /* and this one too, or NULL: --no-upload-path, where
	                                 attachments are copied, moved or linked */
	const uint16_t *ports;        /* TCP ports it may connect to; 0-terminated, may be NULL */
	uid_t uid;                    /* drop to this uid/gid when started as root */
	gid_t gid;
	int drop_privileges;          /* 1: setresgid/setresuid to uid/gid */
};

/* Features the kernel gave us, for logs and tests. */
struct sandbox_report {
	int landlock_abi;             /* 0 if Landlock is unavailable */
	int landlock_net;             /* TCP connect restricted to the ports */
	int landlock_scoped;          /* signals and abstract sockets scoped */
	int seccomp;                  /* the filter is loaded */
};

/* Enter the sandbox: must be called single-threaded, after the module is loaded and
 * before any legacy-network traffic. Irreversible. -1 (with a logged reason) if a
 * mandatory part failed: the caller must then exit. Landlock is best-effort on kernels
 * without it (reported, not fatal); seccomp and no_new_privs are mandatory. */
int sandbox_enter(const struct sandbox_conf *conf, struct sandbox_report *report);

#endif
