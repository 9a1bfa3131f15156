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
/* The worker exits: cancel transfers, send what was kept back, free everything. */
void attach_free_all(void);

#endif
