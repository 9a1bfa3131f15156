/* jid_test.c: JID parsing and normalisation, bare JIDs, XEP-0106 escaping. */
#include <stdio.h>
#include <string.h>

#include "jid.h"

static int failures, cases;

static void
fail(const char *what, const char *in, const char *got, const char *want)
{
	failures++;
	printf("FAIL %s \"%s\": got \"%s\", want \"%s\"\n", what, in, got, want);
}

/* Valid JIDs and their normal form. */
static const struct {
	const char *in, *full, *bare;
} valid[] = {
	{ "romeo@montague.lit", "romeo@montague.lit", "romeo@montague.lit" },
	{ "RoMeo@MonTague.LIT/Res", "romeo@montague.lit/Res", "romeo@montague.lit" },
	{ "montague.lit", "montague.lit", "montague.lit" },
	{ "montague.lit/balcony", "montague.lit/balcony", "montague.lit" },
	{ "juliet@example.com/foo/bar", "juliet@example.com/foo/bar", "juliet@example.com" },
	{ "juliet@example.com/foo@bar", "juliet@example.com/foo@bar", "juliet@example.com" },
	{ "example.com/foo@bar", "example.com/foo@bar", "example.com" },
	{ "a@example.com/r/@/", "a@example.com/r/@/", "a@example.com" },
	{ "a@example.com/My Resource", "a@example.com/My Resource", "a@example.com" },
	{ "example.com.", "example.com", "example.com" },
	{ "a@Example.Com./r", "a@example.com/r", "a@example.com" },
	{ "a@127.0.0.1", "a@127.0.0.1", "a@127.0.0.1" },
	{ "[::1]", "[::1]", "[::1]" },
	{ "user@[2001:DB8::1]/r", "user@[2001:db8::1]/r", "user@[2001:db8::1]" },
	{ "gw_1.local-host", "gw_1.local-host", "gw_1.local-host" },
	{ "x@y", "x@y", "x@y" },
	{ "d\\27artagnan@musketeers.lit", "d\\27artagnan@musketeers.lit",
	  "d\\27artagnan@musketeers.lit" },
	/* nodeprep case-folds non-ASCII too; resourceprep keeps the case. */
	{ "\xc4\xb4uliet@example.com/\xc3\x89t\xc3\xa9", "\xc4\xb5uliet@example.com/\xc3\x89t\xc3\xa9",
	  "\xc4\xb5uliet@example.com" },
	/* nameprep folds the domain. */
	{ "\xc3\x89XAMPLE.COM", "\xc3\xa9xample.com", "\xc3\xa9xample.com" },
	/* Mapped to nothing by the profiles: U+00AD SOFT HYPHEN. */
	{ "a\xc2\xad\x62@x/c\xc2\xad\x64", "ab@x/cd", "ab@x" },
	/* NFKC: U+FB01 LATIN SMALL LIGATURE FI. */
	{ "\xef\xac\x81@x", "fi@x", "fi@x" },
};

static const char *const invalid[] = {
	"", "@", "/", "@/", "@example.com", "romeo@", "example.com/", "romeo@example.com/",
	"romeo@/res", "a@b@c", "a b@c", "a@b c", "a@.com", "a@b..c", "a@.", ".", "..",
	"example.com..", "a@[::1", "a@[]", "a@[nothex]", "a@[1.2.3.4]", "a@exa\x01mple",
	"a\"b@c", "a:b@c", "a<b@c", "a>b@c", "a'b@c", "a&b@c",
	"a@b:5222", "a@b/c\x01", "a\xff@b", "a@b/\xc3", "a@\xff", "a@b\\c",
	/* Bidi: an RTL character next to an LTR one in the same part. */
	"\xd8\xa7\x61@b",
	/* Maps to nothing: the local part ends up empty. */
	"\xc2\xad@b",
};

static void
test_valid(void)
{
	struct jid j;
	char out[3 * (JID_PART_MAX + 1)];
	size_t i;

	for (i = 0; i < sizeof valid / sizeof valid[0]; i++) {
		cases++;
		if (jid_parse(valid[i].in, &j) < 0) {
			fail("parse", valid[i].in, "invalid", valid[i].full);
			continue;
		}
		if (jid_full(&j, out, sizeof out) < 0 || strcmp(out, valid[i].full) != 0)
			fail("full", valid[i].in, out, valid[i].full);
		if (jid_bare(&j, out, sizeof out) < 0 || strcmp(out, valid[i].bare) != 0)
			fail("bare", valid[i].in, out, valid[i].bare);
		if (jid_to_bare(valid[i].in, out, sizeof out) < 0 ||
		    strcmp(out, valid[i].bare) != 0)
			fail("to_bare", valid[i].in, out, valid[i].bare);
		/* The normal form is a fixed point. */
		if (jid_parse(valid[i].full, &j) < 0 || jid_full(&j, out, sizeof out) < 0 ||
		    strcmp(out, valid[i].full) != 0)
			fail("idempotent", valid[i].full, out, valid[i].full);
	}
}

static void
test_invalid(void)
{
	struct jid j;
	char out[64];
	size_t i;

	/* The resource starts at the first '/', even before an '@'. */
	cases++;
	if (jid_parse("a/b@c", &j) < 0 || strcmp(j.domain, "a") || strcmp(j.resource, "b@c"))
		fail("parse", "a/b@c", "invalid", "a/b@c");
	for (i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
		cases++;
		if (jid_parse(invalid[i], &j) == 0) {
			jid_full(&j, out, sizeof out);
			fail("parse (should refuse)", invalid[i], out, "invalid");
		}
		cases++;
		if (jid_to_bare(invalid[i], out, sizeof out) == 0)
			fail("to_bare (should refuse)", invalid[i], out, "-1");
	}
	cases++;
	if (jid_parse(NULL, &j) == 0)
		fail("parse", "(null)", "valid", "invalid");
}

/* Each part holds 1..1023 bytes after preparation. */
static void
test_lengths(void)
{
	char s[3 * 1024 + 16], out[3 * 1024 + 16];
	struct jid j;

	memset(s, 'a', 1023);
	strcpy(s + 1023, "@b/");
	memset(s + 1026, 'r', 1023);
	s[1026 + 1023] = '\0';
	cases++;
	if (jid_parse(s, &j) < 0 || strlen(j.local) != 1023 || strlen(j.resource) != 1023)
		fail("parse", "1023-byte parts", "invalid", "valid");
	cases++;
	if (jid_full(&j, out, 1023 + 3 + 1023) == 0)
		fail("full", "into a buffer one byte short", "0", "-1");
	cases++;
	if (jid_full(&j, out, 1023 + 3 + 1023 + 1) < 0 || strcmp(out, s) != 0)
		fail("full", "into a buffer just large enough", "-1", "0");
	cases++;
	if (jid_bare(&j, out, 1023 + 2) == 0)
		fail("bare", "into a buffer one byte short", "0", "-1");

	memset(s, 'a', 1024);
	strcpy(s + 1024, "@b");
	cases++;
	if (jid_parse(s, &j) == 0)
		fail("parse", "1024-byte local part", "valid", "invalid");
	memset(s, 'd', 1024);
	s[1024] = '\0';
	cases++;
	if (jid_parse(s, &j) == 0)
		fail("parse", "1024-byte domain", "valid", "invalid");
	/* Expands past the limit under NFKC: U+FDFA is 3 bytes, 33 after. */
	s[0] = 'a';
	s[1] = '@';
	s[2] = 'b';
	s[3] = '/';
	for (size_t k = 0; k < 40; k++)
		memcpy(s + 4 + 3 * k, "\xef\xb7\xba", 3);
	s[4 + 120] = '\0';
	cases++;
	if (jid_parse(s, &j) == 0)
		fail("parse", "resource expanding past 1023 bytes", "valid", "invalid");
}

static const struct {
	const char *a, *b;
	int equal;
} bare_eq[] = {
	{ "RoMeo@montague.lit/a", "romeo@MONTAGUE.lit/b", 1 },
	{ "romeo@montague.lit", "romeo@montague.lit.", 1 },
	{ "romeo@x", "juliet@x", 0 },
	{ "x", "x/r", 1 },
	{ "x", "a@x", 0 },
	{ "a@x", "a@y", 0 },
	{ "a@x", "@x", 0 },
	{ "", "", 0 },
};

static void
test_bare_equal(void)
{
	size_t i;

	for (i = 0; i < sizeof bare_eq / sizeof bare_eq[0]; i++) {
		cases++;
		if (jid_bare_equal(bare_eq[i].a, bare_eq[i].b) != bare_eq[i].equal ||
		    jid_bare_equal(bare_eq[i].b, bare_eq[i].a) != bare_eq[i].equal) {
			failures++;
			printf("FAIL bare_equal \"%s\" \"%s\": want %d\n", bare_eq[i].a,
			    bare_eq[i].b, bare_eq[i].equal);
		}
	}
}

/* XEP-0106 §5.1, the "JID Examples" table: user input, the escaped local part in the
 * table, and ours where it differs. Rows 9-11 of the table escape a backslash that
 * starts no escape sequence, which §4.3 ("foo\bar is not modified by escaping") and the
 * §4.1 rule forbid; we follow the rules, and both forms unescape to the input. */
static const struct {
	const char *in, *table, *ours;
} xep_table[] = {
	{ "space cadet", "space\\20cadet", NULL },
	{ "call me \"ishmael\"", "call\\20me\\20\\22ishmael\\22", NULL },
	{ "at&t guy", "at\\26t\\20guy", NULL },
	{ "d'artagnan", "d\\27artagnan", NULL },
	{ "/.fanboy", "\\2f.fanboy", NULL },
	{ "::foo::", "\\3a\\3afoo\\3a\\3a", NULL },
	{ "<foo>", "\\3cfoo\\3e", NULL },
	{ "user@host", "user\\40host", NULL },
	{ "c:\\net", "c\\3a\\5cnet", "c\\3a\\net" },
	{ "c:\\\\net", "c\\3a\\5c\\5cnet", "c\\3a\\\\net" },
	{ "c:\\cool stuff", "c\\3a\\5ccool\\20stuff", "c\\3a\\cool\\20stuff" },
	{ "c:\\5commas", "c\\3a\\5c5commas", NULL },
	/* §4.2 and §5.5 */
	{ "\\3and\\2is\\5cool", "\\5c3and\\2is\\5c5cool", NULL },
	{ "here's_a_wild_&_/cr%zy/_address", "here\\27s_a_wild_\\26_\\2fcr%zy\\2f_address", NULL },
	/* §4.3: partial and unknown sequences are left alone both ways. */
	{ "\\2plus\\2is\\4", "\\2plus\\2is\\4", NULL },
	{ "foo\\bar", "foo\\bar", NULL },
	{ "foob\\41r", "foob\\41r", NULL },
	/* Case is significant: \2F is no sequence. */
	{ "a\\2Fb", "a\\2Fb", NULL },
	{ "\\", "\\", NULL },
	{ "\\5", "\\5", NULL },
	{ "\\5c", "\\5c5c", NULL },
	{ "\\\\5c", "\\\\5c5c", NULL },
	{ "a\\20", "a\\5c20", NULL },
	{ "a \\20", "a\\20\\5c20", NULL },
	{ "\xc3\xa9t\xc3\xa9 @x", "\xc3\xa9t\xc3\xa9\\20\\40x", NULL },
};

static void
test_escape(void)
{
	char out[256], back[256];
	size_t i;

	for (i = 0; i < sizeof xep_table / sizeof xep_table[0]; i++) {
		const char *want = xep_table[i].ours ? xep_table[i].ours : xep_table[i].table;

		cases++;
		if (jid_escape(xep_table[i].in, out, sizeof out) < 0 || strcmp(out, want) != 0)
			fail("escape", xep_table[i].in, out, want);
		cases++;
		if (jid_unescape(out, back, sizeof back) < 0 ||
		    strcmp(back, xep_table[i].in) != 0)
			fail("unescape(escape)", xep_table[i].in, back, xep_table[i].in);
		cases++;
		if (jid_unescape(xep_table[i].table, back, sizeof back) < 0 ||
		    strcmp(back, xep_table[i].in) != 0)
			fail("unescape", xep_table[i].table, back, xep_table[i].in);
	}

	/* §4.1 rule 6: no \20 at either end, so no space there. */
	cases++;
	if (jid_escape(" lead", out, sizeof out) == 0)
		fail("escape", " lead", out, "-1");
	cases++;
	if (jid_escape("trail ", out, sizeof out) == 0)
		fail("escape", "trail ", out, "-1");
	cases++;
	if (jid_escape(" ", out, sizeof out) == 0)
		fail("escape", " ", out, "-1");
	cases++;
	if (jid_escape("", out, sizeof out) == 0)
		fail("escape", "", out, "-1");

	/* Output size: "a b" needs 5 bytes and the NUL. */
	cases++;
	if (jid_escape("a b", out, 6) < 0 || strcmp(out, "a\\20b") != 0)
		fail("escape", "a b into 6 bytes", out, "a\\20b");
	cases++;
	if (jid_escape("a b", out, 5) == 0)
		fail("escape", "a b into 5 bytes", out, "-1");
	cases++;
	if (jid_unescape("a\\20b", out, 4) < 0 || strcmp(out, "a b") != 0)
		fail("unescape", "a\\20b into 4 bytes", out, "a b");
	cases++;
	if (jid_unescape("a\\20b", out, 3) == 0)
		fail("unescape", "a\\20b into 3 bytes", out, "-1");
	cases++;
	if (jid_unescape("", out, 1) < 0 || out[0])
		fail("unescape", "", out, "");

	/* Escaped local parts are valid JIDs. */
	for (i = 0; i < sizeof xep_table / sizeof xep_table[0]; i++) {
		struct jid j;
		char jid[300];

		jid_escape(xep_table[i].in, out, sizeof out);
		snprintf(jid, sizeof jid, "%s@example.com", out);
		cases++;
		if (jid_parse(jid, &j) < 0)
			fail("parse escaped", jid, "invalid", "valid");
	}
}

int
main(void)
{
	test_valid();
	test_invalid();
	test_lengths();
	test_bare_equal();
	test_escape();
	printf("jid: %d/%d cases passed\n", cases - failures, cases);
	return failures ? 1 : 0;
}
