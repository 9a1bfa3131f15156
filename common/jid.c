/* jid.c: JIDs (RFC 7622 structure, RFC 3920 stringprep profiles) and XEP-0106 escaping. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <stringprep.h>

#include "jid.h"

/* 1 if the n bytes of s are all characters that stringprep maps to themselves. */
static int
jid_plain(const char *s, size_t n, int upper_ok)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
		    c == '_' || (upper_ok && c >= 'A' && c <= 'Z'))
			continue;
		return 0;
	}
	return 1;
}

/* Copy the n bytes at s into out (JID_PART_MAX + 1 bytes) and run the stringprep profile
 * on it in place. -1 if the part is empty or longer than JID_PART_MAX before or after
 * preparation, or if the profile refuses it (prohibited code point, bad bidi, invalid
 * UTF-8). */
static int
jid_prep(const char *s, size_t n, const Stringprep_profile *profile, char *out)
{
	if (n == 0 || n > JID_PART_MAX)
		return -1;
	memcpy(out, s, n);
	out[n] = '\0';
	/* Every profile leaves lower-case ASCII letters, digits, '.', '-' and '_' unchanged
	 * (and resourceprep upper-case letters too): most JIDs are only that, and stringprep
	 * was a fifth of the supervisor's time per relayed stanza. */
	if (jid_plain(out, n, profile == stringprep_xmpp_resourceprep))
		return 0;
	/* stringprep() works in place within the buffer's size; a result that would not
	 * fit in JID_PART_MAX bytes is STRINGPREP_TOO_SMALL_BUFFER, i.e. invalid. */
	if (stringprep(out, JID_PART_MAX + 1, 0, profile) != STRINGPREP_OK)
		return -1;
	if (out[0] == '\0')
		return -1;
	return 0;
}

/* 1 if c may appear in a domain label: letters, digits, '-' and '_' (used by many
 * deployments for component names), and any non-ASCII byte (left to nameprep). */
static int
jid_domain_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
	    c >= 0x80;
}

/* Normalise the domain part in place: nameprep (which also case-folds), drop one
 * trailing dot, then either an IPv6 literal in brackets or dot-separated non-empty
 * labels of domain characters. */
static int
jid_domain(const char *s, size_t n, char *out)
{
	struct in6_addr a6;
	size_t len, i, label;

	if (jid_prep(s, n, stringprep_nameprep, out) < 0)
		return -1;
	len = strlen(out);
	for (i = 0; i < len; i++)
		if (out[i] >= 'A' && out[i] <= 'Z')
			out[i] = (char)(out[i] - 'A' + 'a');
	if (out[len - 1] == '.')
		out[--len] = '\0';
	if (len == 0)
		return -1;
	if (out[0] == '[') {
		char addr[JID_PART_MAX + 1];

		if (out[len - 1] != ']' || len < 3)
			return -1;
		memcpy(addr, out + 1, len - 2);
		addr[len - 2] = '\0';
		return inet_pton(AF_INET6, addr, &a6) == 1 ? 0 : -1;
	}
	label = 0;
	for (i = 0; i < len; i++) {
		if (out[i] == '.') {
			if (label == 0)
				return -1;
			label = 0;
			continue;
		}
		if (!jid_domain_char((unsigned char)out[i]))
			return -1;
		label++;
	}
	return label == 0 ? -1 : 0;
}

int
jid_parse(const char *s, struct jid *out)
{
	const char *slash, *at, *dom;
	size_t n;

	if (!s || !out)
		return -1;
	n = strlen(s);
	/* RFC 7622 §3.1: the resource starts at the first '/', and may itself contain
	 * '/' and '@'; the local part ends at the '@' before it. */
	slash = memchr(s, '/', n);
	if (!slash)
		slash = s + n;
	at = NULL;
	for (dom = s; dom < slash; dom++)
		if (*dom == '@')
			at = dom;
	dom = at ? at + 1 : s;

	out->local[0] = '\0';
	out->resource[0] = '\0';
	if (at && jid_prep(s, (size_t)(at - s), stringprep_xmpp_nodeprep, out->local) < 0)
		return -1;
	if (jid_domain(dom, (size_t)(slash - dom), out->domain) < 0)
		return -1;
	if (*slash == '/' && jid_prep(slash + 1, (size_t)(s + n - slash - 1),
	    stringprep_xmpp_resourceprep, out->resource) < 0)
		return -1;
	return 0;
}

int
jid_bare(const struct jid *j, char *out, size_t outsz)
{
	int n;

	if (j->local[0])
		n = snprintf(out, outsz, "%s@%s", j->local, j->domain);
	else
		n = snprintf(out, outsz, "%s", j->domain);
	return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

int
jid_full(const struct jid *j, char *out, size_t outsz)
{
	size_t len;
	int n;

	if (jid_bare(j, out, outsz) < 0)
		return -1;
	if (!j->resource[0])
		return 0;
	len = strlen(out);
	n = snprintf(out + len, outsz - len, "/%s", j->resource);
	return n < 0 || (size_t)n >= outsz - len ? -1 : 0;
}

int
jid_to_bare(const char *s, char *out, size_t outsz)
{
	struct jid j;

	if (jid_parse(s, &j) < 0)
		return -1;
	return jid_bare(&j, out, outsz);
}

int
jid_bare_equal(const char *a, const char *b)
{
	struct jid ja, jb;

	if (jid_parse(a, &ja) < 0 || jid_parse(b, &jb) < 0)
		return 0;
	return strcmp(ja.local, jb.local) == 0 && strcmp(ja.domain, jb.domain) == 0;
}

/* XEP-0106 §3.2: the nine characters a local part cannot hold. The backslash is the
 * tenth row of the table, escaped only where it would otherwise start a sequence. */
static const struct {
	char c;
	char code[3];
} jid_esc[] = {
	{ ' ', "20" }, { '"', "22" }, { '&', "26" }, { '\'', "27" }, { '/', "2f" },
	{ ':', "3a" }, { '<', "3c" }, { '>', "3e" }, { '@', "40" }, { '\\', "5c" },
};

/* The character that the escape sequence starting at p ('\\' then two lower-case hex
 * digits: case is significant) stands for, or 0 if p does not start one. */
static char
jid_esc_decode(const char *p)
{
	size_t i;

	if (p[0] != '\\' || !p[1] || !p[2])
		return 0;
	for (i = 0; i < sizeof jid_esc / sizeof jid_esc[0]; i++)
		if (p[1] == jid_esc[i].code[0] && p[2] == jid_esc[i].code[1])
			return jid_esc[i].c;
	return 0;
}

/* The code for c if it must be escaped (other than the backslash), else NULL. */
static const char *
jid_esc_code(char c)
{
	size_t i;

	for (i = 0; i < sizeof jid_esc / sizeof jid_esc[0] - 1; i++)
		if (jid_esc[i].c == c)
			return jid_esc[i].code;
	return NULL;
}

int
jid_escape(const char *in, char *out, size_t outsz)
{
	size_t n, o = 0, i, len;
	const char *code;

	if (!in || !out || outsz == 0)
		return -1;
	n = strlen(in);
	/* §4.1 rule 6: an escaped local part cannot start or end with \20. */
	if (n == 0 || in[0] == ' ' || in[n - 1] == ' ')
		return -1;
	for (i = 0; i < n; i++) {
		char tmp[4];
		const char *rep;

		code = jid_esc_code(in[i]);
		/* §4.1 rule 7: a backslash that would read as the start of an escape sequence
		 * is itself escaped; any other backslash stays (§4.3: "foo\bar" is not
		 * modified). */
		if (!code && in[i] == '\\' && jid_esc_decode(in + i))
			code = "5c";
		if (code) {
			tmp[0] = '\\';
			tmp[1] = code[0];
			tmp[2] = code[1];
			tmp[3] = '\0';
			rep = tmp;
			len = 3;
		} else {
			rep = in + i;
			len = 1;
		}
		if (len >= outsz - o)
			return -1;
		memcpy(out + o, rep, len);
		o += len;
	}
	out[o] = '\0';
	return 0;
}

int
jid_unescape(const char *in, char *out, size_t outsz)
{
	size_t o = 0;
	char c;

	if (!in || !out || outsz == 0)
		return -1;
	/* Left to right, one sequence at a time, so "\5c27" gives "\27" and not "'";
	 * anything that is not one of the ten sequences is copied as is (§4.3). */
	while (*in) {
		c = jid_esc_decode(in);
		if (c)
			in += 3;
		else
			c = *in++;
		if (o + 1 >= outsz)
			return -1;
		out[o++] = c;
	}
	out[o] = '\0';
	return 0;
}
