/* SPDX-License-Identifier: BSD-3-Clause */
/* pam_tptest_data.c: a test-only PAM module standing in for pam_systemd's
 * side of the handshake: at session open it writes the PAM data item
 * "systemd.runtime_max_sec" (or "none") to the file named by out=FILE, so a
 * test can see what pam_tokenpolicy left for pam_systemd. Never installed.
 */
#include <stdio.h>
#include <string.h>

#include <security/pam_modules.h>

PAM_EXTERN int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
        const void *value = NULL;
        const char *out = NULL;
        FILE *f;

        (void)flags;
        for (int i = 0; i < argc; i++)
                if (strncmp(argv[i], "out=", 4) == 0)
                        out = argv[i] + 4;
        if (!out)
                return PAM_SERVICE_ERR;
        if (pam_get_data(pamh, "systemd.runtime_max_sec", &value) != PAM_SUCCESS)
                value = NULL;
        f = fopen(out, "w");
        if (!f)
                return PAM_SESSION_ERR;
        fprintf(f, "%s\n", value ? (const char *)value : "none");
        fclose(f);
        return PAM_SUCCESS;
}

PAM_EXTERN int pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
        (void)pamh;
        (void)flags;
        (void)argc;
        (void)argv;
        return PAM_SUCCESS;
}
