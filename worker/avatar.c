/* avatar.c: contact avatars (slidge's AvatarMixin, reference/slidge.md §1: XEP-0084,
 * XEP-0153, XEP-0054 PHOTO).
 *
 * An avatar is kept as the bytes the legacy network gave, with their SHA-1 (the XEP-0084
 * item id and the XEP-0153 photo hash), the module's unique id (so that an unchanged
 * avatar is not published again), the MIME type and, for PNG and GIF, the size read from
 * the header. slidge re-encodes every avatar to a PNG of at most AVATAR_SIZE pixels;
 * here the bytes are served as they are (modules that want PNG give PNG).
 * The hash is computed with GnuTLS, the library the project uses for hashes. */
#include <stdlib.h>
#include <string.h>

#include <nettle/sha1.h>

#include "log.h"
#include "worker.h"

#define AVATAR_MAX (8u << 20)   /* larger avatars are refused (stanza limits anyway) */

void
avatar_sha1(const void *data, size_t len, unsigned char out[20])
{
	struct sha1_ctx ctx;

	/* nettle, not GnuTLS: the worker needs only SHA-1, and GnuTLS brought eight more
	 * libraries into every worker's memory. */
	sha1_init(&ctx);
	sha1_update(&ctx, len, data);
	sha1_digest(&ctx, SHA1_DIGEST_SIZE, out);
}

int
avatar_sha1_hex(const void *data, size_t len, char out[41])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char d[20];
	size_t i;

	avatar_sha1(data, len, d);
	for (i = 0; i < sizeof d; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[40] = '\0';
	return 0;
}

char *
avatar_base64(const unsigned char *data, size_t len)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out, *o;
	size_t i;
	uint32_t v;

	if (len > AVATAR_MAX * 2 || (out = malloc((len + 2) / 3 * 4 + 1)) == NULL)
		return NULL;
	o = out;
	for (i = 0; i + 2 < len; i += 3) {
		v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 | data[i + 2];
		*o++ = tab[v >> 18];
		*o++ = tab[(v >> 12) & 63];
		*o++ = tab[(v >> 6) & 63];
		*o++ = tab[v & 63];
	}
	if (i < len) {
		v = (uint32_t)data[i] << 16 | (i + 1 < len ? (uint32_t)data[i + 1] << 8 : 0);
		*o++ = tab[v >> 18];
		*o++ = tab[(v >> 12) & 63];
		*o++ = i + 1 < len ? tab[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

static uint32_t
be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The MIME type from the magic bytes, and the size where the header says it simply. */
static void
sniff(struct avatar *a)
{
	const unsigned char *p = a->data;
	size_t n = a->len;

	a->type = "application/octet-stream";
	if (n >= 24 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0 && memcmp(p + 12, "IHDR", 4) == 0) {
		a->type = "image/png";
		if (be32(p + 16) <= 65535 && be32(p + 20) <= 65535) {
			a->width = (int)be32(p + 16);
			a->height = (int)be32(p + 20);
		}
	} else if (n >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff) {
		a->type = "image/jpeg";
	} else if (n >= 10 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0)) {
		a->type = "image/gif";
		a->width = p[6] | p[7] << 8;
		a->height = p[8] | p[9] << 8;
	} else if (n >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0) {
		a->type = "image/webp";
	}
}

struct avatar *
avatar_new(const void *data, size_t len, const char *unique_id)
{
	struct avatar *a;

	if (data == NULL || len == 0)
		return NULL;
	if (len > AVATAR_MAX) {
		log_warn("ignoring an avatar of %zu bytes (more than %u)", len, AVATAR_MAX);
		return NULL;
	}
	if ((a = calloc(1, sizeof *a)) == NULL || (a->data = malloc(len)) == NULL)
		goto fail;
	memcpy(a->data, data, len);
	a->len = len;
	if (avatar_sha1_hex(data, len, a->sha1) < 0) {
		log_error("cannot hash an avatar");
		goto fail;
	}
	if ((a->unique_id = strdup(unique_id != NULL && *unique_id != '\0' ?
	    unique_id : a->sha1)) == NULL)
		goto fail;
	sniff(a);
	return a;
fail:
	avatar_free(a);
	return NULL;
}

void
avatar_free(struct avatar *a)
{
	if (a == NULL)
		return;
	free(a->data);
	free(a->unique_id);
	free(a);
}

void
avatar_write_update(struct xb *x, const struct avatar *a)
{
	xb_open(x, "x");
	xb_attr(x, "xmlns", "vcard-temp:x:update");
	xb_open_end(x);
	if (a != NULL)
		xb_text(x, "photo", NULL, a->sha1);
	else
		xb_empty(x, "photo", NULL);
	xb_close(x, "x");
}

void
avatar_contact_set(struct slidge_contact *c, struct avatar *a)
{
	if (a == NULL && c->avatar == NULL)
		return;
	/* slidge: an avatar with the unique id of the current one is not published again. */
	if (a != NULL && c->avatar != NULL && strcmp(a->unique_id, c->avatar->unique_id) == 0) {
		avatar_free(a);
		return;
	}
	avatar_free(c->avatar);
	c->avatar = a;
	log_debug("%s: avatar %s", c->jid, a ? a->sha1 : "removed");
	/* Inside update_info the contact is not announced yet: its roster sync sends all. */
	if (c->updating_info || !c->is_friend)
		return;
	pep_send_avatar(c, NULL);
	if (c->pres != PRES_NONE && c->pres != PRES_OFFLINE)
		presence_contact(c, NULL, NULL);
}

const struct avatar *
avatar_component(void)
{
	static struct avatar *component;
	static int tried;

	/* Built once, from the module's bytes, the first time someone asks. */
	if (!tried) {
		tried = 1;
		if (module->component_avatar != NULL && module->component_avatar_len > 0)
			component = avatar_new(module->component_avatar,
			    module->component_avatar_len, NULL);
	}
	return component;
}
