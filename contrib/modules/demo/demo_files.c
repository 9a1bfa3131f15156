/* demo_files.c: files on the demo network (DEMO.md).
 *
 * /file makes echo send pixel.png, a 1x1 PNG, with the caption "a pixel"; its legacy
 * file id is always "demo-pixel", so the core uploads it once and reuses the URL after.
 * /files, /file-url and /gateway-file exercise send_files, legacy URLs and the gateway's
 * own files (demo_files.h).
 * A file the user sends to echo comes back with the caption "echo: <file name>"; to
 * anyone else it is just accepted. A sticker sent to echo comes back as a file, caption
 * "echo: sticker". */
#include <stdio.h>
#include <string.h>

#include "legacy.h"
#include "demo_files.h"

static const unsigned char pixel_png[] = {
	0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48,
	0x44, 0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00,
	0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0a, 0x49, 0x44, 0x41, 0x54, 0x78,
	0x9c, 0x63, 0x00, 0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00,
	0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
};

static void
pixel(struct slidge_attachment *a, const char *name)
{
	memset(a, 0, sizeof *a);
	a->data = pixel_png;
	a->len = sizeof pixel_png;
	a->name = name;
	a->content_type = "image/png";
}

int
demo_files_script(struct slidge_session *s, struct slidge_contact *echo, const char *word,
    size_t len, const char *args)
{
	struct slidge_attachment a, two[2];

#define IS(w) (len == strlen(w) && strncmp(word, w, len) == 0)
	if (IS("/file")) {
		pixel(&a, "pixel.png");
		a.legacy_file_id = "demo-pixel";
		a.caption = "a pixel";
		slidge_contact_send_file(echo, &a, NULL, NULL);
	} else if (IS("/files")) {
		pixel(&two[0], "red.png");
		pixel(&two[1], "blue.png");
		slidge_contact_send_files(echo, two, 2, NULL, "two pixels", 0, NULL);
	} else if (IS("/file-url") && *args != '\0') {
		memset(&a, 0, sizeof a);
		a.url = args;
		a.caption = "from a URL";
		slidge_contact_send_file(echo, &a, NULL, NULL);
	} else if (IS("/gateway-file")) {
		pixel(&a, "pixel.png");
		a.caption = "a pixel from the gateway";
		slidge_session_send_gateway_file(s, &a);
	} else {
		return -1;
	}
#undef IS
	return 0;
}

void
demo_files_on_file(struct slidge_contact *chat, const struct slidge_file *f,
    const char *id, const char *echo_id, struct slidge_reply *r)
{
	struct slidge_attachment a = { 0 };
	char caption[512];

	slidge_reply_str(r, id);
	if (strcmp(slidge_contact_legacy_id(chat), "echo") != 0)
		return;
	/* The path is only valid during this call: the core takes what it needs now. */
	snprintf(caption, sizeof caption, "echo: %s", f->name);
	a.path = f->path;
	a.name = f->name;
	a.content_type = f->content_type;
	a.caption = caption;
	slidge_contact_send_file(chat, &a, echo_id, NULL);
}

void
demo_files_on_sticker(struct slidge_contact *chat, const struct slidge_sticker *st,
    const char *id, const char *echo_id, struct slidge_reply *r)
{
	struct slidge_attachment a = { 0 };
	char name[64];

	slidge_reply_str(r, id);
	if (strcmp(slidge_contact_legacy_id(chat), "echo") != 0)
		return;
	snprintf(name, sizeof name, "sticker-%.16s", st->hash);
	a.path = st->path;
	a.name = name;
	a.content_type = st->content_type;
	a.caption = "echo: sticker";
	slidge_contact_send_file(chat, &a, echo_id, NULL);
}
