/* SPDX-License-Identifier: BSD-3-Clause */
/* mapfile.h: the service map the daemon publishes for the PAM module.
 *
 * Whenever a configuration becomes the running one (at start, at every
 * successful reload), the daemon writes which PAM services belong to which
 * client type into TP_SVCMAP_FILE next to its socket (common/svcmap.h),
 * so that the module can leave services the policy does not cover alone
 * without asking, and so without depending on the daemon. The same map
 * goes into the state directory too, where it survives a reboot: the
 * runtime directory is emptied at boot, and until the daemon runs again
 * the module reads that copy instead.
 */
#pragma once

#include "config.h"

/* Write c's service map into the state directory (state_dir/TP_SVCMAP_FILE),
 * then next to socket_path (tp_svcmap_path()). Each is
 * written to a temporary file in its directory, mode 0644, synced and
 * renamed over the old map, so a reader sees the old map or the new one,
 * never a mix, and a reboot finds the new one; a map that already holds
 * exactly this text (a regular 0644 file of ours) is left as it is. When
 * one cannot be written its old map is removed, so that the module never
 * believes a map of another configuration than the running one. Logs
 * each failure. Returns 0, or the first negative errno. */
int tp_mapfile_publish(const struct tp_config *c, const char *socket_path, const char *state_dir);
