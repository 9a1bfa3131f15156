/* qrflow.h: the QR step of the registration command (reference/slidge.md §6.2 QRCODE,
 * steps 4-6): the "Flash this" form, and the wait for the module's confirm_qr.
 *
 * The register worker shows the code (QR_SHOWN) and later passes on the module's
 * confirmation (QR_CONFIRM), which may come before or after the user submits the form.
 * Like slidge's future in qr_pending_registrations, the answer is kept until the user
 * asks for it; then the user waits at most --qr-timeout seconds. */
#ifndef SLIDGED_QRFLOW_H
#define SLIDGED_QRFLOW_H

#include <ev.h>

#include "buf.h"
#include "proto.h"

/* MANIFEST.registration_type of a QR code flow (legacy.h's SLIDGE_QRCODE). */
#define REGISTRATION_QRCODE 2

/* The "Flash this" form (slidge's Register.qr). adhoc.c plays it by chat with the same
 * texts. */
#define QRFLOW_TITLE "Flash this"
#define QRFLOW_INSTRUCTIONS "Flash this QR in the appropriate place"
#define QRFLOW_LABEL_TEXT "Text encoded in the QR code"
#define QRFLOW_LABEL_URL "URL of the QR code image"

/* condition NULL: the code was flashed (data to merge: qrflow.data); otherwise why the
 * registration is refused, as an XMPP error condition and a human text. */
typedef void qrflow_cb(void *arg, const char *condition, const char *text);

struct qrflow {
	int answered;             /* the module confirmed or refused (or the worker died) */
	char *condition, *text;   /* NULL condition: confirmed */
	struct proto_list data;   /* legacy_module_data from confirm_qr (KV) */
	ev_timer timeout;         /* --qr-timeout, once the user waits */
	qrflow_cb *cb;            /* the user waits */
	void *arg;
};

/* Zero q (a struct embedded by value). */
void qrflow_init(struct qrflow *q);
/* Release what q holds and stop its timer; cb is not called. */
void qrflow_clear(struct qrflow *q);
/* Append the "Flash this" form (slidge's: fixed fields qr_img with the XEP-0221 media
 * element, qr_text, qr_img_url) to b. */
void qrflow_form(struct buf *b, const char *qr_text, const char *url);
/* A QR_CONFIRM for the registration (its fields are taken). Only the first answer
 * counts. If the user waits, cb runs now. */
void qrflow_confirm(struct qrflow *q, struct proto_msg *m);
/* The answer without the module (its worker died): the same as a refusal. */
void qrflow_fail(struct qrflow *q, const char *condition, const char *text);
/* The user submitted the form: cb (exactly once) with the answer, now if there is one,
 * else when it comes, or after --qr-timeout with slidge's remote-server-timeout. cb may
 * free the struct that holds q. */
void qrflow_wait(struct qrflow *q, qrflow_cb *cb, void *arg);
/* Merge the confirmed data into kv (KV). -1 on OOM. */
int qrflow_merge(const struct qrflow *q, struct proto_list *kv);

#endif
