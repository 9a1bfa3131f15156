/* demo_files.h: the demo network's files (DEMO.md: /file and on_file). */
#ifndef DEMO_FILES_H
#define DEMO_FILES_H

#include "legacy.h"

/* /file: echo sends pixel.png (a 1x1 PNG) with the caption "a pixel". */
void demo_files_script(struct slidge_session *s, struct slidge_contact *echo);
/* on_file, once demo.c has counted the message: the network accepts it as id, and echo
 * sends the file back as echo_id with the caption "echo: <file name>". */
void demo_files_on_file(struct slidge_contact *chat, const struct slidge_file *f,
    const char *id, const char *echo_id, struct slidge_reply *r);

#endif
