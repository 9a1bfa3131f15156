/* vcard.c: contacts' vCards (LegacyContact.set_vcard; reference/slidge.md §1: XEP-0054,
 * XEP-0292).
 *
 * The fields the module sets are kept as strings and written three ways:
 *   - vCard4 (XEP-0292) for an iq get <vcard xmlns='urn:ietf:params:xml:ns:vcard-4.0'/>,
 *     for the PEP node urn:xmpp:vcard4 and its events, in slixmpp's VCard4 shapes
 *     (impp, nickname, fn, n, bday, note, url, email, tel, adr);
 *   - vcard-temp (XEP-0054) for an iq get <vCard xmlns='vcard-temp'/>, with the avatar as
 *     PHOTO (TYPE, BINVAL). slidge copies its vCard4 elements into the vcard-temp
 *     namespace, which no vcard-temp reader understands; here the fields are written as
 *     XEP-0054 defines them (FN, N, NICKNAME, BDAY, TEL, EMAIL, URL, NOTE, ADR).
 * The gateway's own vcard-temp carries its avatar (COMPONENT_AVATAR). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "worker.h"
#include "xml.h"

#define NS_VCARD4 "urn:ietf:params:xml:ns:vcard-4.0"
#define NS_VCARD_TEMP "vcard-temp"
#define VCARD_PHONES_MAX 32

enum { VC_FN, VC_GIVEN, VC_SURNAME, VC_BDAY, VC_NOTE, VC_URL, VC_EMAIL, VC_COUNTRY,
    VC_LOCALITY, VC_N };

struct vcard {
	char *f[VC_N];
	char *phones[VCARD_PHONES_MAX];
	size_t nphones;
};

void
vcard_free(struct vcard *v)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < VC_N; i++)
		free(v->f[i]);
	for (i = 0; i < v->nphones; i++)
		free(v->phones[i]);
	free(v);
}

static int
dup_field(char **dst, const char *src)
{
	if (src == NULL || *src == '\0')
		return 0;
	return (*dst = strdup(src)) == NULL ? -1 : 0;
}

static int
add_phone(struct vcard *v, const char *p)
{
	if (p == NULL || *p == '\0' || v->nphones >= VCARD_PHONES_MAX)
		return 0;
	if ((v->phones[v->nphones] = strdup(p)) == NULL)
		return -1;
	v->nphones++;
	return 0;
}

void
vcard_contact_set(struct slidge_contact *c, const struct slidge_vcard *in)
{
	struct vcard *v = NULL;
	const char *const *p;
	int err = 0;

	if (in != NULL) {
		if ((v = calloc(1, sizeof *v)) == NULL) {
			log_error("out of memory setting a vCard");
			return;
		}
		err |= dup_field(&v->f[VC_FN], in->full_name);
		err |= dup_field(&v->f[VC_GIVEN], in->given);
		err |= dup_field(&v->f[VC_SURNAME], in->surname);
		err |= dup_field(&v->f[VC_BDAY], in->birthday);
		err |= dup_field(&v->f[VC_NOTE], in->note);
		err |= dup_field(&v->f[VC_URL], in->url);
		err |= dup_field(&v->f[VC_EMAIL], in->email);
		err |= dup_field(&v->f[VC_COUNTRY], in->country);
		err |= dup_field(&v->f[VC_LOCALITY], in->locality);
		err |= add_phone(v, in->phone);
		for (p = in->phones; p != NULL && *p != NULL; p++)
			err |= add_phone(v, *p);
		if (err) {
			log_error("out of memory setting a vCard");
			vcard_free(v);
			return;
		}
	}
	vcard_free(c->vcard);
	c->vcard = v;
	if (!c->updating_info && c->is_friend)
		pep_send_vcard(c, NULL);
}

/* <name><child>text</child></name> */
static void
wrapped(struct xb *x, const char *name, const char *child, const char *text)
{
	xb_open(x, name);
	xb_open_end(x);
	xb_text(x, child, NULL, text);
	xb_close(x, name);
}

void
vcard_write_vcard4(struct xb *x, const struct slidge_contact *c)
{
	const struct vcard *v = c->vcard;
	char buf[JID_BUF + 8];
	size_t i;

	if (v == NULL) {
		/* slidge: no set_vcard, an empty vcard */
		xb_empty(x, "vcard", NS_VCARD4);
		return;
	}
	xb_open(x, "vcard");
	xb_attr(x, "xmlns", NS_VCARD4);
	xb_open_end(x);
	/* slidge's set_vcard: impp first, the name as nickname, fn defaults to the name. */
	snprintf(buf, sizeof buf, "xmpp:%s", c->jid);
	wrapped(x, "impp", "uri", buf);
	if (c->name != NULL)
		wrapped(x, "nickname", "text", c->name);
	if (v != NULL && v->f[VC_FN] != NULL)
		wrapped(x, "fn", "text", v->f[VC_FN]);
	else if (c->name != NULL)
		wrapped(x, "fn", "text", c->name);
	if (v->f[VC_GIVEN] != NULL || v->f[VC_SURNAME] != NULL) {
		xb_open(x, "n");
		xb_open_end(x);
		if (v->f[VC_SURNAME] != NULL)
			xb_text(x, "surname", NULL, v->f[VC_SURNAME]);
		if (v->f[VC_GIVEN] != NULL)
			xb_text(x, "given", NULL, v->f[VC_GIVEN]);
		xb_close(x, "n");
	}
	if (v->f[VC_BDAY] != NULL)
		wrapped(x, "bday", "date", v->f[VC_BDAY]);
	if (v->f[VC_NOTE] != NULL)
		wrapped(x, "note", "text", v->f[VC_NOTE]);
	if (v->f[VC_URL] != NULL)
		wrapped(x, "url", "uri", v->f[VC_URL]);
	if (v->f[VC_EMAIL] != NULL)
		wrapped(x, "email", "text", v->f[VC_EMAIL]);
	for (i = 0; i < v->nphones; i++) {
		snprintf(buf, sizeof buf, "tel:%s", v->phones[i]);
		wrapped(x, "tel", "uri", buf);
	}
	if (v->f[VC_COUNTRY] != NULL) {
		xb_open(x, "adr");
		xb_open_end(x);
		if (v->f[VC_LOCALITY] != NULL)
			xb_text(x, "locality", NULL, v->f[VC_LOCALITY]);
		xb_text(x, "country", NULL, v->f[VC_COUNTRY]);
		xb_close(x, "adr");
	}
	xb_close(x, "vcard");
}

static void
write_photo(struct xb *x, const struct avatar *a)
{
	char *b64;

	if (a == NULL)
		return;
	if ((b64 = avatar_base64(a->data, a->len)) == NULL) {
		x->err = 1;
		return;
	}
	xb_open(x, "PHOTO");
	xb_open_end(x);
	xb_text(x, "TYPE", NULL, a->type);
	xb_text(x, "BINVAL", NULL, b64);
	xb_close(x, "PHOTO");
	free(b64);
}

static void
write_vcard_temp(struct xb *x, const struct slidge_contact *c)
{
	const struct vcard *v = c != NULL ? c->vcard : NULL;
	size_t i;

	xb_open(x, "vCard");
	xb_attr(x, "xmlns", NS_VCARD_TEMP);
	xb_open_end(x);
	if (c == NULL) {
		write_photo(x, avatar_component());
		goto done;
	}
	if (v != NULL && v->f[VC_FN] != NULL)
		xb_text(x, "FN", NULL, v->f[VC_FN]);
	else if (c->name != NULL)
		xb_text(x, "FN", NULL, c->name);
	if (c->name != NULL)
		xb_text(x, "NICKNAME", NULL, c->name);
	if (v != NULL && (v->f[VC_GIVEN] != NULL || v->f[VC_SURNAME] != NULL)) {
		xb_open(x, "N");
		xb_open_end(x);
		if (v->f[VC_SURNAME] != NULL)
			xb_text(x, "FAMILY", NULL, v->f[VC_SURNAME]);
		if (v->f[VC_GIVEN] != NULL)
			xb_text(x, "GIVEN", NULL, v->f[VC_GIVEN]);
		xb_close(x, "N");
	}
	write_photo(x, c->avatar);
	if (v == NULL)
		goto done;
	if (v->f[VC_BDAY] != NULL)
		xb_text(x, "BDAY", NULL, v->f[VC_BDAY]);
	for (i = 0; i < v->nphones; i++)
		wrapped(x, "TEL", "NUMBER", v->phones[i]);
	if (v->f[VC_EMAIL] != NULL) {
		xb_open(x, "EMAIL");
		xb_open_end(x);
		xb_empty(x, "INTERNET", NULL);
		xb_text(x, "USERID", NULL, v->f[VC_EMAIL]);
		xb_close(x, "EMAIL");
	}
	if (v->f[VC_URL] != NULL)
		xb_text(x, "URL", NULL, v->f[VC_URL]);
	if (v->f[VC_NOTE] != NULL)
		xb_text(x, "DESC", NULL, v->f[VC_NOTE]);
	if (v->f[VC_COUNTRY] != NULL || v->f[VC_LOCALITY] != NULL) {
		xb_open(x, "ADR");
		xb_open_end(x);
		if (v->f[VC_LOCALITY] != NULL)
			xb_text(x, "LOCALITY", NULL, v->f[VC_LOCALITY]);
		if (v->f[VC_COUNTRY] != NULL)
			xb_text(x, "CTRY", NULL, v->f[VC_COUNTRY]);
		xb_close(x, "ADR");
	}
done:
	xb_close(x, "vCard");
}

enum inbound_result
vcard_iq(struct inbound *in, xmlNodePtr q)
{
	struct slidge_contact *c = NULL;
	struct xb x = { 0 };
	const char *why, *ns = xml_ns(q);
	int temp = strcmp(ns, NS_VCARD_TEMP) == 0;

	if (strcmp(in->type, "get") != 0) {
		/* Setting a contact's vCard makes no sense; rooms (on_avatar) come later. */
		stanza_error("iq", in->to, in->from, in->id, SLIDGE_NOT_ALLOWED,
		    "You cannot set the vCard of this entity");
		return INBOUND_DONE;
	}
	if (in->to_contact && (c = contact_by_local(session, in->jto.local, &why)) == NULL) {
		stanza_error("iq", in->to, in->from, in->id, SLIDGE_ITEM_NOT_FOUND, why);
		return INBOUND_DONE;
	}
	if (c == NULL && !temp) {
		stanza_error("iq", in->to, in->from, in->id, SLIDGE_ITEM_NOT_FOUND, NULL);
		return INBOUND_DONE;
	}
	xb_iq_result_open(&x, in);
	if (temp)
		write_vcard_temp(&x, c);
	else
		vcard_write_vcard4(&x, c);
	xb_close(&x, "iq");
	xb_emit(&x);
	xb_free(&x);
	return INBOUND_DONE;
}
