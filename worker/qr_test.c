/* qr_test.c: qr_png against a table of texts: each PNG decodes (libpng) to a square,
 * black-on-white code of a valid QR size, with a white quiet zone of QR_QUIET modules and
 * the three finder patterns where ISO/IEC 18004 puts them; bad texts are refused. (The
 * integration test test_qr.py reads the codes back with zbarimg.) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

#include "qr.h"

static int failures;

#define CHECK(cond, ...) do { \
	if (!(cond)) { \
		failures++; \
		fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
		fprintf(stderr, __VA_ARGS__); \
		fputc('\n', stderr); \
	} \
} while (0)

/* 1 if module (mx, my) of the code (quiet zone excluded) is black: its centre pixel. */
static int
black(const unsigned char *px, unsigned side, int mx, int my)
{
	unsigned x = (unsigned)(mx + QR_QUIET) * QR_SCALE + QR_SCALE / 2;
	unsigned y = (unsigned)(my + QR_QUIET) * QR_SCALE + QR_SCALE / 2;

	return px[y * side + x] < 128;
}

/* The 7x7 finder pattern with its top-left module at (x0, y0): a black ring, a white
 * ring, a black 3x3 centre. */
static int
finder_ok(const unsigned char *px, unsigned side, int x0, int y0)
{
	int x, y, ring;

	for (y = 0; y < 7; y++)
		for (x = 0; x < 7; x++) {
			ring = abs(x - 3) > abs(y - 3) ? abs(x - 3) : abs(y - 3);
			if (black(px, side, x0 + x, y0 + y) != (ring != 2))
				return 0;
		}
	return 1;
}

static void
check_text(const char *text)
{
	unsigned char *png = NULL, *px = NULL;
	size_t len = 0, i;
	png_image img;
	unsigned side, n;

	if (qr_png(text, &png, &len) < 0) {
		CHECK(0, "no PNG for a text of %zu bytes", strlen(text));
		return;
	}
	memset(&img, 0, sizeof img);
	img.version = PNG_IMAGE_VERSION;
	if (!png_image_begin_read_from_memory(&img, png, len)) {
		CHECK(0, "not a PNG: %s", img.message);
		goto done;
	}
	img.format = PNG_FORMAT_GRAY;
	side = img.width;
	CHECK(img.width == img.height, "%ux%u is not square", img.width, img.height);
	CHECK(side % QR_SCALE == 0, "%u pixels is not a whole number of modules", side);
	n = side / QR_SCALE - 2 * QR_QUIET;
	CHECK(n >= 21 && n <= 177 && (n - 21) % 4 == 0, "%u modules is no QR size", n);
	if ((px = malloc(PNG_IMAGE_SIZE(img))) == NULL || !png_image_finish_read(&img, NULL,
	    px, 0, NULL)) {
		CHECK(0, "cannot decode the PNG");
		png_image_free(&img);
		goto done;
	}
	for (i = 0; i < (size_t)side * QR_QUIET * QR_SCALE; i++) {
		/* The top and bottom quiet rows, and the left and right quiet columns. */
		CHECK(px[i] == 255 && px[(size_t)side * side - 1 - i] == 255,
		    "quiet zone not white at %zu", i);
		CHECK(px[(i % side) * side + i / side] == 255, "left quiet zone not white");
		if (failures)
			break;
	}
	CHECK(finder_ok(px, side, 0, 0), "no top-left finder pattern");
	CHECK(finder_ok(px, side, (int)n - 7, 0), "no top-right finder pattern");
	CHECK(finder_ok(px, side, 0, (int)n - 7), "no bottom-left finder pattern");
done:
	free(px);
	free(png);
}

int
main(void)
{
	static const char *const texts[] = {
		"hello",
		"demo-pair:alice",
		"2@Vh1LIp+Kc8n4bOvDuBqFQhXQhf8QyAJ8,bxEG4Sba1sXGQ8yXeoCy1HU2G1Mw=,Xa8nPw==",
		"https://example.org/file?x=1&y=\xc3\xa4\xc3\xb6",
		"0123456789",
	};
	char big[QR_TEXT_MAX + 2];
	unsigned char *png;
	size_t i, len;

	for (i = 0; i < sizeof texts / sizeof texts[0]; i++)
		check_text(texts[i]);
	memset(big, 'x', QR_TEXT_MAX);
	big[QR_TEXT_MAX] = '\0';
	check_text(big);   /* the longest text accepted */

	/* Refused: nothing to encode, or more than a code holds. */
	big[QR_TEXT_MAX] = 'x';
	big[QR_TEXT_MAX + 1] = '\0';
	CHECK(qr_png(big, &png, &len) < 0 && png == NULL, "a text over QR_TEXT_MAX was encoded");
	CHECK(qr_png("", &png, &len) < 0 && png == NULL, "an empty text was encoded");
	CHECK(qr_png(NULL, &png, &len) < 0 && png == NULL, "NULL was encoded");

	if (failures) {
		fprintf(stderr, "qr_test: %d failures\n", failures);
		return 1;
	}
	printf("qr_test: ok\n");
	return 0;
}
