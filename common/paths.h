/* SPDX-License-Identifier: BSD-3-Clause */
/* paths.h: the places and names that the PAM module, the daemon, the CLI
 * and the packaging agree on, each written once.
 *
 * Defaults only: at run time the daemon's --config, --socket, --state-dir
 * and --pid-file, the module's socket= and map= and the CLI's --socket,
 * $TOKENPOLICY_SOCKET and verify --state-dir choose others. The systemd
 * units, the init script and the man pages (FILES, ENVIRONMENT) spell the
 * same values for their readers; change them together.
 */
#pragma once

/* The daemon's runtime directory: its socket, the service map and its
 * PID file. Emptied at every boot. */
#define TP_RUNTIME_DIR "/run/tokenpolicy"

/* The daemon's Unix socket (PROTOCOL.md section 1). */
#define TP_DEFAULT_SOCKET TP_RUNTIME_DIR "/tokenpolicyd.sock"

/* The service map's file name. It lives beside whichever socket the
 * daemon serves (tp_svcmap_path()), so by default in TP_RUNTIME_DIR
 * (PROTOCOL.md section 12). */
#define TP_SVCMAP_FILE "services.map"

/* Written by a daemon that detaches and serves the default socket; read
 * by the init script (tokenpolicyd(8), FILES). */
#define TP_DEFAULT_PID_FILE TP_RUNTIME_DIR "/tokenpolicyd.pid"

/* The configuration file (tokenpolicy.conf(5)). */
#define TP_DEFAULT_CONFIG "/etc/tokenpolicy.conf"

/* The daemon's state directory: the session store, the signing key and
 * the public keys tokenpolicyctl verify reads (tokenpolicyd(8), FILES). */
#define TP_DEFAULT_STATE_DIR "/var/lib/tokenpolicy"

/* The daemon's copy of the service map in its state directory, which
 * outlives a reboot; the module reads it (with the default socket only)
 * when there is no map in TP_RUNTIME_DIR (pam_tokenpolicy(8), THE
 * SERVICE MAP). */
#define TP_DEFAULT_STATE_SVCMAP TP_DEFAULT_STATE_DIR "/" TP_SVCMAP_FILE

/* The session's environment: pam_tokenpolicy sets these with pam_putenv()
 * after a sign-in or re-authentication (pam_tokenpolicy(8), ENVIRONMENT).
 * The module reads TP_ENV_SESSION_ID back from the PAM environment for a
 * sign-out or re-authentication; tokenpolicyctl token from its own. */
#define TP_ENV_SESSION_ID "TOKENPOLICY_SESSION_ID"
#define TP_ENV_ACCESS_TOKEN "TOKENPOLICY_ACCESS_TOKEN"
#define TP_ENV_CLIENT "TOKENPOLICY_CLIENT"
