/* control.h: slidged's control socket (slidgectl's peer). */
#ifndef SLIDGE_CONTROL_H
#define SLIDGE_CONTROL_H

/* CTL_REPLY status values; slidgectl exits with the same number. */
enum ctl_status {
	CTL_OK = 0,
	CTL_ERR = 1,              /* the command failed; text says why */
	CTL_UNKNOWN_JID = 3,
	CTL_UNKNOWN_COMMAND = 4,
	CTL_BAD_ARGS = 5,
	CTL_REFUSED = 6,          /* the peer's uid may not use the socket */
};

/* Listen on path (mode 0600, a stale socket is replaced). -1 with a logged reason. */
int control_start(const char *path);
/* Close the socket and unlink it. */
void control_stop(void);

#endif
