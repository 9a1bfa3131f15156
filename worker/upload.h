/* upload.h: putting a file where the user's XMPP client can fetch it: XEP-0363 HTTP
 * upload (a slot from the upload service, then an HTTP PUT), or slidge's no-upload mode
 * (a copy, move or link into --no-upload-path, served by some web server under
 * --no-upload-url-prefix). Used for attachments (attach.c) and QR codes (qr.c). */
#ifndef SLIDGE_UPLOAD_H
#define SLIDGE_UPLOAD_H

#include <stddef.h>

/* Called exactly once: url is the public GET URL, NULL on failure; error is then a human
 * text (the log says more). Both strings are valid during the call only. */
typedef void upload_done_cb(void *arg, const char *url, const char *error);

/* Upload len bytes (copied) as name/content_type (content_type NULL: guessed from the
 * name) through XEP-0363 or the no-upload path; calls done exactly once, later (never
 * from inside this call). 0, or -1 if it cannot start (done is then not called). */
int upload_bytes(const void *data, size_t len, const char *name, const char *content_type,
    upload_done_cb *done, void *arg);
/* The same for the file at path (read while uploading; it must stay until done).
 * name NULL: the path's last component. */
int upload_path(const char *path, const char *name, const char *content_type,
    upload_done_cb *done, void *arg);

/* ---- used by the attachment code and main.c ---- */

/* The same as upload_path, with the legacy file id that names the no-upload directory
 * (slidge's <legacy_file_id or uuid>/<uuid>/<name>; may be NULL). take 1: path is a
 * temporary file of the caller's, handed over (the no-upload mode moves it into place;
 * it is removed at the end). With --no-upload-method move, path is gone once done is
 * called. */
int upload_file(const char *path, const char *name, const char *content_type,
    const char *legacy_file_id, int take, upload_done_cb *done, void *arg);
/* Set an option from the worker's command line ("upload-service", "upload-requester",
 * "no-upload-path", "no-upload-url-prefix", "no-upload-method",
 * "no-upload-file-read-others"). -1 (with a message on stderr) if the value is bad. */
int upload_set_option(const char *name, const char *value);
/* The directory the no-upload mode writes into (the sandbox must let us write it), or
 * NULL. */
const char *upload_no_upload_path(void);
/* Cancel every upload in progress (their callbacks are called with an error). */
void upload_free_all(void);
/* Write len bytes to a new file path (mode 0600; it must not exist). -1 (errno set, the
 * file removed) on failure. */
int upload_write_file(const char *path, const void *data, size_t len);
/* A random (version 4) UUID, as text, into out. */
void upload_uuid(char out[37]);
/* A MIME type guessed from a file name's suffix (static string; never NULL). */
const char *upload_guess_type(const char *name);

#endif
