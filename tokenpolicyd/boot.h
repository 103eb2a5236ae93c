/* SPDX-License-Identifier: BSD-3-Clause */
/* boot.h: sessions of other boots (boot.c). */
#pragma once

#include "daemon.h"

/* Learn the running boot; take sessions recorded before the store knew
 * boots and signed in since this boot began for this boot's, and close
 * (and audit) every other active session of another boot. At start,
 * before anything is served. Logs why it failed. */
int tp_boot_start(struct tp_daemon *d);
