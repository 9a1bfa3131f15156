/* jid.h: JID parsing, validation, comparison (RFC 7622 with the stringprep profiles
 * XMPP servers still use: libidn's nodeprep/resourceprep) and XEP-0106 escaping. */
#ifndef SLIDGE_JID_H
#define SLIDGE_JID_H

#include <stddef.h>

#define JID_PART_MAX 1023

struct jid {
	char local[JID_PART_MAX + 1];    /* "" when absent */
	char domain[JID_PART_MAX + 1];
	char resource[JID_PART_MAX + 1]; /* "" when absent */
};

/* Parse and normalise s (nodeprep on the local part, lower-cased domain, resourceprep on
 * the resource). 0 on success; -1 if s is not a valid JID (out is then unspecified). */
int jid_parse(const char *s, struct jid *out);
/* Write "local@domain" (or "domain") into out; -1 if it does not fit. */
int jid_bare(const struct jid *j, char *out, size_t outsz);
/* Write the full JID into out; -1 if it does not fit. */
int jid_full(const struct jid *j, char *out, size_t outsz);
/* Normalise the string s to its bare JID form into out; -1 if invalid or too long. */
int jid_to_bare(const char *s, char *out, size_t outsz);
/* 1 if both strings are valid JIDs with the same bare JID, else 0. */
int jid_bare_equal(const char *a, const char *b);
/* XEP-0106: escape an arbitrary string (e.g. a legacy id) into a JID local part: the
 * nine characters a local part cannot hold, and a backslash that would otherwise start
 * an escape sequence (§4.1, §4.3). -1 if the result does not fit, or the input is empty
 * or starts or ends with a space (an escaped local part cannot start or end with \20). */
int jid_escape(const char *in, char *out, size_t outsz);
/* XEP-0106: reverse of jid_escape (the ten sequences, lower-case hex, left to right;
 * anything else is copied as is); -1 if it does not fit. */
int jid_unescape(const char *in, char *out, size_t outsz);

#endif
