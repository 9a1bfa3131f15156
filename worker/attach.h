/* attach.h: attachments both ways (issue 5): send_file towards the user (attach.c) and
 * files from the user to on_file. Included after worker.h. */
#ifndef SLIDGE_ATTACH_H
#define SLIDGE_ATTACH_H

#include <stddef.h>

/* Record tag of the attachment cache in the per-user store (store_kv_*, parity.h):
 * legacy file id -> URL and metadata. */
#define KV_ATTACH 'F'

/* An option from the worker's command line ("attachment-max-size",
 * "use-attachment-original-urls", "attachment-maximum-file-name-length"); upload and
 * HTTP options are passed on. -1 (with a message on stderr) if the value is bad. */
int attach_set_option(const char *name, const char *value);
/* worker_send's check of each EMIT: 1 if the stanza was kept back (a message from a JID
 * that has a file in flight: it goes out after the file, in order), 0 to send it now. */
int attach_hold(const char *xml, size_t len);
/* The user sent url (XEP-0066) to c: download it (size-limited), then call the module's
 * on_file with r (opts copied); a failed download completes r with an error. */
void attach_on_file(struct slidge_contact *c, const char *url,
    const struct slidge_text_opts *opts, struct slidge_reply *r);
/* attach_bob.c: stickers (XEP-0231). The cid of a sticker in msg's XHTML-IM body (one
 * paragraph holding only one <img src='cid:...'>), or NULL; it belongs to msg. */
const char *attach_sticker_cid(xmlNodePtr msg);
/* The user (full JID from) sent the sticker cid to c in msg: its data from the cache,
 * from msg, or asked from the user's client; then on_sticker with r (opts copied); a
 * failure completes r with an error. */
void attach_on_sticker(struct slidge_contact *c, const char *from, const char *cid,
    xmlNodePtr msg, const struct slidge_text_opts *opts, struct slidge_reply *r);
/* An iq with <data xmlns='urn:xmpp:bob'/>: the data of a cid we hold, else
 * item-not-found. */
enum inbound_result attach_bob_iq(struct inbound *in, xmlNodePtr q);
/* The worker exits: cancel transfers, send what was kept back, free everything. */
void attach_free_all(void);

#endif
