/* image.c: avatar pictures made to fit (slidge re-encodes every avatar to a PNG of at
 * most AVATAR_SIZE pixels a side, reference/slidge.md §1 row 0084).
 *
 * Only PNG is decoded here (libpng, the one image library the worker links): a PNG
 * larger than the limit is decoded to 8-bit RGBA, downscaled with a box filter (each
 * output pixel is the mean of the source pixels it covers), and written again, as RGB
 * when every pixel is opaque. Decoding is bounded: the picture's sides are capped
 * (png_set_user_limits) before any pixel is allocated, so a small file that inflates to
 * a huge picture is refused, not decoded. Other formats are kept as they are. */
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

#include "log.h"
#include "worker.h"
#include "parity.h"

#define DECODE_MAX_SIDE 4096    /* larger pictures are not decoded */

struct mem_in {
	const unsigned char *p;
	size_t len, off;
};

static void
read_mem(png_structp png, png_bytep out, png_size_t n)
{
	struct mem_in *m = png_get_io_ptr(png);

	if (n > m->len - m->off)
		png_error(png, "truncated PNG");
	memcpy(out, m->p + m->off, n);
	m->off += n;
}

static void
write_mem(png_structp png, png_bytep data, png_size_t n)
{
	struct buf *b = png_get_io_ptr(png);

	if (buf_append(b, data, n) < 0)
		png_error(png, "out of memory");
}

static void
flush_mem(png_structp png)
{
	(void)png;
}

static void
png_fail(png_structp png, png_const_charp msg)
{
	log_debug("png: %s", msg);
	png_longjmp(png, 1);
}

static void
png_warn(png_structp png, png_const_charp msg)
{
	(void)png;
	(void)msg;
}

/* Decode a PNG into RGBA rows (caller frees *rgba). -1 if it does not decode. */
static int
decode(const unsigned char *in, size_t len, unsigned char **rgba, unsigned *w, unsigned *h)
{
	struct mem_in m = { in, len, 0 };
	png_structp png;
	png_infop info = NULL;
	/* volatile: set after setjmp, freed after a longjmp */
	png_bytep *volatile rows = NULL;
	unsigned char *volatile px = NULL;
	unsigned y;

	if ((png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, png_fail,
	    png_warn)) == NULL || (info = png_create_info_struct(png)) == NULL) {
		png_destroy_read_struct(&png, NULL, NULL);
		return -1;
	}
	if (setjmp(png_jmpbuf(png))) {
		png_destroy_read_struct(&png, &info, NULL);
		free(rows);
		free(px);
		return -1;
	}
	png_set_user_limits(png, DECODE_MAX_SIDE, DECODE_MAX_SIDE);
	png_set_read_fn(png, &m, read_mem);
	png_read_info(png, info);
	/* Whatever the colour type and depth: 8-bit RGBA. */
	png_set_expand(png);
	png_set_strip_16(png);
	png_set_gray_to_rgb(png);
	png_set_filler(png, 0xff, PNG_FILLER_AFTER);
	png_set_interlace_handling(png);
	png_read_update_info(png, info);
	*w = png_get_image_width(png, info);
	*h = png_get_image_height(png, info);
	if (png_get_rowbytes(png, info) != (size_t)*w * 4 ||
	    (px = malloc((size_t)*w * *h * 4)) == NULL ||
	    (rows = calloc(*h, sizeof *rows)) == NULL)
		png_error(png, "cannot hold the picture");
	for (y = 0; y < *h; y++)
		rows[y] = px + (size_t)y * *w * 4;
	png_read_image(png, rows);
	png_read_end(png, NULL);
	png_destroy_read_struct(&png, &info, NULL);
	free(rows);
	*rgba = px;
	return 0;
}

/* Box-filter src (sw x sh RGBA) down to dw x dh. */
static void
downscale(const unsigned char *src, unsigned sw, unsigned sh, unsigned char *dst,
    unsigned dw, unsigned dh)
{
	unsigned dx, dy, x, y, x0, x1, y0, y1, k;
	uint64_t sum[4], n;

	for (dy = 0; dy < dh; dy++) {
		y0 = (unsigned)((uint64_t)dy * sh / dh);
		y1 = (unsigned)((uint64_t)(dy + 1) * sh / dh);
		if (y1 == y0)
			y1 = y0 + 1;
		for (dx = 0; dx < dw; dx++) {
			x0 = (unsigned)((uint64_t)dx * sw / dw);
			x1 = (unsigned)((uint64_t)(dx + 1) * sw / dw);
			if (x1 == x0)
				x1 = x0 + 1;
			memset(sum, 0, sizeof sum);
			for (y = y0; y < y1; y++)
				for (x = x0; x < x1; x++)
					for (k = 0; k < 4; k++)
						sum[k] += src[((size_t)y * sw + x) * 4 + k];
			n = (uint64_t)(y1 - y0) * (x1 - x0);
			for (k = 0; k < 4; k++)
				dst[((size_t)dy * dw + dx) * 4 + k] = (unsigned char)((sum[k] + n / 2) / n);
		}
	}
}

/* Encode w x h RGBA as a PNG into b (RGB if every pixel is opaque). -1 on failure. */
static int
encode(const unsigned char *rgba, unsigned w, unsigned h, struct buf *b)
{
	png_structp png;
	png_infop info = NULL;
	unsigned char *volatile row = NULL;
	size_t i, n = (size_t)w * h;
	unsigned x, y;
	int opaque = 1;

	for (i = 0; i < n && opaque; i++)
		opaque = rgba[i * 4 + 3] == 0xff;
	if ((png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, png_fail,
	    png_warn)) == NULL || (info = png_create_info_struct(png)) == NULL) {
		png_destroy_write_struct(&png, NULL);
		return -1;
	}
	if (setjmp(png_jmpbuf(png))) {
		png_destroy_write_struct(&png, &info);
		free(row);
		return -1;
	}
	png_set_write_fn(png, b, write_mem, flush_mem);
	png_set_IHDR(png, info, w, h, 8, opaque ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_RGBA,
	    PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	if ((row = malloc((size_t)w * 4)) == NULL)
		png_error(png, "out of memory");
	for (y = 0; y < h; y++) {
		const unsigned char *s = rgba + (size_t)y * w * 4;

		if (opaque) {
			for (x = 0; x < w; x++)
				memcpy(row + (size_t)x * 3, s + (size_t)x * 4, 3);
			png_write_row(png, row);
		} else {
			png_write_row(png, (png_const_bytep)s);
		}
	}
	png_write_end(png, info);
	png_destroy_write_struct(&png, &info);
	free(row);
	return 0;
}

int
image_png_fit(const unsigned char *in, size_t len, unsigned max_side, unsigned char **out,
    size_t *outlen)
{
	struct buf b = BUF_INIT;
	unsigned char *src = NULL, *dst = NULL;
	unsigned w, h, dw, dh;
	int rc = -1;

	*out = NULL;
	*outlen = 0;
	if (len < 8 || png_sig_cmp(in, 0, 8) != 0)
		return 0;   /* not a PNG: kept as it is */
	if (decode(in, len, &src, &w, &h) < 0) {
		log_warn("an avatar PNG does not decode (or is larger than %u pixels a side): "
		    "kept as it is", DECODE_MAX_SIDE);
		return -1;
	}
	if (w <= max_side && h <= max_side) {
		free(src);
		return 0;
	}
	/* The longer side becomes max_side; the other keeps the ratio (at least 1). */
	dw = w >= h ? max_side : (unsigned)(((uint64_t)w * max_side + h / 2) / h);
	dh = h >= w ? max_side : (unsigned)(((uint64_t)h * max_side + w / 2) / w);
	dw = dw ? dw : 1;
	dh = dh ? dh : 1;
	if ((dst = malloc((size_t)dw * dh * 4)) == NULL)
		goto done;
	downscale(src, w, h, dst, dw, dh);
	if (encode(dst, dw, dh, &b) < 0)
		goto done;
	*outlen = b.len;
	*out = (unsigned char *)buf_steal(&b);
	rc = *out != NULL ? 1 : -1;
	log_debug("an avatar of %ux%u pixels downscaled to %ux%u", w, h, dw, dh);
done:
	buf_free(&b, 0);
	free(src);
	free(dst);
	return rc;
}
