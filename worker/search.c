/* search.c: XEP-0055 jabber:iq:search and XEP-0100 jabber:iq:gateway on the gateway's
 * JID (slidge's dispatcher/search.py; reference/slidge.md §7.1 cases 1-2).
 *
 * The search form is SEARCH_TITLE, SEARCH_INSTRUCTIONS and SEARCH_FIELDS; a submitted
 * form goes to on_search, which declares the reported fields and adds items into its
 * reply (slidge's SearchResult). jabber:iq:gateway translates a prompt into a JID when
 * the gateway has exactly one search field: the prompt is searched for and the "jid"
 * value of the single result is the answer. These iqs reach the worker because the user
 * is registered (slidged answers only disco, register, ping and version itself). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "log.h"
#include "worker.h"
#include "xml.h"

#define NS_SEARCH "jabber:iq:search"
#define NS_GATEWAY "jabber:iq:gateway"
#define NS_DATA "jabber:x:data"
#define DEFAULT_TITLE "Search for legacy contacts"
#define FIELDS_MAX 32
#define ITEMS_MAX 1000
#define FORM_VALUES_MAX 32

struct search_ctx {
	uint64_t seq;
	int gateway;                   /* jabber:iq:gateway, not jabber:iq:search */
	char id[256];
	char from[JID_BUF], to[JID_BUF];
	char *var[FIELDS_MAX], *label[FIELDS_MAX], *type[FIELDS_MAX];
	size_t nfields;
	char **items;                  /* nitems * nfields values (NULL: empty) */
	size_t nitems;
	struct proto_list form;        /* the submitted values (KV) */
	search_result_cb *cmd_cb;      /* the find command's (cmd.h), instead of an iq */
	void *cmd_arg;
};

static void
ctx_free(void *arg)
{
	struct search_ctx *ctx = arg;
	size_t i;

	for (i = 0; i < ctx->nfields; i++) {
		free(ctx->var[i]);
		free(ctx->label[i]);
		free(ctx->type[i]);
	}
	for (i = 0; i < ctx->nitems * ctx->nfields; i++)
		free(ctx->items[i]);
	free(ctx->items);
	proto_list_free(&ctx->form);
	free(ctx);
}

static void search_done(struct slidge_reply *r, void *arg);

static struct search_ctx *
ctx_of(struct slidge_reply *r)
{
	if (r == NULL || r->done != search_done) {
		log_warn("slidge_search_*: not an on_search reply");
		return NULL;
	}
	return r->arg;
}

static char *
dup_or_null(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

void
search_reply_field(struct slidge_reply *r, const char *var, const char *label,
    const char *type)
{
	struct search_ctx *ctx = ctx_of(r);
	size_t i;

	if (ctx == NULL || var == NULL)
		return;
	if (ctx->nitems > 0 || ctx->nfields >= FIELDS_MAX) {
		log_warn("slidge_search_field: after items or too many fields, ignored");
		return;
	}
	i = ctx->nfields;
	if ((ctx->var[i] = strdup(var)) == NULL) {
		log_error("out of memory in a search result");
		return;
	}
	ctx->label[i] = dup_or_null(label);
	ctx->type[i] = dup_or_null(type);
	ctx->nfields++;
}

void
search_reply_item(struct slidge_reply *r, const char *const *values)
{
	struct search_ctx *ctx = ctx_of(r);
	char **items;
	size_t i;

	if (ctx == NULL || values == NULL || ctx->nfields == 0 || ctx->nitems >= ITEMS_MAX)
		return;
	items = realloc(ctx->items, (ctx->nitems + 1) * ctx->nfields * sizeof *items);
	if (items == NULL) {
		log_error("out of memory in a search result");
		return;
	}
	ctx->items = items;
	/* values has one entry per declared field, NULL for an empty one. */
	for (i = 0; i < ctx->nfields; i++)
		items[ctx->nitems * ctx->nfields + i] = dup_or_null(values[i]);
	ctx->nitems++;
}

static void
iq_open(struct xb *x, struct search_ctx *ctx, const char *ns)
{
	xb_iq_result_open_to(x, ctx->to, ctx->from, ctx->id);
	xb_open(x, "query");
	xb_attr(x, "xmlns", ns);
	xb_open_end(x);
}

static void
iq_close_emit(struct xb *x)
{
	xb_close(x, "query");
	xb_close(x, "iq");
	xb_emit(x);
	xb_free(x);
}

static void
result_form(struct search_ctx *ctx)
{
	struct xb x = { 0 };
	struct slidge_form_field cols[FIELDS_MAX] = { { 0 } };
	size_t i;

	for (i = 0; i < ctx->nfields; i++) {
		cols[i].var = ctx->var[i];
		cols[i].label = ctx->label[i];
		cols[i].type = ctx->type[i];
	}
	iq_open(&x, ctx, NS_SEARCH);
	xb_data_table(&x, NULL, cols, ctx->nfields, (const char *const *)ctx->items,
	    ctx->nitems);
	iq_close_emit(&x);
}

static void
result_gateway(struct search_ctx *ctx)
{
	struct xb x = { 0 };
	const char *jid = NULL;
	size_t i;

	for (i = 0; i < ctx->nfields; i++)
		if (strcmp(ctx->var[i], "jid") == 0)
			jid = ctx->items[i];
	if (jid == NULL) {
		stanza_error("iq", ctx->to, ctx->from, ctx->id, SLIDGE_INTERNAL_SERVER_ERROR,
		    "The search result has no JID");
		return;
	}
	iq_open(&x, ctx, NS_GATEWAY);
	xb_text(&x, "jid", NULL, jid);
	iq_close_emit(&x);
}

static void
search_done(struct slidge_reply *r, void *arg)
{
	struct search_ctx *ctx = arg;

	if (ctx->cmd_cb != NULL) {
		ctx->cmd_cb(r->ok ? NULL : r->condition, r->ok ? NULL : r->text, ctx->nfields,
		    ctx->var, ctx->label, ctx->type, ctx->items, ctx->nitems, ctx->cmd_arg);
		ctx_free(ctx);
		return;
	}
	if (!r->ok) {
		stanza_error("iq", ctx->to, ctx->from, ctx->id, r->condition, r->text);
	} else if (ctx->gateway) {
		if (ctx->nitems == 0)
			stanza_error("iq", ctx->to, ctx->from, ctx->id, SLIDGE_ITEM_NOT_FOUND,
			    "No contact was found with the info you provided.");
		else if (ctx->nitems > 1)
			stanza_error("iq", ctx->to, ctx->from, ctx->id, SLIDGE_BAD_REQUEST,
			    "Your search yielded more than one result.");
		else
			result_gateway(ctx);
	} else if (ctx->nitems == 0) {
		stanza_error("iq", ctx->to, ctx->from, ctx->id, SLIDGE_ITEM_NOT_FOUND,
		    "Nothing was found");
	} else {
		result_form(ctx);
	}
	worker_ack(ctx->seq);
	ctx_free(ctx);
}

static size_t
nsearch_fields(void)
{
	size_t n = 0;

	while (module->search_fields != NULL && module->search_fields[n].var != NULL)
		n++;
	return n;
}

static void
form_get(struct inbound *in)
{
	const struct slidge_form_field *f;
	struct xb x = { 0 };

	xb_iq_result_open(&x, in);
	xb_open(&x, "query");
	xb_attr(&x, "xmlns", NS_SEARCH);
	xb_open_end(&x);
	xb_open(&x, "x");
	xb_attr(&x, "xmlns", NS_DATA);
	xb_attr(&x, "type", "form");
	xb_open_end(&x);
	xb_text(&x, "title", NULL, module->search_title ? module->search_title : DEFAULT_TITLE);
	if (module->search_instructions != NULL && *module->search_instructions != '\0')
		xb_text(&x, "instructions", NULL, module->search_instructions);
	for (f = module->search_fields; f != NULL && f->var != NULL; f++) {
		xb_open(&x, "field");
		xb_attr(&x, "var", f->var);
		xb_attr(&x, "type", f->type ? f->type : "text-single");
		xb_attr(&x, "label", f->label);
		xb_open_end(&x);
		if (f->desc != NULL)
			xb_text(&x, "desc", NULL, f->desc);
		if (f->required)
			xb_empty(&x, "required", NULL);
		if (f->value != NULL)
			xb_text(&x, "value", NULL, f->value);
		xb_close(&x, "field");
	}
	xb_close(&x, "x");
	xb_close(&x, "query");
	xb_close(&x, "iq");
	xb_emit(&x);
	xb_free(&x);
}

/* The submitted x:data fields (first value of each) into ctx->form. -1 if none. */
static int
read_form(xmlNodePtr q, struct search_ctx *ctx)
{
	xmlNodePtr x, f, v;
	const char *var;
	char *text;
	size_t n = 0;

	if ((x = xml_child(q, "x", NS_DATA)) == NULL)
		return -1;
	for (f = xml_first_elem(x); f != NULL && n < FORM_VALUES_MAX; f = xml_next_elem(f)) {
		if (strcmp((const char *)f->name, "field") != 0 ||
		    (var = xml_attr(f, "var")) == NULL || strcmp(var, "FORM_TYPE") == 0)
			continue;
		v = xml_child(f, "value", NS_DATA);
		if ((text = v != NULL ? xml_text(v) : strdup("")) == NULL)
			return -1;
		if (proto_kv_set(&ctx->form, var, text) < 0) {
			free(text);
			return -1;
		}
		free(text);
		n++;
	}
	return 0;
}

static enum inbound_result
run_search(struct inbound *in, struct search_ctx *ctx)
{
	struct slidge_form form = { &ctx->form };
	struct slidge_reply *r;

	ctx->seq = in->seq;
	snprintf(ctx->id, sizeof ctx->id, "%s", in->id);
	snprintf(ctx->from, sizeof ctx->from, "%s", in->from);
	snprintf(ctx->to, sizeof ctx->to, "%s", in->to);
	if ((r = reply_new(session, search_done, ctx)) == NULL) {
		ctx_free(ctx);
		stanza_error("iq", in->to, in->from, in->id, SLIDGE_INTERNAL_SERVER_ERROR,
		    "Out of memory");
		return INBOUND_DONE;
	}
	r->free_arg = ctx_free;
	log_debug("search with %zu values", ctx->form.n / 2);
	module->on_search(session, &form, r);
	return INBOUND_DEFERRED;
}

int
search_run(const struct proto_list *form, search_result_cb *cb, void *arg)
{
	struct slidge_form f;
	struct search_ctx *ctx;
	struct slidge_reply *r;

	if (module->on_search == NULL || (ctx = calloc(1, sizeof *ctx)) == NULL)
		return -1;
	if (proto_list_copy(&ctx->form, form) < 0 ||
	    (r = reply_new(session, search_done, ctx)) == NULL) {
		ctx_free(ctx);
		return -1;
	}
	ctx->cmd_cb = cb;
	ctx->cmd_arg = arg;
	r->free_arg = ctx_free;
	f.kv = &ctx->form;
	module->on_search(session, &f, r);
	return 0;
}

enum inbound_result
search_iq(struct inbound *in, xmlNodePtr q)
{
	int gateway = strcmp(xml_ns(q), NS_GATEWAY) == 0;
	int get = strcmp(in->type, "get") == 0;
	struct search_ctx *ctx;
	struct xb x = { 0 };
	xmlNodePtr prompt;
	char *text;

	if (!in->to_component) {
		stanza_error("iq", in->to, in->from, in->id, SLIDGE_BAD_REQUEST,
		    "This can only be used on the component JID");
		return INBOUND_DONE;
	}
	if (gateway && nsearch_fields() != 1) {
		stanza_error("iq", in->to, in->from, in->id, SLIDGE_FEATURE_NOT_IMPLEMENTED,
		    "Use jabber search for this gateway");
		return INBOUND_DONE;
	}
	if (get && !gateway) {
		form_get(in);
		return INBOUND_DONE;
	}
	if (get) {
		xb_iq_result_open(&x, in);
		xb_open(&x, "query");
		xb_attr(&x, "xmlns", NS_GATEWAY);
		xb_open_end(&x);
		xb_text(&x, "desc", NULL, module->search_title ? module->search_title :
		    DEFAULT_TITLE);
		xb_text(&x, "prompt", NULL, module->search_fields[0].label ?
		    module->search_fields[0].label : module->search_fields[0].var);
		xb_close(&x, "query");
		xb_close(&x, "iq");
		xb_emit(&x);
		xb_free(&x);
		return INBOUND_DONE;
	}
	if (module->on_search == NULL) {
		stanza_error("iq", in->to, in->from, in->id, SLIDGE_FEATURE_NOT_IMPLEMENTED,
		    "Not implemented by the legacy module");
		return INBOUND_DONE;
	}
	if (!session_logged()) {
		stanza_error("iq", in->to, in->from, in->id, SLIDGE_INTERNAL_SERVER_ERROR,
		    "You are not logged to the legacy network");
		return INBOUND_DONE;
	}
	if ((ctx = calloc(1, sizeof *ctx)) == NULL) {
		stanza_error("iq", in->to, in->from, in->id, SLIDGE_INTERNAL_SERVER_ERROR,
		    "Out of memory");
		return INBOUND_DONE;
	}
	ctx->gateway = gateway;
	if (gateway) {
		prompt = xml_child(q, "prompt", NS_GATEWAY);
		text = prompt != NULL ? xml_text(prompt) : NULL;
		if (text == NULL || proto_kv_set(&ctx->form, module->search_fields[0].var,
		    text) < 0) {
			free(text);
			ctx_free(ctx);
			stanza_error("iq", in->to, in->from, in->id, SLIDGE_BAD_REQUEST,
			    "No prompt");
			return INBOUND_DONE;
		}
		free(text);
	} else if (read_form(q, ctx) < 0) {
		ctx_free(ctx);
		stanza_error("iq", in->to, in->from, in->id, SLIDGE_BAD_REQUEST,
		    "A submitted data form is expected");
		return INBOUND_DONE;
	}
	return run_search(in, ctx);
}
