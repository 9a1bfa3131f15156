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

/* slidge's PREFERENCES (BaseGateway.PREFERENCES) and its form: the last step of the
 * registration command (slidged) and the preferences command (the session) ask the same
 * fields, built from this one table. value: the default. */
#define PROTO_PREFS_TITLE "Preferences"
#define PROTO_PREFS_INSTRUCTIONS "Customize the gateway behaviour to your liking"
static const struct proto_pref {
	const char *var, *label, *value;
} proto_prefs[] = {
	{ "sync_presence", "Propagate your XMPP presence to the legacy network.", "true" },
	{ "sync_avatar", "Propagate your XMPP avatar to the legacy network.", "true" },
};
#define PROTO_NPREFS (sizeof proto_prefs / sizeof proto_prefs[0])

#endif
