/* image_test.c: avatar pictures made to fit (image.c): which pictures are downscaled,
 * to what size, and that bad input is refused without a crash. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

#include "worker.h"
#include "parity.h"

static int failures;

#define CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #cond); failures++; } } while (0)

static void
grow(png_structp png, png_bytep data, png_size_t n)
{
	if (buf_append(png_get_io_ptr(png), data, n) < 0)
		png_error(png, "oom");
}

static void
no_flush(png_structp png)
{
	(void)png;
}

/* A w x h PNG of the colour type (RGB, RGBA, GRAY or PALETTE), a gradient; caller
 * frees b. */
static void
make_png(struct buf *b, unsigned w, unsigned h, int type)
{
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	png_infop info = png_create_info_struct(png);
	png_color pal[4] = { { 0, 0, 0 }, { 255, 0, 0 }, { 0, 255, 0 }, { 0, 0, 255 } };
	int ch = type == PNG_COLOR_TYPE_RGB ? 3 : type == PNG_COLOR_TYPE_RGBA ? 4 : 1;
	unsigned char *row = malloc((size_t)w * 4);
	unsigned x, y;

	if (setjmp(png_jmpbuf(png)))
		abort();
	png_set_write_fn(png, b, grow, no_flush);
	png_set_IHDR(png, info, w, h, 8, type, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
	    PNG_FILTER_TYPE_DEFAULT);
	if (type == PNG_COLOR_TYPE_PALETTE)
		png_set_PLTE(png, info, pal, 4);
	png_write_info(png, info);
	for (y = 0; y < h; y++) {
		for (x = 0; x < w * (unsigned)ch; x++)
			row[x] = type == PNG_COLOR_TYPE_PALETTE ? (unsigned char)((x + y) % 4) :
			    (unsigned char)(x + y);
		png_write_row(png, row);
	}
	png_write_end(png, info);
	png_destroy_write_struct(&png, &info);
	free(row);
}

static uint32_t
crc32_of(const unsigned char *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	size_t i;
	int k;

	for (i = 0; i < n; i++) {
		c ^= p[i];
		for (k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
	}
	return ~c;
}

/* Width, height and colour type from a PNG's IHDR. */
static void
ihdr(const unsigned char *p, unsigned *w, unsigned *h, int *type)
{
	*w = (unsigned)p[16] << 24 | (unsigned)p[17] << 16 | (unsigned)p[18] << 8 | p[19];
	*h = (unsigned)p[20] << 24 | (unsigned)p[21] << 16 | (unsigned)p[22] << 8 | p[23];
	*type = p[25];
}

int
main(void)
{
	static const struct {
		unsigned w, h;
		int type;
		int rc;
		unsigned ow, oh;
		int otype;
	} cases[] = {
		{ 64, 64, PNG_COLOR_TYPE_RGB, 0, 0, 0, 0 },         /* fits: untouched */
		{ 200, 200, PNG_COLOR_TYPE_RGB, 0, 0, 0, 0 },
		{ 300, 150, PNG_COLOR_TYPE_RGB, 1, 200, 100, PNG_COLOR_TYPE_RGB },
		{ 150, 600, PNG_COLOR_TYPE_RGBA, 1, 50, 200, PNG_COLOR_TYPE_RGBA },
		{ 401, 1, PNG_COLOR_TYPE_GRAY, 1, 200, 1, PNG_COLOR_TYPE_RGB },
		{ 256, 256, PNG_COLOR_TYPE_PALETTE, 1, 200, 200, PNG_COLOR_TYPE_RGB },
	};
	struct buf b;
	unsigned char *out, *again, big[64];
	size_t i, len, len2;
	unsigned w, h;
	int type;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		b = (struct buf)BUF_INIT;
		make_png(&b, cases[i].w, cases[i].h, cases[i].type);
		CHECK(image_png_fit((unsigned char *)b.data, b.len, 200, &out, &len) == cases[i].rc);
		if (cases[i].rc == 1 && out != NULL) {
			ihdr(out, &w, &h, &type);
			CHECK(w == cases[i].ow && h == cases[i].oh && type == cases[i].otype);
			/* and the result decodes, and fits */
			CHECK(image_png_fit(out, len, 200, &again, &len2) == 0 && again == NULL);
			free(out);
		} else {
			CHECK(out == NULL);
		}
		/* a truncated PNG is refused */
		CHECK(image_png_fit((unsigned char *)b.data, b.len / 2, 200, &out, &len) == -1);
		buf_free(&b, 0);
	}
	/* not a PNG: nothing to do */
	CHECK(image_png_fit((const unsigned char *)"\xff\xd8\xff\xe0 jpeg", 9, 200, &out,
	    &len) == 0);
	/* a header claiming 100000 x 100000 pixels is refused before any allocation */
	b = (struct buf)BUF_INIT;
	make_png(&b, 2, 2, PNG_COLOR_TYPE_RGB);
	memcpy(big, b.data, 33);
	big[16] = big[20] = 0;
	big[17] = big[21] = 0x01;
	big[18] = big[22] = 0x86;
	big[19] = big[23] = 0xa0;
	w = crc32_of(big + 12, 17);   /* a valid IHDR: the limit refuses it, not the CRC */
	big[29] = (unsigned char)(w >> 24);
	big[30] = (unsigned char)(w >> 16);
	big[31] = (unsigned char)(w >> 8);
	big[32] = (unsigned char)w;
	CHECK(image_png_fit(big, 33, 200, &out, &len) == -1);
	buf_free(&b, 0);
	if (failures == 0)
		printf("image_test: ok\n");
	return failures != 0;
}
