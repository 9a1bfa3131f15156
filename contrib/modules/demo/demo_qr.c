/* demo_qr.c: the demo network's QR codes: the QRCODE registration flow
 * (--demo-registration qr) and send_qr from a session.
 *
 * DEMO.md: get_qr_text returns demo-pair:<username>; the network "scans" it by itself and
 * calls confirm_qr one second later; /qr T makes the session send a QR code of T.
 *
 * Additions to DEMO.md (only added, as its contract requires):
 *   username qr-never     the code is never scanned: confirm_qr is never called (the
 *                         registration ends with slidged's --qr-timeout)
 *   username qr-refused   one second later the network refuses the code:
 *                         confirm_qr with not-authorized "The QR code was refused"
 *   on success, confirm_qr adds paired=yes to legacy_module_data */
#include <stdio.h>
#include <string.h>

#include "legacy.h"
#include "demo_qr.h"

#define SCAN_DELAY 1.0

/* A register worker serves one registration: one pending scan at most. */
static char scan_jid[3072];
static int scan_refused;

static void
scan(struct slidge_session *s, void *arg)
{
	static const struct slidge_data_item paired[] = {
		{ "paired", "yes" },
		{ NULL, NULL },
	};

	(void)s;
	(void)arg;
	if (scan_refused)
		slidge_confirm_qr(scan_jid, SLIDGE_NOT_AUTHORIZED, "The QR code was refused",
		    NULL);
	else
		slidge_confirm_qr(scan_jid, NULL, NULL, paired);
}

void
demo_qr_shown(const char *user_jid, const char *username)
{
	if (strcmp(username, "qr-never") == 0)
		return;
	snprintf(scan_jid, sizeof scan_jid, "%s", user_jid);
	scan_refused = strcmp(username, "qr-refused") == 0;
	if (slidge_timer_add(NULL, SCAN_DELAY, scan, NULL) == NULL)
		slidge_log(NULL, SLIDGE_LOG_ERROR, "demo network: cannot schedule the QR scan");
}

void
demo_qr_script(struct slidge_session *s, const char *args)
{
	slidge_session_send_qr(s, args);
}
