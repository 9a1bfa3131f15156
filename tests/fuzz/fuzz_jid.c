/* fuzz_jid.c: jid_parse, jid_escape and jid_unescape on arbitrary bytes, with the
 * invariants the rest of slidge-c relies on; abort() on a violated one. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX 4096

/* Escaping never lets one of the characters a local part cannot hold through, and
 * never puts \20 at either end. */
static void
fuzz_check_escaped(const char *esc)
{
	size_t n = strlen(esc);

	if (strpbrk(esc, " \"&'/:<>@"))
		abort();
	if (n >= 3 && (memcmp(esc, "\\20", 3) == 0 || memcmp(esc + n - 3, "\\20", 3) == 0))
		abort();
}

static void
fuzz_parse(const char *s)
{
	static char full[3 * (JID_PART_MAX + 1)], bare[3 * (JID_PART_MAX + 1)];
	static char full2[3 * (JID_PART_MAX + 1)], bare2[3 * (JID_PART_MAX + 1)];
	struct jid j, k;

	if (jid_parse(s, &j) < 0) {
		if (jid_to_bare(s, bare, sizeof bare) == 0 || jid_bare_equal(s, s))
			abort();
		return;
	}
	if (!j.domain[0] || strlen(j.local) > JID_PART_MAX ||
	    strlen(j.domain) > JID_PART_MAX || strlen(j.resource) > JID_PART_MAX)
		abort();
	if (strpbrk(j.domain, "@/") || strpbrk(j.local, "@/"))
		abort();
	if (jid_full(&j, full, sizeof full) < 0 || jid_bare(&j, bare, sizeof bare) < 0)
		abort();
	/* The normal form is a fixed point and keeps the same bare JID. */
	if (jid_parse(full, &k) < 0)
		abort();
	if (jid_full(&k, full2, sizeof full2) < 0 || strcmp(full, full2) != 0)
		abort();
	if (jid_to_bare(s, bare2, sizeof bare2) < 0 || strcmp(bare, bare2) != 0)
		abort();
	if (!jid_bare_equal(s, full) || !jid_bare_equal(bare, s))
		abort();
	/* Too small a buffer is refused, never overrun. */
	if (jid_full(&j, full2, strlen(full)) == 0 || jid_bare(&j, bare2, strlen(bare)) == 0)
		abort();
}

static void
fuzz_escape(const char *s, size_t small)
{
	static char esc[3 * FUZZ_MAX + 1], back[3 * FUZZ_MAX + 1];
	char tiny[64];

	if (jid_escape(s, esc, sizeof esc) == 0) {
		fuzz_check_escaped(esc);
		if (jid_unescape(esc, back, sizeof back) < 0 || strcmp(back, s) != 0)
			abort();
	} else if (*s && s[0] != ' ' && s[strlen(s) - 1] != ' ') {
		/* Only the XEP's refusals, the buffer is large enough. */
		abort();
	}
	/* Unescaping never grows a string. */
	if (jid_unescape(s, back, sizeof back) < 0 || strlen(back) > strlen(s))
		abort();
	/* Small buffers: either a NUL-terminated result that fits, or -1. */
	if (jid_escape(s, tiny, small) == 0 && strlen(tiny) >= small)
		abort();
	if (jid_unescape(s, tiny, small) == 0 && strlen(tiny) >= small)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char s[FUZZ_MAX + 1];
	size_t small;

	if (size > FUZZ_MAX)
		size = FUZZ_MAX;
	memcpy(s, data, size);
	s[size] = '\0';
	small = size ? (size_t)data[0] % 63 + 1 : 1;
	fuzz_parse(s);
	fuzz_escape(s, small);
	return 0;
}
