/* commands.h: the columns of a COMMANDS row (commands.def), shared by slidged and
 * slidge-worker. */
#ifndef SLIDGE_PROTO_COMMANDS_H
#define SLIDGE_PROTO_COMMANDS_H

enum {
	PROTO_CMD_NODE,
	PROTO_CMD_NAME,
	PROTO_CMD_KEYWORD,
	PROTO_CMD_ACCESS,      /* enum slidge_command_access, decimal */
	PROTO_CMD_CATEGORY,    /* "", "contacts", "groups", "admin" */
	PROTO_CMD_HELP,
	PROTO_CMD__NCOLS
};

/* The node of the core's command categories (slidge's CommandCategory). */
#define PROTO_CMD_NODE_PREFIX "https://slidge.im/command/core/"

#endif
