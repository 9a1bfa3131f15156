/* register.c: role "register", one registration in progress (reference/slidge.md §6).
 *
 * slidged drives the flow (forms, IBR, the store); this worker only runs the module's
 * checks, one VALIDATE at a time: step "form" -> validate(), "2fa" ->
 * validate_two_factor_code(), "qr" -> get_qr_text(). The answer carries the
 * legacy_module_data to store: what the hook set with slidge_reply_set, merged onto the
 * data so far. Like slidge, a validate() that sets nothing stores the raw form.
 *
 * Step "qr" is answered differently: qr.c shows the code to the user (upload, attachment,
 * text) and answers QR_SHOWN; the worker then stays until slidged stops it, so that the
 * module can call slidge_confirm_qr when its network sees the code flashed. The iq
 * results of the upload (the slot) reach this worker as STANZA frames. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "qr.h"
#include "worker.h"
#include "xml.h"

struct validate_ctx {
	uint64_t id;
	char step[16];
	char user_jid[JID_BUF];
	struct proto_list form;   /* the submitted form (credentials: wiped on free) */
	struct proto_list data;   /* legacy_module_data so far */
};

static void
kv_wipe_free(struct proto_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (l->v[i] != NULL)
			explicit_bzero(l->v[i], strlen(l->v[i]));
	proto_list_free(l);
	*l = (struct proto_list){ 0 };
}

static void
ctx_free(void *arg)
{
	struct validate_ctx *ctx = arg;

	kv_wipe_free(&ctx->form);
	kv_wipe_free(&ctx->data);
	free(ctx);
}

/* Overlay every pair of src onto dst. -1 on OOM. */
static int
kv_merge(struct proto_list *dst, const struct proto_list *src)
{
	size_t i;

	for (i = 0; i + 1 < src->n; i += 2)
		if (proto_kv_set(dst, src->v[i], src->v[i + 1]) < 0)
			return -1;
	return 0;
}

static void
validate_done(struct slidge_reply *r, void *arg)
{
	struct validate_ctx *ctx = arg;
	struct proto_val v[VALIDATE_RESULT__NFIELDS] = { 0 };
	struct proto_list data = { 0 };
	const struct proto_list *overlay = NULL;

	if (strcmp(ctx->step, "qr") == 0) {
		if (r->ok)
			qr_register_show(ctx->id, ctx->user_jid, r->value);
		else
			qr_register_fail(ctx->id, r->condition, r->text);
		ctx_free(ctx);
		return;
	}
	v[VALIDATE_RESULT_id].u = ctx->id;
	if (r->kv_set)
		overlay = &r->kv;
	else if (strcmp(ctx->step, "form") == 0)
		overlay = &ctx->form;
	if (r->ok) {
		if (proto_list_copy(&data, &ctx->data) < 0 ||
		    (overlay != NULL && kv_merge(&data, overlay) < 0)) {
			kv_wipe_free(&data);
			proto_list_copy(&data, &ctx->data);
			v[VALIDATE_RESULT_condition].s = SLIDGE_INTERNAL_SERVER_ERROR;
			v[VALIDATE_RESULT_text].s = "Out of memory";
		} else {
			v[VALIDATE_RESULT_condition].s = "";
			v[VALIDATE_RESULT_text].s = r->value ? r->value : "";
		}
		v[VALIDATE_RESULT_flags].u = r->no_2fa ? PROTO_VALIDATE_NO_2FA : 0;
		log_info("registration step %s accepted", ctx->step);
	} else {
		proto_list_copy(&data, &ctx->data);
		v[VALIDATE_RESULT_condition].s = stanza_condition(r->condition) ?
		    r->condition : SLIDGE_INTERNAL_SERVER_ERROR;
		v[VALIDATE_RESULT_text].s = r->text ? r->text : "";
		log_info("registration step %s refused: %s", ctx->step, r->condition);
	}
	v[VALIDATE_RESULT_text].len = worker_clip(v[VALIDATE_RESULT_text].s,
	    proto_desc(PROTO_VALIDATE_RESULT)->fields[VALIDATE_RESULT_text].max);
	if (v[VALIDATE_RESULT_text].len == 0)
		v[VALIDATE_RESULT_text].s = "";
	v[VALIDATE_RESULT_data].list = data;
	if (worker_send(PROTO_VALIDATE_RESULT, v) < 0) {
		/* Most likely data the table refuses (too many or too long values): slidged
		 * must still get an answer, or the registration hangs until its timeout. */
		v[VALIDATE_RESULT_condition].s = SLIDGE_INTERNAL_SERVER_ERROR;
		v[VALIDATE_RESULT_text].s = "The legacy module returned unusable data";
		v[VALIDATE_RESULT_text].len = 0;
		v[VALIDATE_RESULT_data].list = (struct proto_list){ 0 };
		worker_send(PROTO_VALIDATE_RESULT, v);
	}
	kv_wipe_free(&data);
	ctx_free(ctx);
}

void
register_validate(struct proto_msg *m)
{
	const char *step = m->v[VALIDATE_step].s;
	const char *user_jid = m->v[VALIDATE_user_jid].s;
	const char *code;
	struct validate_ctx *ctx;
	struct slidge_form form;
	struct slidge_reply *r;

	log_set_prefix(user_jid);
	if ((ctx = calloc(1, sizeof *ctx)) == NULL)
		fatal("calloc");
	ctx->id = m->v[VALIDATE_id].u;
	snprintf(ctx->step, sizeof ctx->step, "%s", step);
	snprintf(ctx->user_jid, sizeof ctx->user_jid, "%s", user_jid);
	/* Taken from the message, which the channel frees after this call. */
	ctx->form = m->v[VALIDATE_form].list;
	m->v[VALIDATE_form].list = (struct proto_list){ 0 };
	ctx->data = m->v[VALIDATE_data].list;
	m->v[VALIDATE_data].list = (struct proto_list){ 0 };
	if ((r = reply_new(NULL, validate_done, ctx)) == NULL)
		fatal("calloc");
	r->free_arg = ctx_free;
	r->data = &ctx->data;
	form.kv = &ctx->form;

	log_debug("registration step %s", ctx->step);
	if (strcmp(step, "form") == 0) {
		if (module->validate == NULL)
			goto not_implemented;
		module->validate(user_jid, &form, r);
	} else if (strcmp(step, "2fa") == 0) {
		if (module->validate_two_factor_code == NULL)
			goto not_implemented;
		code = proto_kv_get(&ctx->form, "code");
		module->validate_two_factor_code(user_jid, code ? code : "", r);
	} else if (strcmp(step, "qr") == 0) {
		if (module->get_qr_text == NULL)
			goto not_implemented;
		qr_register_start(user_jid);
		module->get_qr_text(user_jid, r);
	} else {
		reply_complete_error(r, SLIDGE_BAD_REQUEST, "Unknown registration step");
	}
	return;
not_implemented:
	reply_complete_error(r, SLIDGE_FEATURE_NOT_IMPLEMENTED,
	    "Not implemented by the legacy module");
}

/* A STANZA for a register worker: only the answer to an iq it sent (the upload slot of
 * the QR code), which slidged routes here by the id it gave that iq. Nothing is acked:
 * slidged keeps no queue for register workers. */
void
register_stanza(struct proto_msg *m)
{
	struct inbound in = { 0 };
	const char *why = NULL, *from;
	struct jid j;

	in.seq = m->v[STANZA_seq].u;
	if ((in.doc = xml_parse_stanza(m->v[STANZA_xml].s, m->v[STANZA_xml].len, XML_DEPTH_MAX,
	    &why)) == NULL || (in.root = xmlDocGetRootElement(in.doc)) == NULL) {
		log_warn("ignoring an unparsable stanza: %s", why ? why : "no root");
		goto done;
	}
	in.kind = (const char *)in.root->name;
	in.type = xml_attr(in.root, "type");
	in.id = xml_attr(in.root, "id");
	from = xml_attr(in.root, "from");
	if (strcmp(in.kind, "iq") != 0 || in.type == NULL || (strcmp(in.type, "result") != 0 &&
	    strcmp(in.type, "error") != 0) || from == NULL || jid_parse(from, &j) < 0 ||
	    jid_full(&j, in.from, sizeof in.from) < 0) {
		log_warn("ignoring a stanza that answers nothing this worker asked");
		goto done;
	}
	if (!iq_answer(&in))
		log_debug("an iq %s nobody waits for", in.type);
done:
	if (in.doc != NULL)
		xmlFreeDoc(in.doc);
}
