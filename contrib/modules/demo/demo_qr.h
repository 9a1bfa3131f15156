/* demo_qr.h: the demo network's QR codes (demo_qr.c), hooked into demo.c. */
#ifndef DEMO_QR_H
#define DEMO_QR_H

#include "legacy.h"

/* get_qr_text just gave "demo-pair:<username>" for user_jid: the network "scans" it by
 * itself (or not, or refuses it; see demo_qr.c) and calls slidge_confirm_qr. */
void demo_qr_shown(const char *user_jid, const char *username);
/* The script command /qr T: the session sends a QR code of T (send_qr). */
void demo_qr_script(struct slidge_session *s, const char *args);

#endif
