/* SPDX-License-Identifier: BSD-3-Clause */
/* conffile.h: the configuration file as the daemon reads it (conffile.c):
 * trust checks, the last valid copy, what is served when the file cannot
 * be used.
 */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#include "config.h"
#include "daemon.h"

/* Is the configuration at path one that only root or `owner` could have
 * written or put in place (tp_trust_path)? 0, or -EPERM / -errno with the
 * whole message for the administrator in msg. */
int tp_conffile_trust(const char *path, uid_t owner, char *msg, size_t msg_size);

/* tp_conffile_trust(), then tp_config_load_file(); every error in errs. */
int tp_conffile_load(const char *path, uid_t owner, struct tp_config **ret, struct tp_config_errors *errs);

/* At start, once the state directory exists: load d->config_path and keep
 * it as the last valid configuration; when it cannot be used, serve the
 * last valid one instead (config_state TP_CONFIG_LAST_GOOD, logged and
 * audited). Returns 0 with d->config set, or a negative errno when there
 * is nothing valid to serve (every error logged). */
int tp_conffile_start(struct tp_daemon *d);

/* Load the config at d->config_path and, when valid, replace the running
 * one (and keep it as the last valid one). Returns 0, or a negative errno
 * with every error in errs: the running policy is kept and status says
 * why the file is not in force. Tells the service manager nothing: see
 * tp_control_reload(). */
int tp_conffile_reload(struct tp_daemon *d, struct tp_config_errors *errs);

/* The SHA-256 (hex) of the policy a configuration puts in force: every
 * client type's effective values, in name order, so that two hosts with
 * the same policy have the same digest whatever the layout of their files. */
int tp_conffile_policy_digest(const struct tp_config *c, char out[TP_DIGEST_HEX_MAX]);

/* Fleet mode: publish this host's policy digest in the store, for
 * `tokenpolicyctl hosts`. At start and after each reload; failures are
 * logged. */
void tp_conffile_publish(struct tp_daemon *d);
