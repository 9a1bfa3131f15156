/* qr.h: QR codes (reference/slidge.md §6.2 QRCODE registration, §6.3 send_qr).
 *
 * A text becomes a PNG (libqrencode, libpng), is uploaded (upload.h) and sent to the user
 * from the gateway's JID: an attachment message, then a message with the text itself.
 * The register worker does it for the QR step of a registration (register.c), a session
 * for slidge_session_send_qr. qr.c renders (and is unit-tested alone, qr_test.c);
 * qrsend.c sends, runs the QR step and passes on slidge_confirm_qr. */
#ifndef SLIDGE_QR_H
#define SLIDGE_QR_H

#include <stddef.h>

#include "proto.h"

/* Modules per side of the quiet zone and pixels per module: zbarimg, phone cameras and
 * screen scaling all read this comfortably (ISO/IEC 18004 asks for a quiet zone of 4). */
#define QR_QUIET 4
#define QR_SCALE 8
/* The longest text encoded: the largest QR code holds 2953 bytes in 8-bit mode at level
 * L; we use level M (2331 bytes), and keep a margin. */
#define QR_TEXT_MAX 2048

/* ---- qr.c ---- */

/* Render text as a black-on-white PNG QR code (error correction level M). On success
 * *png (caller frees) and *len are set. -1 if text is empty or too long, or on OOM. */
int qr_png(const char *text, unsigned char **png, size_t *len);

/* ---- qrsend.c ---- */

/* Called exactly once: url is the uploaded image's URL, NULL on failure (error then says
 * why, for a human). Strings valid during the call only. */
typedef void qr_sent_cb(void *arg, const char *url, const char *error);

/* Render text, upload the PNG, send it to `to` (the user) as an attachment from the
 * gateway's JID, then the text itself; done runs after both were sent (or on failure,
 * when nothing was sent). 0, or -1 (done not called) if nothing could be started. */
int qr_send(const char *to, const char *text, qr_sent_cb *done, void *arg);

/* ---- qrsend.c: the register worker's QR step (register.c) ---- */

/* Step "qr" starts for user_jid (bare): from now on slidge_confirm_qr for that user is
 * passed on to slidged, once. */
void qr_register_start(const char *user_jid);
/* get_qr_text gave text for VALIDATE id: show it to user_jid, then answer QR_SHOWN. */
void qr_register_show(uint64_t id, const char *user_jid, const char *text);
/* Answer QR_SHOWN for VALIDATE id with an error (get_qr_text failed). */
void qr_register_fail(uint64_t id, const char *condition, const char *text);

#endif
