/* demo_commands.h: the demo network's commands and input() (demo_commands.c). */
#ifndef DEMO_COMMANDS_H
#define DEMO_COMMANDS_H

#include "legacy.h"

/* The module's commands (slidge_module.commands). */
extern const struct slidge_command demo_commands[];
/* The script command /input: the session asks a question through input(); echo then
 * says "you said: <answer>". */
void demo_input_script(struct slidge_session *s, struct slidge_contact *echo);

#endif
