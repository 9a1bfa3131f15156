/* qr.c: rendering a QR code (reference/slidge.md §2 send_qr, §6.2 QRCODE step 2).
 *
 * The text is encoded by libqrencode and written as a 1-bit greyscale PNG by libpng, with
 * a quiet zone and a module size that scanners read (qr.h). Sending it is qrsend.c's. */
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>
#include <qrencode.h>

#include "buf.h"
#include "log.h"
#include "qr.h"

static void
png_write_mem(png_structp png, png_bytep data, png_size_t n)
{
	if (buf_append(png_get_io_ptr(png), data, n) < 0)
		png_error(png, "out of memory");
}

static void
png_flush_mem(png_structp png)
{
	(void)png;
}

static void
png_log_error(png_structp png, png_const_charp msg)
{
	log_warn("qr: libpng: %s", msg);
	png_longjmp(png, 1);
}

static void
png_log_warning(png_structp png, png_const_charp msg)
{
	(void)png;
	log_debug("qr: libpng: %s", msg);
}

/* One PNG row: pixel row y of the scaled, quiet-zoned code (1 bit per pixel, 1 = white). */
static void
qr_row(const QRcode *q, unsigned y, unsigned char *row, size_t rowbytes)
{
	unsigned side = (unsigned)q->width + 2 * QR_QUIET, x, mx, my;

	memset(row, 0xff, rowbytes);
	my = y / QR_SCALE;
	if (my < QR_QUIET || my >= QR_QUIET + (unsigned)q->width)
		return;
	for (x = 0; x < side * QR_SCALE; x++) {
		mx = x / QR_SCALE;
		if (mx < QR_QUIET || mx >= QR_QUIET + (unsigned)q->width)
			continue;
		if (q->data[(my - QR_QUIET) * (unsigned)q->width + (mx - QR_QUIET)] & 1)
			row[x / 8] &= (unsigned char)~(0x80u >> (x % 8));
	}
}

/* Write q as a PNG into m. -1 on failure (m may hold a partial image: caller frees). */
static int
qr_write_png(const QRcode *q, struct buf *m, unsigned char *row, size_t rowbytes)
{
	png_structp png;
	png_infop info = NULL;
	unsigned pixels = ((unsigned)q->width + 2 * QR_QUIET) * QR_SCALE, y;

	png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, png_log_error,
	    png_log_warning);
	if (png == NULL || (info = png_create_info_struct(png)) == NULL) {
		png_destroy_write_struct(&png, NULL);
		return -1;
	}
	/* libpng reports errors by longjmp: nothing below changes a local that the error
	 * path reads, so no volatile is needed. */
	if (setjmp(png_jmpbuf(png))) {
		png_destroy_write_struct(&png, &info);
		return -1;
	}
	png_set_write_fn(png, m, png_write_mem, png_flush_mem);
	png_set_IHDR(png, info, pixels, pixels, 1, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
	    PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	for (y = 0; y < pixels; y++) {
		qr_row(q, y, row, rowbytes);
		png_write_row(png, row);
	}
	png_write_end(png, info);
	png_destroy_write_struct(&png, &info);
	return 0;
}

int
qr_png(const char *text, unsigned char **png, size_t *len)
{
	QRcode *q;
	struct buf m = BUF_INIT;
	unsigned char *row;
	size_t rowbytes;
	int rc;

	*png = NULL;
	*len = 0;
	if (text == NULL || *text == '\0' || strlen(text) > QR_TEXT_MAX)
		return -1;
	/* 8-bit mode hint, case-sensitive: libqrencode still picks numeric and alphanumeric
	 * segments where they are shorter; version 0 lets it choose the smallest size. */
	if ((q = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1)) == NULL) {
		log_warn("qr: cannot encode a text of %zu bytes", strlen(text));
		return -1;
	}
	rowbytes = (((size_t)q->width + 2 * QR_QUIET) * QR_SCALE + 7) / 8;
	if ((row = malloc(rowbytes)) == NULL) {
		QRcode_free(q);
		return -1;
	}
	rc = qr_write_png(q, &m, row, rowbytes);
	free(row);
	QRcode_free(q);
	if (rc < 0) {
		buf_free(&m, 0);
		return -1;
	}
	*len = m.len;
	if ((*png = (unsigned char *)buf_steal(&m)) == NULL) {
		buf_free(&m, 0);
		return -1;
	}
	return 0;
}
