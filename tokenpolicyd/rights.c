/* SPDX-License-Identifier: BSD-3-Clause */
/* rights.c: whose is what (rights.h).
 *
 * The peer's identity is SO_PEERCRED's, taken at accept (server.c), never
 * anything the peer wrote. Administrators (root and the daemon's own uid)
 * own everything; every other peer its own uid's sessions and its own
 * login name, compared exactly.
 */
#include "rights.h"

#include <string.h>

#include "log.h"

bool tp_rights_is_user(const struct tp_peer *peer, const char *user)
{
        return peer->admin || strcmp(user, peer->user) == 0;
}

bool tp_rights_owns(const struct tp_peer *peer, uint32_t uid)
{
        return peer->admin || peer->uid == (uid_t)uid;
}

void tp_rights_audit_refusal(const struct tp_peer *peer, const struct tp_reply *rep)
{
        tp_audit(&(struct tp_audit){ .event = "deny", .user = peer->user, .reason = rep->message,
                                     .peer_uid = (long)peer->uid });
}
