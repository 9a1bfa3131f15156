/* buf.h: a growable byte buffer. Always NUL-terminated after data[len] (not counted). */
#ifndef SLIDGE_BUF_H
#define SLIDGE_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	char *data;   /* NULL until the first append */
	size_t len;   /* bytes used */
	size_t cap;   /* bytes allocated */
	size_t off;   /* bytes already consumed at the front (see buf_consume) */
};

#define BUF_INIT { NULL, 0, 0, 0 }
/* No buffer holds more than this many bytes: a larger request fails like an allocation
 * failure, before anything is allocated. */
#define BUF_MAX ((size_t)1 << 30)

/* Make room for n more bytes; -1 on allocation failure or past BUF_MAX (buffer
 * unchanged). */
int buf_reserve(struct buf *b, size_t n);
/* Append n bytes; -1 on allocation failure. */
int buf_append(struct buf *b, const void *p, size_t n);
/* Append a NUL-terminated string (NULL appends nothing); -1 on allocation failure. */
int buf_puts(struct buf *b, const char *s);
/* Append formatted text; -1 on failure. */
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append s escaped for XML text and attribute values (&<>"' and CR as &#13;); what XML
 * cannot carry (invalid UTF-8, control characters other than TAB/LF/CR, U+FFFE/U+FFFF)
 * becomes U+FFFD, so the result is always well-formed. NULL appends nothing. -1 on
 * failure. */
int buf_put_xml_escaped(struct buf *b, const char *s);
/* Bytes waiting to be consumed, starting at buf_head(). */
size_t buf_avail(const struct buf *b);
char *buf_head(const struct buf *b);
/* Drop n bytes from the front (cheap; compacts lazily). */
void buf_consume(struct buf *b, size_t n);
/* Empty the buffer, keep the allocation. */
void buf_reset(struct buf *b);
/* Take ownership of the data as a NUL-terminated string (caller frees); buffer is reset
 * to empty. Returns NULL on allocation failure. */
char *buf_steal(struct buf *b);
/* Free the allocation (wiping it first if wipe is non-zero). */
void buf_free(struct buf *b, int wipe);

#endif
