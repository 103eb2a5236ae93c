/* SPDX-License-Identifier: BSD-3-Clause */
/* svcmap.h: the service map, the file through which the PAM module knows
 * which PAM services belong to a client type without asking the daemon.
 *
 * tokenpolicyd writes it next to its socket (TP_SVCMAP_FILE) whenever a
 * configuration becomes the running one; the module reads it before it
 * asks anything, so that a service the policy does not cover never waits
 * for, or depends on, the daemon. The format is a few lines of text,
 * checked in full before any of it is believed (PROTOCOL.md, "The service
 * map"):
 *
 *     tokenpolicy-services 1
 *     unknown_client deny            (or the name of a client type)
 *     client ssh sshd                (one line per client type, its
 *     client web cockpit,webmail      services comma-separated, maybe none)
 *     client mobile
 *     end
 *
 * Parsing and building are bounded and allocate nothing; reading the file
 * applies the same trust rules as the socket. Library code: never logs.
 */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#include "paths.h"
#include "proto.h"

/* The file's name, TP_SVCMAP_FILE, is in paths.h. */
#define TP_SVCMAP_MAGIC "tokenpolicy-services 1"
/* Whole file, in bytes. 32 client lines of at most 7 + 64 + 1 + 1023 + 1
 * bytes and the three fixed lines stay far below. */
#define TP_SVCMAP_SIZE_MAX 65536
#define TP_SVCMAP_CLIENTS_MAX TP_POLICY_CLIENTS_MAX

/* What the map says about one service (tp_svcmap_lookup). */
enum tp_svcmap_answer {
        TP_SVCMAP_MAPPED = 1,   /* listed: client is its type */
        TP_SVCMAP_DEFAULT = 2,  /* listed nowhere; unknown_client names client */
        TP_SVCMAP_UNMAPPED = 3, /* listed nowhere; unknown_client = "deny" */
};

/* Check all of text[0..len) against the format and look `service` up.
 * Returns an enum tp_svcmap_answer, with the client type in
 * client[TP_CLIENT_MAX] for MAPPED and DEFAULT (empty for UNMAPPED);
 * -EBADMSG when the text is not exactly the format (a line too long, a
 * name with a forbidden byte, more than TP_SVCMAP_CLIENTS_MAX client
 * types, one defined twice, an unknown_client that names none of them, a
 * missing "end", anything after it); -EINVAL for a NULL or empty service.
 * A service listed twice answers its first client type, as the daemon's
 * lookup does. */
int tp_svcmap_lookup(const char *text, size_t len, const char *service, char *client);

/* Build the text into buf[0..size). Begin with unknown_client (NULL or
 * "deny": deny), add each client type with its services, then finish,
 * which returns the length (buf is NUL-terminated) or -EINVAL when a name
 * cannot be written in the format, -E2BIG for too many client types and
 * -ENOSPC when buf or TP_SVCMAP_SIZE_MAX is too small. The result is
 * checked with the parser before it is returned. */
struct tp_svcmap_builder {
        char *buf;
        size_t size;
        size_t len;
        size_t n_clients;
        int error;
};
void tp_svcmap_begin(struct tp_svcmap_builder *b, char *buf, size_t size, const char *unknown_client);
void tp_svcmap_add_client(struct tp_svcmap_builder *b, const char *name, char *const *services,
                          size_t n_services);
int tp_svcmap_finish(struct tp_svcmap_builder *b);

/* Read the map at path into buf[0..size) (size >= TP_SVCMAP_SIZE_MAX + 1
 * lets every valid map fit) if only expected_uid could have written it:
 * a regular file, not a symbolic link, owned by expected_uid and
 * writable by no one else, in a directory tp_io_check_dir() trusts.
 * Opened without following links and checked on the open descriptor.
 * Returns the number of bytes read; -ENOENT when there is none; -EPERM
 * with the reason in why (why_size bytes, may be 0) when it is not
 * trusted; -EFBIG when it is larger than TP_SVCMAP_SIZE_MAX or size - 1;
 * another -errno when it cannot be read. Never blocks on a FIFO. */
ssize_t tp_svcmap_read(const char *path, uid_t expected_uid, char *buf, size_t size, char *why,
                       size_t why_size);

/* The map's path for a socket path: the same directory, TP_SVCMAP_FILE.
 * Returns 0 or -ENAMETOOLONG. */
int tp_svcmap_path(const char *socket_path, char *out, size_t out_size);
