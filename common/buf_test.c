/* buf_test.c: growth, consumption from the front, stealing, overflow, XML escaping. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

static int failures, cases;

#define CHECK(cond, ...) do {                                   \
	cases++;                                                \
	if (!(cond)) {                                          \
		failures++;                                     \
		printf("FAIL line %d: ", __LINE__);             \
		printf(__VA_ARGS__);                            \
		printf("\n");                                   \
	}                                                       \
} while (0)

/* The invariants every operation keeps. */
static int
sane(const struct buf *b)
{
	if (!b->data)
		return b->len == 0 && b->cap == 0 && b->off == 0;
	return b->off <= b->len && b->len < b->cap && b->data[b->len] == '\0';
}

static void
test_append(void)
{
	struct buf b = BUF_INIT;
	size_t i;

	CHECK(buf_avail(&b) == 0 && strcmp(buf_head(&b), "") == 0, "empty head");
	CHECK(buf_append(&b, "", 0) == 0 && sane(&b) && b.data, "empty append allocates");
	CHECK(buf_puts(&b, "hello") == 0 && sane(&b), "puts");
	CHECK(buf_append(&b, " world", 6) == 0 && sane(&b), "append");
	CHECK(strcmp(buf_head(&b), "hello world") == 0, "content %s", buf_head(&b));
	CHECK(buf_puts(&b, NULL) == 0 && buf_avail(&b) == 11, "puts NULL appends nothing");
	for (i = 0; i < 10000; i++)
		buf_printf(&b, "%zu,", i);
	CHECK(sane(&b) && strstr(buf_head(&b), ",9999,") && b.len == strlen(b.data),
	    "many printfs");
	buf_reset(&b);
	CHECK(sane(&b) && buf_avail(&b) == 0 && b.data && b.data[0] == '\0', "reset");
	/* One printf larger than the whole allocation. */
	CHECK(buf_printf(&b, "%5000d|%s", 7, "x") == 0 && sane(&b) && b.len == 5002 &&
	    strcmp(b.data + 4999, "7|x") == 0, "large printf");
	CHECK(buf_printf(&b, "%s", "") == 0 && b.len == 5002, "empty printf");
	buf_free(&b, 0);
	CHECK(sane(&b) && !b.data, "free");
	buf_free(&b, 1);
	CHECK(sane(&b), "double free is harmless");
}

static void
test_consume(void)
{
	struct buf b = BUF_INIT;
	char expect[100000];
	size_t i, pos = 0, n = 0, live = 0;

	/* Interleave appends and consumes; the head always reads what the model says. */
	for (i = 0; i < sizeof expect; i++)
		expect[i] = (char)('a' + i % 26);
	for (i = 0; i < 5000 && n < sizeof expect - 50; i++) {
		size_t add = (i * 7) % 50, eat = (i * 11) % 60;

		buf_append(&b, expect + n, add);
		n += add;
		/* Never empty: an empty buffer resets, which is not what is tested here. */
		if (eat >= n - pos)
			eat = n - pos > 0 ? n - pos - 1 : 0;
		buf_consume(&b, eat);
		pos += eat;
		if (n - pos > live)
			live = n - pos;
		if (!sane(&b) || buf_avail(&b) != n - pos ||
		    memcmp(buf_head(&b), expect + pos, n - pos) != 0) {
			CHECK(0, "consume step %zu", i);
			break;
		}
	}
	/* 100 kB went through; the allocation follows the live bytes, not the total. */
	CHECK(n > 80000 && b.cap <= 4 * (live + 4096), "compaction: cap %zu for %zu live, %zu total",
	    b.cap, live, n);
	buf_consume(&b, SIZE_MAX);
	CHECK(sane(&b) && buf_avail(&b) == 0 && b.off == 0, "consume everything resets");

	/* Lazy: a small consume only moves the offset; once the dead front is large and
	 * at least as large as the rest, the rest moves to the front. */
	buf_append(&b, expect, 10000);
	buf_consume(&b, 100);
	CHECK(b.off == 100 && sane(&b), "small consume is lazy (off %zu)", b.off);
	buf_consume(&b, 3900);
	CHECK(b.off == 4000 && sane(&b), "no compaction while the rest is larger");
	buf_consume(&b, 1000);
	CHECK(b.off == 0 && b.len == 5000 && sane(&b) && memcmp(b.data, expect + 5000, 5000) == 0,
	    "compaction (off %zu)", b.off);
	buf_reset(&b);
	buf_puts(&b, "abcdef");
	buf_consume(&b, 2);
	CHECK(strcmp(buf_head(&b), "cdef") == 0, "head after consume");
	buf_consume(&b, 0);
	CHECK(strcmp(buf_head(&b), "cdef") == 0, "consume 0");
	buf_free(&b, 1);
}

static void
test_steal(void)
{
	struct buf b = BUF_INIT;
	char *s;

	s = buf_steal(&b);
	CHECK(s && strcmp(s, "") == 0 && sane(&b), "steal empty");
	free(s);
	buf_puts(&b, "xxhello");
	buf_consume(&b, 2);
	s = buf_steal(&b);
	CHECK(s && strcmp(s, "hello") == 0, "steal after consume: %s", s);
	CHECK(sane(&b) && !b.data && buf_avail(&b) == 0, "stolen buffer is empty");
	free(s);
	CHECK(buf_puts(&b, "again") == 0 && strcmp(buf_head(&b), "again") == 0, "reuse");
	buf_free(&b, 0);
}

static void
test_overflow(void)
{
	struct buf b = BUF_INIT;

	buf_puts(&b, "keep");
	CHECK(buf_reserve(&b, SIZE_MAX) == -1, "reserve SIZE_MAX");
	CHECK(buf_reserve(&b, SIZE_MAX - 4) == -1, "reserve SIZE_MAX - len");
	CHECK(buf_reserve(&b, SIZE_MAX / 2) == -1, "reserve SIZE_MAX / 2");
	CHECK(buf_reserve(&b, BUF_MAX - 4) == -1, "reserve past BUF_MAX");
	CHECK(buf_append(&b, "x", BUF_MAX) == -1, "append past BUF_MAX");
	CHECK(sane(&b) && strcmp(buf_head(&b), "keep") == 0, "unchanged after failures");
	CHECK(buf_reserve(&b, 1000) == 0 && b.cap >= b.len + 1001, "reserve");
	buf_free(&b, 0);
}

static const struct {
	const char *in, *out;
} xml_cases[] = {
	{ "", "" },
	{ "plain text", "plain text" },
	{ "a&b<c>d\"e'f", "a&amp;b&lt;c&gt;d&quot;e&apos;f" },
	{ "&&", "&amp;&amp;" },
	{ "tab\tnl\ncr\r", "tab\tnl\ncr&#13;" },
	{ "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80" },
	/* Not XML, would kill the stream: U+FFFD instead. */
	{ "a\x01" "b", "a\xef\xbf\xbd" "b" },
	{ "\x1f\x7f", "\xef\xbf\xbd\x7f" },
	{ "bad\xff", "bad\xef\xbf\xbd" },
	{ "cut\xc3", "cut\xef\xbf\xbd" },
	{ "\xc3(", "\xef\xbf\xbd(" },
	{ "overlong\xc0\xaf", "overlong\xef\xbf\xbd\xef\xbf\xbd" },
	{ "overlong3\xe0\x80\xaf", "overlong3\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
	{ "surrogate\xed\xa0\x80", "surrogate\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
	{ "fffe\xef\xbf\xbe", "fffe\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
	{ "big\xf4\x90\x80\x80", "big\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
	{ "max\xf4\x8f\xbf\xbf", "max\xf4\x8f\xbf\xbf" },
};

static void
test_xml_escape(void)
{
	struct buf b = BUF_INIT;
	size_t i;

	for (i = 0; i < sizeof xml_cases / sizeof xml_cases[0]; i++) {
		buf_reset(&b);
		buf_puts(&b, "[");
		CHECK(buf_put_xml_escaped(&b, xml_cases[i].in) == 0 && buf_puts(&b, "]") == 0 &&
		    sane(&b), "escape %zu", i);
		CHECK(b.len == strlen(xml_cases[i].out) + 2 &&
		    memcmp(b.data + 1, xml_cases[i].out, b.len - 2) == 0,
		    "escape \"%s\": got \"%s\"", xml_cases[i].in, b.data);
	}
	buf_reset(&b);
	CHECK(buf_put_xml_escaped(&b, NULL) == 0 && buf_avail(&b) == 0, "escape NULL");
	buf_free(&b, 0);
}

int
main(void)
{
	test_append();
	test_consume();
	test_steal();
	test_overflow();
	test_xml_escape();
	printf("buf: %d/%d cases passed\n", cases - failures, cases);
	return failures ? 1 : 0;
}
