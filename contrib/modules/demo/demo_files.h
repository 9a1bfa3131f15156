/* demo_files.h: the demo network's files (DEMO.md: /file and on_file). */
#ifndef DEMO_FILES_H
#define DEMO_FILES_H

#include "legacy.h"

/* echo's file commands (word: the command, len bytes; args: the rest). 0 if word was one
 * of them (done), -1 if not:
 *   /file            pixel.png (a 1x1 PNG) with the caption "a pixel"
 *   /files           red.png and blue.png, then the text "two pixels" (send_files)
 *   /file-url URL    the file at URL (a legacy URL), caption "from a URL"
 *   /gateway-file    pixel.png from the gateway's own JID, caption "a pixel from the
 *                    gateway" */
int demo_files_script(struct slidge_session *s, struct slidge_contact *echo,
    const char *word, size_t len, const char *args);
/* on_file, once demo.c has counted the message: the network accepts it as id, and echo
 * sends the file back as echo_id with the caption "echo: <file name>". */
void demo_files_on_file(struct slidge_contact *chat, const struct slidge_file *f,
    const char *id, const char *echo_id, struct slidge_reply *r);

/* on_sticker: the same, echo sends the sticker back as a file with the caption
 * "echo: sticker". */
void demo_files_on_sticker(struct slidge_contact *chat, const struct slidge_sticker *st,
    const char *id, const char *echo_id, struct slidge_reply *r);

#endif
