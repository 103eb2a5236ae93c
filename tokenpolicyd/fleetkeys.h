/* SPDX-License-Identifier: BSD-3-Clause */
/* fleetkeys.h: the public signing keys of a fleet (fleetkeys.c).
 *
 * Each host signs with its own Ed25519 key (a stolen host key forges
 * nothing for the others' issuers) and publishes the public half in the
 * fleet's store. Every daemon keeps the whole set: in memory, to verify a
 * token minted on any host of the fleet (VERIFY), and in its state
 * directory, for verifiers that read files:
 *   fleet-jwks.json        every host's keys, one JWKS document (0644)
 *   fleet-keys/<kid>       another host's key: its JWK "x", a newline, the
 *                          issuer (that host's name), a newline (0644)
 * A key is accepted only for tokens whose "iss" is the name of the host
 * that published it. Nothing here acts with a store of one host.
 */
#pragma once

#include <stdint.h>

#include "daemon.h"
#include "jwt.h"

#define TP_FLEET_JWKS_FILE "fleet-jwks.json"
#define TP_FLEET_KEYS_DIR "fleet-keys"

/* Publish this host's current key and the retained ones still in force,
 * when they changed since the last call (or force). Failures are logged
 * and retried at the next refresh. */
void tp_fleetkeys_publish(struct tp_daemon *d, bool force);

/* Read every host's keys from the store into memory and the state
 * directory. At start and every TP_FLEET_KEYS_REFRESH_MS. */
#define TP_FLEET_KEYS_REFRESH_MS 30000
void tp_fleetkeys_refresh(struct tp_daemon *d);

/* Verify a token another host of the fleet signed: tp_jwt_verify() with
 * that host's key (-ENOKEY when no host publishes its kid), and then
 * -EACCES when its "iss" is not the name of the host that published the
 * key. */
int tp_fleetkeys_verify(struct tp_daemon *d, const char *token, int64_t now, struct tp_jwt_claims *ret);

void tp_fleetkeys_free(struct tp_daemon *d);
