/* SPDX-License-Identifier: BSD-3-Clause */
/* wipe.c: tp_secret_wipe(), the project's only wipe of secrets (wipe.h).
 *
 * Why a plain memset() will not do: a store to memory that is never read
 * again is a dead store, and compilers remove it (memset of a buffer right
 * before it goes out of scope or is freed is the classic case). glibc's
 * explicit_bzero(3) exists for exactly this: it is documented never to be
 * removed, and glibc implements it as a memset followed by a compiler
 * barrier that makes the zeroed bytes count as observed (with
 * _FORTIFY_SOURCE it becomes __explicit_bzero_chk, which keeps that
 * promise). This wrapper is an ordinary function in its own translation
 * unit, so a caller cannot see through it either.
 *
 * Must never: be replaced by memset(); be made an inline function that a
 * compiler could merge into a dead store; call into a crypto library (the
 * PAM module links none).
 */
#include <string.h>

#include "wipe.h"

void tp_secret_wipe(void *p, size_t n)
{
        if (p)
                explicit_bzero(p, n);
}
