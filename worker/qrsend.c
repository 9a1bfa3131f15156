/* qrsend.c: QR codes sent to the user: the registration's QR step, confirm_qr and
 * send_qr (reference/slidge.md §2 get_qr_text / confirm_qr / send_qr, §6.2 QRCODE, §6.3).
 *
 * Like slidge, the PNG (qr.c) is uploaded and sent from the gateway's JID as an
 * attachment, followed by a message with the raw text, for clients that show neither
 * images nor links.
 *
 * In a register worker, the QR step answers QR_SHOWN once the code is out, then waits for
 * the module's slidge_confirm_qr, which becomes one QR_CONFIRM frame; slidged owns the
 * timeout and the rest of the registration. The exported slidge_* functions of this part
 * of legacy.h live here rather than in api.c, beside what they drive. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "qr.h"
#include "upload.h"
#include "worker.h"

#define NS_OOB "jabber:x:oob"
#define QR_FILE_NAME "qr.png"

/* ---- sending ------------------------------------------------------------------------- */

struct qr_job {
	char *to;
	char *text;
	qr_sent_cb *done;
	void *arg;
};

static void
job_free(struct qr_job *j)
{
	free(j->to);
	free(j->text);
	free(j);
}

/* The gateway's attachment message: the URL as body and as XEP-0066 OOB data, which
 * clients show inline (slidge's send_file from the component). */
static void
send_attachment(const char *to, const char *url)
{
	struct xb x = { 0 };
	char id[64];

	stanza_new_id(id, sizeof id);
	xb_open(&x, "message");
	xb_attr(&x, "type", "chat");
	xb_attr(&x, "from", worker.component_jid);
	xb_attr(&x, "to", to);
	xb_attr(&x, "id", id);
	xb_open_end(&x);
	xb_text(&x, "body", NULL, url);
	xb_raw(&x, "<x xmlns='" NS_OOB "'>");
	xb_text(&x, "url", NULL, url);
	xb_close(&x, "x");
	xb_close(&x, "message");
	xb_emit(&x);
	xb_free(&x);
}

/* The text itself, as BaseGateway.send_text sends it. */
static void
send_text(const char *to, const char *text)
{
	struct message_out m = { 0 };

	m.from = worker.component_jid;
	m.to = to;
	m.body = text;
	m.state = "active";
	m.flags = MSG_MARKABLE | MSG_STORE;
	stanza_message(&m);
}

static void
qr_uploaded(void *arg, const char *url, const char *error)
{
	struct qr_job *j = arg;

	if (url != NULL) {
		send_attachment(j->to, url);
		send_text(j->to, j->text);
	} else {
		log_warn("qr: the QR code could not be uploaded: %s", error ? error : "unknown error");
	}
	j->done(j->arg, url, url != NULL ? NULL : (error ? error : "upload failed"));
	job_free(j);
}

int
qr_send(const char *to, const char *text, qr_sent_cb *done, void *arg)
{
	struct qr_job *j;
	unsigned char *png;
	size_t len;
	int rc;

	if (qr_png(text, &png, &len) < 0)
		return -1;
	if ((j = calloc(1, sizeof *j)) == NULL || (j->to = strdup(to)) == NULL ||
	    (j->text = strdup(text)) == NULL) {
		if (j != NULL)
			job_free(j);
		free(png);
		return -1;
	}
	j->done = done;
	j->arg = arg;
	rc = upload_bytes(png, len, QR_FILE_NAME, "image/png", qr_uploaded, j);
	free(png);   /* upload_bytes copied it */
	if (rc < 0) {
		job_free(j);
		return -1;
	}
	return 0;
}

/* ---- the registration's QR step (role register) ------------------------------------ */

/* The user whose registration shows a code, and whether the module already answered. */
static char reg_user[JID_BUF];
static int reg_confirmed;

static void
send_shown(uint64_t id, const char *condition, const char *text, const char *qr_text,
    const char *url)
{
	struct proto_val v[QR_SHOWN__NFIELDS] = { 0 };
	const struct proto_desc *d = proto_desc(PROTO_QR_SHOWN);

	v[QR_SHOWN_id].u = id;
	v[QR_SHOWN_condition].s = condition;
	v[QR_SHOWN_text].s = text;
	v[QR_SHOWN_text].len = worker_clip(text, d->fields[QR_SHOWN_text].max);
	v[QR_SHOWN_qr_text].s = qr_text;
	v[QR_SHOWN_url].s = url;
	if (worker_send(PROTO_QR_SHOWN, v) < 0) {
		/* A URL longer than the table allows: slidged must still get an answer. */
		v[QR_SHOWN_condition].s = SLIDGE_INTERNAL_SERVER_ERROR;
		v[QR_SHOWN_text].s = "The QR code could not be shown";
		v[QR_SHOWN_text].len = 0;
		v[QR_SHOWN_qr_text].s = v[QR_SHOWN_url].s = "";
		worker_send(PROTO_QR_SHOWN, v);
	}
}

struct shown_ctx {
	uint64_t id;
	char *text;
};

static void
reg_shown(void *arg, const char *url, const char *error)
{
	struct shown_ctx *c = arg;

	if (url != NULL)
		send_shown(c->id, "", "", c->text, url);
	else
		send_shown(c->id, SLIDGE_INTERNAL_SERVER_ERROR, "Slidge cannot send attachments",
		    "", "");
	(void)error;   /* logged by qr_uploaded */
	explicit_bzero(c->text, strlen(c->text));
	free(c->text);
	free(c);
}

void
qr_register_show(uint64_t id, const char *user_jid, const char *text)
{
	struct shown_ctx *c;

	if (text == NULL || *text == '\0' || strlen(text) > QR_TEXT_MAX) {
		send_shown(id, SLIDGE_INTERNAL_SERVER_ERROR,
		    "The legacy module gave no usable text for the QR code", "", "");
		return;
	}
	if ((c = calloc(1, sizeof *c)) == NULL || (c->text = strdup(text)) == NULL) {
		free(c);
		send_shown(id, SLIDGE_INTERNAL_SERVER_ERROR, "Out of memory", "", "");
		return;
	}
	c->id = id;
	if (qr_send(user_jid, text, reg_shown, c) < 0) {
		reg_shown(c, NULL, "cannot start the upload");
		return;
	}
}

void
qr_register_fail(uint64_t id, const char *condition, const char *text)
{
	send_shown(id, stanza_condition(condition) ? condition : SLIDGE_INTERNAL_SERVER_ERROR,
	    text ? text : "", "", "");
}

void
qr_register_start(const char *user_jid)
{
	snprintf(reg_user, sizeof reg_user, "%s", user_jid);
	reg_confirmed = 0;
}

void
slidge_confirm_qr(const char *user_jid, const char *condition, const char *text,
    const struct slidge_data_item *data)
{
	struct proto_val v[QR_CONFIRM__NFIELDS] = { 0 };
	struct proto_list kv = { 0 };
	size_t i;

	if (worker.role != ROLE_REGISTER || user_jid == NULL || reg_user[0] == '\0' ||
	    strcmp(user_jid, reg_user) != 0) {
		log_warn("slidge_confirm_qr: no registration of this user waits for a QR code");
		return;
	}
	if (reg_confirmed) {
		log_warn("slidge_confirm_qr: called again for the same registration (ignored)");
		return;
	}
	reg_confirmed = 1;
	v[QR_CONFIRM_user_jid].s = reg_user;
	if (condition != NULL) {
		v[QR_CONFIRM_condition].s = stanza_condition(condition) ? condition :
		    SLIDGE_INTERNAL_SERVER_ERROR;
		v[QR_CONFIRM_text].s = text ? text : "";
		v[QR_CONFIRM_text].len = worker_clip(v[QR_CONFIRM_text].s,
		    proto_desc(PROTO_QR_CONFIRM)->fields[QR_CONFIRM_text].max);
		log_info("the legacy network refused the QR code: %s", v[QR_CONFIRM_condition].s);
	} else {
		v[QR_CONFIRM_condition].s = v[QR_CONFIRM_text].s = "";
		for (i = 0; data != NULL && data[i].key != NULL; i++)
			if (proto_kv_set(&kv, data[i].key, data[i].value ? data[i].value : "") < 0)
				fatal("out of memory");
		log_info("the legacy network confirmed the QR code");
	}
	v[QR_CONFIRM_data].list = kv;
	if (worker_send(PROTO_QR_CONFIRM, v) < 0) {
		v[QR_CONFIRM_condition].s = SLIDGE_INTERNAL_SERVER_ERROR;
		v[QR_CONFIRM_text].s = "The legacy module returned unusable data";
		v[QR_CONFIRM_text].len = 0;
		v[QR_CONFIRM_data].list = (struct proto_list){ 0 };
		worker_send(PROTO_QR_CONFIRM, v);
	}
	for (i = 0; i < kv.n; i++)
		explicit_bzero(kv.v[i], strlen(kv.v[i]));
	proto_list_free(&kv);
}

/* ---- send_qr in a session ------------------------------------------------------------ */

static void
session_qr_sent(void *arg, const char *url, const char *error)
{
	char *text = arg;

	/* The image could not be sent: the text still lets the user pair by hand. */
	if (url == NULL && session != NULL)
		send_text(session->user_jid, text);
	(void)error;
	free(text);
}

void
slidge_session_send_qr(struct slidge_session *s, const char *text)
{
	char *copy;

	if (s == NULL || s != session) {
		log_warn("slidge_session_send_qr: called without this worker's session");
		return;
	}
	if (text == NULL || *text == '\0') {
		log_warn("slidge_session_send_qr: empty text (nothing sent)");
		return;
	}
	if ((copy = strdup(text)) == NULL || qr_send(s->user_jid, text, session_qr_sent, copy) < 0) {
		log_warn("slidge_session_send_qr: the QR code could not be made; sending the text");
		send_text(s->user_jid, text);
		free(copy);
	}
}
