/* fuzz_png.c: image_png_fit (worker/image.c) on arbitrary bytes: avatars come from legacy
 * networks and URLs. It must refuse or fit, never crash, and whatever it makes must be a
 * PNG that fits and decodes again; abort() on a violated invariant. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "worker.h"
#include "parity.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SIDE 16                 /* small, so that the fuzzer reaches the downscale */

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *out = NULL, *again = NULL;
	size_t len = 0, len2 = 0;
	int rc;

	rc = image_png_fit(data, size, SIDE, &out, &len);
	if (rc < -1 || rc > 1 || (rc == 1) != (out != NULL))
		abort();
	if (rc == 1) {
		if (len < 24 || memcmp(out, "\x89PNG\r\n\x1a\n", 8) != 0)
			abort();
		/* the result fits: nothing more to do with it */
		if (image_png_fit(out, len, SIDE, &again, &len2) != 0 || again != NULL)
			abort();
	}
	free(out);
	return 0;
}
