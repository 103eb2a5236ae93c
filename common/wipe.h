/* SPDX-License-Identifier: BSD-3-Clause */
/* wipe.h: the one way the PAM module, the daemon and the CLI wipe a secret
 * (a refresh token, a frame or request that carried one, a private key's
 * bytes) before its memory is freed, reused or goes out of scope.
 *
 * Every such wipe in the project goes through tp_secret_wipe(): no program
 * calls explicit_bzero, OPENSSL_cleanse or sodium_memzero itself, so there
 * is one place to read why a wipe cannot be optimised away. It needs
 * nothing but libc, so the PAM module (which links no crypto library) uses
 * it too. Never allocates, never fails, never logs.
 */
#pragma once

#include <stddef.h>

/* Set p[0..n) to zero in a way the compiler may not remove, even when the
 * memory is never read again. p may be NULL (then nothing happens). */
void tp_secret_wipe(void *p, size_t n);
