/* buf.c: a growable byte buffer, NUL-terminated, consumed from the front. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define BUF_MIN_CAP 64
/* buf_consume moves the remaining bytes to the front only once this much is dead, and
 * only if the dead part is at least as large as the live one: the move is then paid for
 * by the bytes consumed before it. */
#define BUF_COMPACT_AT 4096

/* Returned by buf_head() on a buffer that never held anything: callers may treat the
 * head as a string without checking for NULL. */
static char buf_empty[1];

/* Move the unconsumed bytes to the front of the allocation. */
static void
buf_compact(struct buf *b)
{
	if (b->off == 0)
		return;
	memmove(b->data, b->data + b->off, b->len - b->off);
	b->len -= b->off;
	b->off = 0;
	b->data[b->len] = '\0';
}

int
buf_reserve(struct buf *b, size_t n)
{
	size_t need, cap;
	char *p;

	/* One more byte for the NUL that always follows data[len]; the consumed front
	 * does not count, it goes away before any growth. */
	if (n > BUF_MAX - 1 - (b->len - b->off)) {
		errno = ENOMEM;
		return -1;
	}
	need = b->len + n + 1;
	if (need <= b->cap)
		return 0;
	/* Reuse the consumed front before growing. */
	if (b->off > 0 && need - b->off <= b->cap) {
		buf_compact(b);
		return 0;
	}
	need -= b->off;
	cap = b->cap ? b->cap : BUF_MIN_CAP;
	while (cap < need)
		cap *= 2;
	if (cap > BUF_MAX)
		cap = BUF_MAX;
	/* malloc + copy + wipe rather than realloc: realloc may leave a copy of the old
	 * contents in freed memory, and buf_free(b, 1) promises secrets do not linger. */
	p = malloc(cap);
	if (!p)
		return -1;
	if (b->data) {
		memcpy(p, b->data + b->off, b->len - b->off);
		explicit_bzero(b->data, b->cap);
		free(b->data);
	}
	b->len -= b->off;
	b->off = 0;
	b->data = p;
	b->cap = cap;
	b->data[b->len] = '\0';
	return 0;
}

int
buf_append(struct buf *b, const void *p, size_t n)
{
	if (n == 0) {
		/* Still guarantee a NUL-terminated, non-NULL data after a successful call. */
		return buf_reserve(b, 0);
	}
	if (buf_reserve(b, n) < 0)
		return -1;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int
buf_puts(struct buf *b, const char *s)
{
	return buf_append(b, s ? s : "", s ? strlen(s) : 0);
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	size_t room;
	int n;

	if (buf_reserve(b, 0) < 0)
		return -1;
	room = b->cap - b->len;
	va_start(ap, fmt);
	n = vsnprintf(b->data + b->len, room, fmt, ap);
	va_end(ap);
	if (n < 0)
		goto fail;
	if ((size_t)n >= room) {
		if (buf_reserve(b, (size_t)n) < 0)
			goto fail;
		va_start(ap, fmt);
		n = vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
		va_end(ap);
		if (n < 0)
			goto fail;
	}
	b->len += (size_t)n;
	return 0;
fail:
	b->data[b->len] = '\0';
	return -1;
}

/* Length of the valid UTF-8 sequence at p (at most n bytes) whose code point is allowed
 * in XML 1.0 (#x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]);
 * 0 if there is none. */
static size_t
xml_char_len(const unsigned char *p, size_t n)
{
	uint32_t c;
	size_t len, i;

	if (p[0] < 0x80) {
		if (p[0] < 0x20 && p[0] != '\t' && p[0] != '\n' && p[0] != '\r')
			return 0;
		return 1;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		c = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		c = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		c = p[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (p[i] & 0x3f);
	}
	/* Overlong forms, surrogates, beyond U+10FFFF, and the two non-characters XML
	 * excludes. */
	if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) || c > 0x10ffff ||
	    (c >= 0xd800 && c <= 0xdfff) || c == 0xfffe || c == 0xffff)
		return 0;
	return len;
}

int
buf_put_xml_escaped(struct buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t n = strlen((const char *)p), run = 0, clen;
	const char *rep;

	/* Plain runs are copied in one go; each special byte is replaced. Text that is not
	 * valid XML (bad UTF-8, control characters) would make the peer close the whole
	 * stream, so it becomes U+FFFD instead. */
	while (run < n) {
		rep = NULL;
		clen = xml_char_len(p + run, n - run);
		switch (clen == 1 ? p[run] : 0) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&apos;"; break;
		/* A raw CR would be read back as LF. */
		case '\r': rep = "&#13;"; break;
		default: break;
		}
		if (clen == 0) {
			rep = "\xef\xbf\xbd";
			clen = 1;
		}
		if (!rep) {
			run += clen;
			continue;
		}
		if (buf_append(b, p, run) < 0 || buf_puts(b, rep) < 0)
			return -1;
		p += run + clen;
		n -= run + clen;
		run = 0;
	}
	return buf_append(b, p, run);
}

size_t
buf_avail(const struct buf *b)
{
	return b->len - b->off;
}

char *
buf_head(const struct buf *b)
{
	return b->data ? b->data + b->off : buf_empty;
}

void
buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len - b->off) {
		buf_reset(b);
		return;
	}
	b->off += n;
	if (b->off >= BUF_COMPACT_AT && b->off >= b->len - b->off)
		buf_compact(b);
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	b->off = 0;
	if (b->data)
		b->data[0] = '\0';
}

char *
buf_steal(struct buf *b)
{
	char *s;

	if (!b->data)
		return strdup("");
	buf_compact(b);
	s = b->data;
	b->data = NULL;
	b->len = b->cap = b->off = 0;
	return s;
}

void
buf_free(struct buf *b, int wipe)
{
	if (b->data) {
		if (wipe)
			explicit_bzero(b->data, b->cap);
		free(b->data);
	}
	b->data = NULL;
	b->len = b->cap = b->off = 0;
}
