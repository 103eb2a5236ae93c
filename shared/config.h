/* SPDX-License-Identifier: BSD-3-Clause */
/* config.h: /etc/tokenpolicy.conf, loaded and validated strictly.
 *
 * The only module that includes libconfig. A load either yields a complete,
 * valid tp_config or a list of every error found, each "FILE:LINE: message";
 * it never yields a partial configuration. Library code: never logs.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define TP_REFRESH_TTL_HOURS_MIN 24
#define TP_REFRESH_TTL_HOURS_MAX 1440
#define TP_ACCESS_TTL_MINUTES_MIN 360
#define TP_ACCESS_TTL_MINUTES_MAX 1080
#define TP_MAX_REFRESH_TOKENS_MIN 10
#define TP_MAX_REFRESH_TOKENS_MAX 100
/* Running sessions: idle timeout and the warning before a session is
 * ended or locked (0 = off for both). */
#define TP_IDLE_TIMEOUT_MINUTES_MAX 1440
#define TP_WARN_BEFORE_MINUTES_MAX 720
/* store.history_days: how long ended sessions are kept. */
#define TP_HISTORY_DAYS_MIN 1
#define TP_HISTORY_DAYS_MAX 3650
#define TP_HISTORY_DAYS_DEFAULT 30
/* store.conninfo: a libpq connection string, at most this long. */
#define TP_CONNINFO_MAX 1024

/* store.backend */
enum tp_store_backend {
        TP_STORE_SQLITE = 0,     /* one host: a file in the state directory */
        TP_STORE_POSTGRESQL = 1, /* a fleet: one shared PostgreSQL database */
};
/* account_recheck_minutes: how often accounts holding sessions are
 * re-validated whatever the watched files say (0: only on changes). */
#define TP_ACCOUNT_RECHECK_MINUTES_MIN 0
#define TP_ACCOUNT_RECHECK_MINUTES_MAX 1440
#define TP_ACCOUNT_RECHECK_MINUTES_DEFAULT 15

/* Built-in token policy, applied when custom_token_policy = false and for
 * keys neither `defaults` nor a client entry sets. */
#define TP_BUILTIN_AUTO_EXTEND false
#define TP_BUILTIN_REFRESH_TTL_HOURS 336
#define TP_BUILTIN_ACCESS_TTL_MINUTES 720
#define TP_BUILTIN_MAX_REFRESH_TOKENS 20
#define TP_BUILTIN_EVICT TP_EVICT_OLDEST
#define TP_BUILTIN_ON_EXPIRY TP_ACTION_TERMINATE
#define TP_BUILTIN_ON_REVOKE TP_ACTION_TERMINATE
#define TP_BUILTIN_IDLE_TIMEOUT_MINUTES 0
#define TP_BUILTIN_ON_IDLE TP_ACTION_LOCK
#define TP_BUILTIN_WARN_BEFORE_MINUTES 0
#define TP_BUILTIN_REVOKE_ON_PASSWORD_CHANGE false
#define TP_BUILTIN_DENY_WHEN_STORE_UNREACHABLE false /* on_store_unreachable = "local" */

/* One client type, with `defaults` and built-ins already merged in. The
 * token values are as configured; use tp_config_effective() for what
 * applies. */
struct tp_client_config {
        char name[TP_CLIENT_MAX];
        bool access;
        bool auto_extend;
        uint32_t refresh_ttl_hours;
        uint32_t access_ttl_minutes;
        uint32_t max_refresh_tokens;
        enum tp_evict_mode evict;
        enum tp_action on_expiry;
        enum tp_action on_revoke;
        uint32_t idle_timeout_minutes; /* 0: off */
        enum tp_action on_idle;        /* lock or terminate, never none */
        uint32_t warn_before_minutes;  /* 0: off */
        bool revoke_on_password_change; /* on_password_change = "revoke" */
        bool deny_when_store_unreachable; /* on_store_unreachable = "deny" (fleet mode) */
        char **services; /* n_services PAM service names */
        size_t n_services;
};

struct tp_config {
        char *path;
        char *text;                  /* the text it was read from, NUL-terminated */
        size_t text_len;
        int version;                 /* always 1 for now */
        bool custom_token_policy;
        int unknown_client;          /* -1: deny, else index into clients */
        struct tp_client_config *clients;
        size_t n_clients;            /* 1..TP_POLICY_CLIENTS_MAX */
        uint32_t history_days;       /* store.history_days */
        enum tp_store_backend store_backend; /* store.backend */
        char store_conninfo[TP_CONNINFO_MAX]; /* store.conninfo; "" unless postgresql */
        char host_id[TP_HOST_ID_MAX]; /* host_id; "" when not set (main.c derives one) */
        uint32_t account_recheck_minutes; /* 0: re-validate accounts only when their files change */
};

/* Whether `id` is a usable host id: 1..TP_HOST_ID_MAX-1 characters of
 * letters, digits, '.', '-' and '_', starting with a letter or digit. */
bool tp_config_host_id_valid(const char *id);

/* Errors collected during one load, in file order. */
struct tp_config_errors {
        char **messages; /* "FILE:LINE: message" (or "FILE: message") */
        size_t n;
};

/* Load and validate. On success returns 0 and *ret is a new config. On a
 * file that cannot be read or is invalid returns -EINVAL (or -ENOMEM,
 * -ENOENT, -EACCES) and errs holds every message; *ret is untouched.
 * `name` is what messages call the source (the path for files). */
int tp_config_load_file(const char *path, struct tp_config **ret, struct tp_config_errors *errs);
int tp_config_load_string(const char *text, const char *name, struct tp_config **ret,
                          struct tp_config_errors *errs);

void tp_config_free(struct tp_config *c);
void tp_config_errors_clear(struct tp_config_errors *errs);

/* Lookups; NULL when absent. */
const struct tp_client_config *tp_config_client(const struct tp_config *c, const char *name);
const struct tp_client_config *tp_config_client_for_service(const struct tp_config *c,
                                                            const char *service);

/* The token values that apply to `cl`: as configured when
 * custom_token_policy is true, the built-ins otherwise. Access, evict,
 * the actions and the idle and warning settings always come from the
 * file. */
struct tp_effective_policy {
        bool access;
        bool auto_extend;
        uint32_t refresh_ttl_hours;
        uint32_t access_ttl_minutes;
        uint32_t max_refresh_tokens;
        enum tp_evict_mode evict;
        enum tp_action on_expiry;
        enum tp_action on_revoke;
        uint32_t idle_timeout_minutes;
        enum tp_action on_idle;
        uint32_t warn_before_minutes;
        bool revoke_on_password_change;
        bool deny_when_store_unreachable;
};
void tp_config_effective(const struct tp_config *c, const struct tp_client_config *cl,
                         struct tp_effective_policy *out);
