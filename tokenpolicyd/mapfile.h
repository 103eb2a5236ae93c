/* mapfile.h: the service map the daemon publishes for the PAM module.
 *
 * Whenever a configuration becomes the running one (at start, at every
 * successful reload), the daemon writes which PAM services belong to which
 * client type into TP_SVCMAP_FILE next to its socket (common/svcmap.h),
 * so that the module can leave services the policy does not cover alone
 * without asking, and so without depending on the daemon.
 */
#pragma once

#include "config.h"

/* Write c's service map next to socket_path: to a temporary file in the
 * same directory, mode 0644, then renamed over the old map, so a reader
 * sees the old map or the new one, never a mix. When it cannot be
 * written the old map is removed, so that the module asks the daemon
 * rather than believe a map of another configuration. Logs a failure.
 * Returns 0 or a negative errno. */
int tp_mapfile_publish(const struct tp_config *c, const char *socket_path);
