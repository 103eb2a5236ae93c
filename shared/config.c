/* SPDX-License-Identifier: BSD-3-Clause */
/* config.c: reads /etc/tokenpolicy.conf with libconfig and validates it
 * against the schema of tokenpolicy.conf(5) (docs/product.md §5),
 * collecting every error of a load in one pass as "FILE:LINE: message".
 *
 * Must never: hand out a partially valid configuration, log, or accept a
 * value libconfig altered on the way in (libconfig 1.5 silently truncates
 * integer literals past 32 bits, so a lexical guard checks them first).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libconfig.h>

#include "config.h"
#include "strtable.h"

/* The policy is a few kilobytes; a larger file is a mistake. */
#define CONFIG_FILE_SIZE_MAX (1024 * 1024)
/* A user string quoted in a message is cut after this many characters. */
#define SHOWN_CHARS_MAX 64
#define SHOWN_BUF_SIZE (SHOWN_CHARS_MAX * 4 + 8)

struct pending_error {
        unsigned line; /* 0: the file as a whole */
        size_t seq;
        char *text;
};

struct loader {
        const char *name;
        struct pending_error *errors;
        size_t n_errors;
        size_t n_found; /* counts errors even when a message could not be stored */
        int r;          /* -ENOMEM once an allocation failed */
};

static const char *const top_level_keys[] = {
        "version", "custom_token_policy", "unknown_client", "defaults", "clients", "store",
        "host_id",
        "account_recheck_minutes",
};

enum policy_key {
        KEY_ACCESS,
        KEY_AUTO_EXTEND,
        KEY_REFRESH_TTL,
        KEY_ACCESS_TTL,
        KEY_MAX_TOKENS,
        KEY_EVICT,
        KEY_ON_EXPIRY,
        KEY_ON_REVOKE,
        KEY_IDLE_TIMEOUT,
        KEY_ON_IDLE,
        KEY_WARN_BEFORE,
        KEY_ON_PASSWORD_CHANGE,
        KEY_ON_STORE_UNREACHABLE,
        KEY_SERVICES,
        KEY_COUNT_,
};

static const char *const policy_key_table[KEY_COUNT_] = {
        [KEY_ACCESS] = "access",
        [KEY_AUTO_EXTEND] = "auto_extend_refresh_token",
        [KEY_REFRESH_TTL] = "refresh_token_ttl_hours",
        [KEY_ACCESS_TTL] = "access_token_ttl_minutes",
        [KEY_MAX_TOKENS] = "max_refresh_tokens",
        [KEY_EVICT] = "evict",
        [KEY_ON_EXPIRY] = "on_expiry",
        [KEY_ON_REVOKE] = "on_revoke",
        [KEY_IDLE_TIMEOUT] = "idle_timeout_minutes",
        [KEY_ON_IDLE] = "on_idle",
        [KEY_WARN_BEFORE] = "warn_before_minutes",
        [KEY_ON_PASSWORD_CHANGE] = "on_password_change",
        [KEY_ON_STORE_UNREACHABLE] = "on_store_unreachable",
        [KEY_SERVICES] = "services",
};
TP_DEFINE_PRIVATE_STRING_TABLE_LOOKUP(policy_key)

__attribute__((format(printf, 3, 4)))
static void add_error(struct loader *l, unsigned line, const char *fmt, ...)
{
        struct pending_error *grown;
        char *msg = NULL, *text = NULL;
        va_list ap;
        int n;

        l->n_found++;
        va_start(ap, fmt);
        n = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (n < 0)
                goto oom;
        if (line > 0)
                n = asprintf(&text, "%s:%u: %s", l->name, line, msg);
        else
                n = asprintf(&text, "%s: %s", l->name, msg);
        free(msg);
        if (n < 0)
                goto oom;
        grown = realloc(l->errors, (l->n_errors + 1) * sizeof(*grown));
        if (!grown) {
                free(text);
                goto oom;
        }
        l->errors = grown;
        l->errors[l->n_errors] = (struct pending_error) {
                .line = line, .seq = l->n_errors, .text = text,
        };
        l->n_errors++;
        return;
oom:
        l->r = -ENOMEM;
}

static int pending_error_cmp(const void *a, const void *b)
{
        const struct pending_error *x = a, *y = b;

        if (x->line != y->line)
                return x->line < y->line ? -1 : 1;
        return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Hands the collected messages, in file order, to the caller's list. */
static void loader_finish(struct loader *l, struct tp_config_errors *errs)
{
        char **grown;
        size_t i;

        if (l->n_errors > 1)
                qsort(l->errors, l->n_errors, sizeof(*l->errors), pending_error_cmp);
        if (errs && l->n_errors > 0) {
                grown = realloc(errs->messages, (errs->n + l->n_errors) * sizeof(*grown));
                if (grown) {
                        errs->messages = grown;
                        for (i = 0; i < l->n_errors; i++) {
                                errs->messages[errs->n++] = l->errors[i].text;
                                l->errors[i].text = NULL;
                        }
                } else {
                        l->r = -ENOMEM;
                }
        }
        for (i = 0; i < l->n_errors; i++)
                free(l->errors[i].text);
        free(l->errors);
        l->errors = NULL;
        l->n_errors = 0;
}

/* Quotes untrusted text for a message: printable ASCII as is, the rest
 * escaped, long strings cut. */
static const char *shown(const char *s, char buf[static SHOWN_BUF_SIZE])
{
        size_t i, o = 0;

        for (i = 0; s[i] && i < SHOWN_CHARS_MAX; i++) {
                unsigned char ch = (unsigned char) s[i];

                if (ch == '\\' || ch == '"' || ch == '\'')
                        o += (size_t) snprintf(buf + o, SHOWN_BUF_SIZE - o, "\\%c", ch);
                else if (ch < 0x20 || ch >= 0x7f)
                        o += (size_t) snprintf(buf + o, SHOWN_BUF_SIZE - o, "\\x%02x", ch);
                else
                        buf[o++] = (char) ch;
        }
        if (s[i])
                o += (size_t) snprintf(buf + o, SHOWN_BUF_SIZE - o, "...");
        buf[o] = '\0';
        return buf;
}

static const char *type_name(int type)
{
        switch (type) {
        case CONFIG_TYPE_GROUP:
                return "a group";
        case CONFIG_TYPE_INT:
        case CONFIG_TYPE_INT64:
                return "an integer";
        case CONFIG_TYPE_FLOAT:
                return "a float";
        case CONFIG_TYPE_STRING:
                return "a string";
        case CONFIG_TYPE_BOOL:
                return "a boolean";
        case CONFIG_TYPE_ARRAY:
                return "an array";
        case CONFIG_TYPE_LIST:
                return "a list";
        default:
                return "of an unknown type";
        }
}

/* ---- lexical guard ------------------------------------------------------ */

static bool starts_number(const char *p)
{
        if (*p == '+' || *p == '-')
                p++;
        return isdigit((unsigned char) p[0]) || (p[0] == '.' && isdigit((unsigned char) p[1]));
}

/* Scans one numeric literal at p and reports an integer without L suffix
 * that libconfig 1.5 would wrap to 32 bits. Returns the end of the literal. */
static const char *guard_number(struct loader *l, const char *p, unsigned line, size_t *found)
{
        const char *start = p;
        bool hex = false;
        long long v;

        if (*p == '+' || *p == '-')
                p++;
        if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
                hex = true;
                for (p += 2; isxdigit((unsigned char) *p); p++)
                        ;
        } else {
                while (isdigit((unsigned char) *p))
                        p++;
                if (*p == '.' || *p == 'e' || *p == 'E') {
                        for (p++; isdigit((unsigned char) *p) || *p == '.' || *p == 'e' ||
                             *p == 'E' || ((*p == '+' || *p == '-') && (p[-1] == 'e' || p[-1] == 'E'));
                             p++)
                                ;
                        return p;
                }
        }
        if (*p == 'L')
                return p[1] == 'L' ? p + 2 : p + 1;
        if (hex && start[0] != '0')
                return p; /* a signed hex literal: libconfig rejects it itself */

        errno = 0;
        v = strtoll(start, NULL, hex ? 16 : 10);
        if (errno == ERANGE || v > INT_MAX || v < INT_MIN) {
                int len = (int) (p - start);

                add_error(l, line, "integer %.*s%s is outside the 32-bit range %d..%d",
                          len > 32 ? 32 : len, start, len > 32 ? "..." : "", INT_MIN, INT_MAX);
                (*found)++;
        }
        return p;
}

/* Walks the text the way libconfig's scanner does (comments, strings,
 * names, numbers) and reports what libconfig would accept wrongly: integer
 * literals past 32 bits, and @include, which would read files outside the
 * checked text. Returns the number of such errors; *ret_include tells
 * whether libconfig must not parse the text at all. */
static size_t guard_text(struct loader *l, const char *text, bool *ret_include)
{
        const char *p = text;
        unsigned line = 1;
        size_t found = 0;
        bool include = false;

        while (*p) {
                if (*p == '\n') {
                        line++;
                        p++;
                } else if (*p == '#' || (p[0] == '/' && p[1] == '/')) {
                        while (*p && *p != '\n')
                                p++;
                } else if (p[0] == '/' && p[1] == '*') {
                        for (p += 2; *p && !(p[0] == '*' && p[1] == '/'); p++)
                                if (*p == '\n')
                                        line++;
                        if (*p)
                                p += 2;
                } else if (*p == '"') {
                        for (p++; *p && *p != '"'; p++) {
                                if (*p == '\\' && p[1])
                                        p++;
                                if (*p == '\n')
                                        line++;
                        }
                        if (*p)
                                p++;
                } else if (*p == '@') {
                        if (strncmp(p, "@include", 8) == 0) {
                                add_error(l, line, "@include is not supported: keep the whole "
                                          "policy in this file");
                                found++;
                                include = true;
                        }
                        p++;
                } else if (isalpha((unsigned char) *p) || *p == '*') {
                        while (isalnum((unsigned char) *p) || *p == '*' || *p == '-' || *p == '_')
                                p++;
                } else if (starts_number(p)) {
                        p = guard_number(l, p, line, &found);
                } else {
                        p++;
                }
        }
        *ret_include = include;
        return found;
}

/* ---- typed values ------------------------------------------------------- */

static unsigned line_of(const config_setting_t *s)
{
        return config_setting_source_line(s);
}

static bool get_bool(struct loader *l, const config_setting_t *s, bool *ret)
{
        if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
                add_error(l, line_of(s), "%s must be a boolean (true or false), not %s",
                          config_setting_name(s), type_name(config_setting_type(s)));
                return false;
        }
        *ret = config_setting_get_bool(s);
        return true;
}

static bool get_integer(struct loader *l, const config_setting_t *s, long long *ret)
{
        switch (config_setting_type(s)) {
        case CONFIG_TYPE_INT:
                *ret = config_setting_get_int(s);
                return true;
        case CONFIG_TYPE_INT64:
                *ret = config_setting_get_int64(s);
                return true;
        default:
                add_error(l, line_of(s), "%s must be an integer, not %s", config_setting_name(s),
                          type_name(config_setting_type(s)));
                return false;
        }
}

static bool get_in_range(struct loader *l, const config_setting_t *s, long long min,
                         long long max, uint32_t *ret)
{
        long long v;

        if (!get_integer(l, s, &v))
                return false;
        if (v < min || v > max) {
                add_error(l, line_of(s), "%s = %lld is out of range (%lld..%lld)",
                          config_setting_name(s), v, min, max);
                return false;
        }
        *ret = (uint32_t) v;
        return true;
}

/* The names are the wire's (proto.c), so that the file, the POLICY reply
 * and tokenpolicyctl spell each value one way. */
static bool get_enum(struct loader *l, const config_setting_t *s, const char *(*to_string)(unsigned),
                     int (*from_string)(const char *), unsigned max, unsigned *ret)
{
        char list[128] = "", buf[SHOWN_BUF_SIZE];
        const char *v;
        int found;

        for (unsigned i = 0; i <= max; i++) {
                strcat(list, to_string(i));
                if (i < max)
                        strcat(list, ", ");
        }
        if (config_setting_type(s) != CONFIG_TYPE_STRING) {
                add_error(l, line_of(s), "%s must be a string (one of %s), not %s",
                          config_setting_name(s), list, type_name(config_setting_type(s)));
                return false;
        }
        v = config_setting_get_string(s);
        found = from_string(v);
        if (found >= 0) {
                *ret = (unsigned) found;
                return true;
        }
        add_error(l, line_of(s), "%s = \"%s\" is not one of %s", config_setting_name(s),
                  shown(v, buf), list);
        return false;
}

/* on_idle takes the actions that do something: an idle timeout that does
 * nothing is idle_timeout_minutes = 0. */
static int idle_action_from_string(const char *s)
{
        int v = tp_action_from_string(s);

        return v == TP_ACTION_NONE ? -EINVAL : v;
}

/* on_password_change: "revoke" the sessions of a user whose password
 * changed, or "none". */
static const char *password_change_to_string(unsigned v)
{
        return v == 1 ? "revoke" : v == 0 ? "none" : NULL;
}

static int password_change_from_string(const char *s)
{
        return strcmp(s, "revoke") == 0 ? 1 : strcmp(s, "none") == 0 ? 0 : -EINVAL;
}

/* on_store_unreachable (fleet mode): "local" admits sign-ins against this
 * host's own store while the fleet's database cannot be reached, "deny"
 * refuses them. */
static const char *store_unreachable_to_string(unsigned v)
{
        return v == 1 ? "deny" : v == 0 ? "local" : NULL;
}

static int store_unreachable_from_string(const char *s)
{
        return strcmp(s, "deny") == 0 ? 1 : strcmp(s, "local") == 0 ? 0 : -EINVAL;
}

/* ---- names -------------------------------------------------------------- */

static bool client_name_valid(const char *name)
{
        size_t i;

        if (!islower((unsigned char) name[0]))
                return false;
        for (i = 0; name[i]; i++)
                if (!islower((unsigned char) name[i]) && !isdigit((unsigned char) name[i]) &&
                    name[i] != '_' && name[i] != '-')
                        return false;
        return i < TP_CLIENT_MAX;
}

/* NULL when the service name is acceptable, else what is wrong with it. */
static const char *service_name_problem(const char *name)
{
        size_t i;

        for (i = 0; name[i]; i++) {
                unsigned char ch = (unsigned char) name[i];

                if (ch == '/')
                        return "contains '/'";
                if (ch == ',')
                        return "contains ','";
                if (isspace(ch))
                        return "contains whitespace";
                if (ch < 0x20 || ch == 0x7f)
                        return "contains a control character";
        }
        if (i >= TP_SERVICE_MAX)
                return "is longer than 256 characters";
        return NULL;
}

/* ---- policy groups ------------------------------------------------------ */

/* The services of client number `index` in c->clients; earlier clients'
 * services are already in place, so a service mapped twice is caught at
 * its second mention. */
static void parse_services(struct loader *l, const config_setting_t *s, struct tp_config *c,
                           size_t index)
{
        struct tp_client_config *cl = &c->clients[index];
        char buf[SHOWN_BUF_SIZE];
        size_t i, j, k, n, text_len = 0;
        int type = config_setting_type(s);

        if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST) {
                add_error(l, line_of(s), "services must be an array of strings such as "
                          "[\"sshd\"], not %s", type_name(type));
                return;
        }
        n = (size_t) config_setting_length(s);
        if (n == 0)
                return;
        cl->services = calloc(n, sizeof(*cl->services));
        if (!cl->services) {
                l->r = -ENOMEM;
                return;
        }
        for (i = 0; i < n; i++) {
                const config_setting_t *e = config_setting_get_elem(s, (unsigned) i);
                const char *name, *problem;
                bool mapped = false;

                if (config_setting_type(e) != CONFIG_TYPE_STRING) {
                        add_error(l, line_of(e), "services must be a list of strings; element %zu "
                                  "is %s", i + 1, type_name(config_setting_type(e)));
                        continue;
                }
                name = config_setting_get_string(e);
                if (!name[0]) {
                        add_error(l, line_of(e), "services of client '%s' contain an empty name",
                                  cl->name);
                        continue;
                }
                problem = service_name_problem(name);
                if (problem) {
                        add_error(l, line_of(e), "service '%s' in client '%s' %s (a PAM service "
                                  "name has no '/', ',', whitespace or control characters)",
                                  shown(name, buf), cl->name, problem);
                        continue;
                }
                for (j = 0; j < index && !mapped; j++)
                        for (k = 0; k < c->clients[j].n_services && !mapped; k++)
                                if (strcmp(c->clients[j].services[k], name) == 0) {
                                        add_error(l, line_of(e), "service '%s' is mapped to "
                                                  "both '%s' and '%s'", shown(name, buf),
                                                  c->clients[j].name, cl->name);
                                        mapped = true;
                                }
                if (mapped)
                        continue;
                cl->services[cl->n_services] = strdup(name);
                if (!cl->services[cl->n_services]) {
                        l->r = -ENOMEM;
                        return;
                }
                cl->n_services++;
                text_len += strlen(name) + (text_len > 0);
        }
        /* The POLICY reply carries a client's services as one text field. */
        if (text_len >= TP_SERVICES_TEXT_MAX)
                add_error(l, line_of(s), "services of client '%s' take %zu characters joined "
                          "with commas (at most %d)", cl->name, text_len,
                          TP_SERVICES_TEXT_MAX - 1);
}

/* Applies the keys of `group` on top of *into. `c` and `index` are given
 * for a client entry (services allowed), c is NULL for defaults. */
static void parse_policy_group(struct loader *l, const config_setting_t *group,
                               struct tp_client_config *into, struct tp_config *c, size_t index)
{
        int i, n = config_setting_length(group);
        unsigned u;

        for (i = 0; i < n && l->r == 0; i++) {
                const config_setting_t *s = config_setting_get_elem(group, (unsigned) i);
                const char *name = config_setting_name(s);
                int key = policy_key_from_string(name); /* -EINVAL: unknown, the default below */

                if (key == KEY_SERVICES && !c) {
                        add_error(l, line_of(s), "services belongs in a client entry, not in "
                                  "defaults");
                        continue;
                }
                switch (key) {
                case KEY_ACCESS:
                        get_bool(l, s, &into->access);
                        break;
                case KEY_AUTO_EXTEND:
                        get_bool(l, s, &into->auto_extend);
                        break;
                case KEY_REFRESH_TTL:
                        get_in_range(l, s, TP_REFRESH_TTL_HOURS_MIN, TP_REFRESH_TTL_HOURS_MAX,
                                     &into->refresh_ttl_hours);
                        break;
                case KEY_ACCESS_TTL:
                        get_in_range(l, s, TP_ACCESS_TTL_MINUTES_MIN, TP_ACCESS_TTL_MINUTES_MAX,
                                     &into->access_ttl_minutes);
                        break;
                case KEY_MAX_TOKENS:
                        get_in_range(l, s, TP_MAX_REFRESH_TOKENS_MIN, TP_MAX_REFRESH_TOKENS_MAX,
                                     &into->max_refresh_tokens);
                        break;
                case KEY_EVICT:
                        if (get_enum(l, s, tp_evict_to_string, tp_evict_from_string, TP_EVICT_MAX_, &u))
                                into->evict = (enum tp_evict_mode) u;
                        break;
                case KEY_ON_EXPIRY:
                        if (get_enum(l, s, tp_action_to_string, tp_action_from_string, TP_ACTION_MAX_, &u))
                                into->on_expiry = (enum tp_action) u;
                        break;
                case KEY_ON_REVOKE:
                        if (get_enum(l, s, tp_action_to_string, tp_action_from_string, TP_ACTION_MAX_, &u))
                                into->on_revoke = (enum tp_action) u;
                        break;
                case KEY_IDLE_TIMEOUT:
                        get_in_range(l, s, 0, TP_IDLE_TIMEOUT_MINUTES_MAX, &into->idle_timeout_minutes);
                        break;
                case KEY_ON_IDLE:
                        if (get_enum(l, s, tp_action_to_string, idle_action_from_string, TP_ACTION_LOCK, &u))
                                into->on_idle = (enum tp_action) u;
                        break;
                case KEY_WARN_BEFORE:
                        get_in_range(l, s, 0, TP_WARN_BEFORE_MINUTES_MAX, &into->warn_before_minutes);
                        break;
                case KEY_ON_PASSWORD_CHANGE:
                        if (get_enum(l, s, password_change_to_string, password_change_from_string, 1, &u))
                                into->revoke_on_password_change = u == 1;
                        break;
                case KEY_ON_STORE_UNREACHABLE:
                        if (get_enum(l, s, store_unreachable_to_string, store_unreachable_from_string, 1, &u))
                                into->deny_when_store_unreachable = u == 1;
                        break;
                case KEY_SERVICES:
                        parse_services(l, s, c, index);
                        break;
                default:
                        if (c)
                                add_error(l, line_of(s), "unknown setting '%s' in client '%s'",
                                          name, into->name);
                        else
                                add_error(l, line_of(s), "unknown setting '%s' in defaults",
                                          name);
                }
        }
}

static void parse_clients(struct loader *l, const config_setting_t *clients,
                          const struct tp_client_config *base, struct tp_config *c)
{
        char buf[SHOWN_BUF_SIZE];
        size_t i, n;

        if (!config_setting_is_group(clients)) {
                add_error(l, line_of(clients), "clients must be a group of client types "
                          "(clients = { web = { ... }; };), not %s",
                          type_name(config_setting_type(clients)));
                return;
        }
        n = (size_t) config_setting_length(clients);
        if (n == 0) {
                add_error(l, line_of(clients), "clients defines no client type (at least 1, "
                          "at most %d)", TP_POLICY_CLIENTS_MAX);
                return;
        }
        if (n > TP_POLICY_CLIENTS_MAX)
                add_error(l, line_of(clients), "clients defines %zu client types (at most %d)",
                          n, TP_POLICY_CLIENTS_MAX);
        c->clients = calloc(n, sizeof(*c->clients));
        if (!c->clients) {
                l->r = -ENOMEM;
                return;
        }
        for (i = 0; i < n && l->r == 0; i++) {
                const config_setting_t *e = config_setting_get_elem(clients, (unsigned) i);
                const char *name = config_setting_name(e);
                struct tp_client_config *cl = &c->clients[c->n_clients++];

                *cl = *base;
                if (!client_name_valid(name))
                        add_error(l, line_of(e), "client name '%s' is invalid: use 1..%d "
                                  "characters of a-z, 0-9, '_' and '-', starting with a letter",
                                  shown(name, buf), TP_CLIENT_MAX - 1);
                else if (strcmp(name, "deny") == 0)
                        add_error(l, line_of(e), "client name 'deny' is reserved "
                                  "(unknown_client = \"deny\" refuses unmapped services)");
                /* Messages about the entry name it even when the name is bad. */
                snprintf(cl->name, sizeof(cl->name), "%s", shown(name, buf));
                if (!config_setting_is_group(e)) {
                        add_error(l, line_of(e), "client '%s' must be a group ({ ... }), not %s",
                                  cl->name, type_name(config_setting_type(e)));
                        continue;
                }
                parse_policy_group(l, e, cl, c, i);
        }
}

static void resolve_unknown_client(struct loader *l, const config_setting_t *s,
                                   const config_setting_t *clients, struct tp_config *c)
{
        char buf[SHOWN_BUF_SIZE];
        char *defined = NULL;
        size_t i, len = 0;
        const char *v;

        if (config_setting_type(s) != CONFIG_TYPE_STRING) {
                add_error(l, line_of(s), "unknown_client must be a string (\"deny\" or a client "
                          "type name), not %s", type_name(config_setting_type(s)));
                return;
        }
        v = config_setting_get_string(s);
        if (strcmp(v, "deny") == 0)
                return;
        /* Without a usable clients group there is nothing to resolve against;
         * that error is reported on its own. */
        if (!clients || !config_setting_is_group(clients) || c->n_clients == 0)
                return;
        for (i = 0; i < c->n_clients; i++)
                if (strcmp(c->clients[i].name, v) == 0) {
                        c->unknown_client = (int) i;
                        return;
                }
        for (i = 0; i < c->n_clients; i++)
                len += strlen(c->clients[i].name) + 2;
        defined = malloc(len + 1);
        if (!defined) {
                l->r = -ENOMEM;
                return;
        }
        defined[0] = '\0';
        for (i = 0; i < c->n_clients; i++) {
                if (i > 0)
                        strcat(defined, ", ");
                strcat(defined, c->clients[i].name);
        }
        add_error(l, line_of(s), "unknown_client = \"%s\" names no client type (defined: %s)",
                  shown(v, buf), defined);
        free(defined);
}

static void parse_version(struct loader *l, const config_setting_t *s, struct tp_config *c)
{
        long long v;

        if (!s) {
                add_error(l, 0, "missing required setting 'version'");
                return;
        }
        if (!get_integer(l, s, &v))
                return;
        if (v != 1) {
                add_error(l, line_of(s), "version = %lld is not supported (this release reads "
                          "version 1)", v);
                return;
        }
        c->version = 1;
}

bool tp_config_host_id_valid(const char *id)
{
        size_t n = strlen(id);

        if (n == 0 || n >= TP_HOST_ID_MAX || !isalnum((unsigned char) id[0]))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char) id[i]) && !strchr(".-_", id[i]))
                        return false;
        return true;
}

static bool get_string(struct loader *l, const config_setting_t *s, const char *what,
                       const char **ret)
{
        if (config_setting_type(s) != CONFIG_TYPE_STRING) {
                add_error(l, line_of(s), "%s must be a string (%s), not %s", config_setting_name(s),
                          what, type_name(config_setting_type(s)));
                return false;
        }
        *ret = config_setting_get_string(s);
        return true;
}

/* A password written into the world-readable file would be readable by
 * every user: libpq reads it from its passfile (or uses a certificate). */
static bool conninfo_has_password(const char *v)
{
        for (const char *p = v; (p = strstr(p, "password")) != NULL; p += 8) {
                const char *q = p + 8;

                if (p != v && (isalnum((unsigned char) p[-1]) || p[-1] == '_'))
                        continue;
                while (*q == ' ' || *q == '\t')
                        q++;
                if (*q == '=')
                        return true;
        }
        /* A URI: postgresql://user:password@host/... */
        if (strncmp(v, "postgresql://", 13) == 0 || strncmp(v, "postgres://", 11) == 0) {
                const char *auth = strstr(v, "://") + 3;
                size_t len = strcspn(auth, "/?");
                const char *at = memchr(auth, '@', len);

                return at && memchr(auth, ':', (size_t) (at - auth)) != NULL;
        }
        return false;
}

static void parse_conninfo(struct loader *l, const config_setting_t *s, struct tp_config *c)
{
        const char *v;

        if (!get_string(l, s, "a libpq connection string", &v))
                return;
        if (!*v) {
                add_error(l, line_of(s), "store.conninfo is empty: give a libpq connection string "
                          "such as \"host=db1 dbname=tokenpolicy user=tokenpolicy\"");
                return;
        }
        if (strlen(v) >= sizeof(c->store_conninfo)) {
                add_error(l, line_of(s), "store.conninfo is longer than %zu characters",
                          sizeof(c->store_conninfo) - 1);
                return;
        }
        if (conninfo_has_password(v)) {
                add_error(l, line_of(s), "store.conninfo must not hold a password (this file is "
                          "readable by every user): put it in the daemon's libpq passfile "
                          "(passfile=..., ~/.pgpass) or use a client certificate");
                return;
        }
        snprintf(c->store_conninfo, sizeof(c->store_conninfo), "%s", v);
}

/* The `store` group: where and how the session store keeps what it keeps. */
static void parse_store(struct loader *l, const config_setting_t *group, struct tp_config *c)
{
        const config_setting_t *conninfo = NULL, *backend = NULL;
        char buf[SHOWN_BUF_SIZE];
        int i, n;

        if (!config_setting_is_group(group)) {
                add_error(l, line_of(group), "store must be a group "
                          "(store = { history_days = 30; };), not %s",
                          type_name(config_setting_type(group)));
                return;
        }
        n = config_setting_length(group);
        for (i = 0; i < n; i++) {
                const config_setting_t *s = config_setting_get_elem(group, (unsigned) i);
                const char *name = config_setting_name(s);
                const char *v;

                if (strcmp(name, "history_days") == 0) {
                        get_in_range(l, s, TP_HISTORY_DAYS_MIN, TP_HISTORY_DAYS_MAX,
                                     &c->history_days);
                } else if (strcmp(name, "backend") == 0) {
                        backend = s;
                        if (!get_string(l, s, "\"sqlite\" or \"postgresql\"", &v))
                                continue;
                        if (strcmp(v, "sqlite") == 0)
                                c->store_backend = TP_STORE_SQLITE;
                        else if (strcmp(v, "postgresql") == 0)
                                c->store_backend = TP_STORE_POSTGRESQL;
                        else
                                add_error(l, line_of(s), "backend = \"%s\" is not one of sqlite, "
                                          "postgresql", shown(v, buf));
                } else if (strcmp(name, "conninfo") == 0) {
                        conninfo = s;
                        parse_conninfo(l, s, c);
                } else {
                        add_error(l, line_of(s), "unknown setting '%s' in store (allowed: "
                                  "history_days, backend, conninfo)", name);
                }
        }
        if (c->store_backend == TP_STORE_POSTGRESQL && !conninfo)
                add_error(l, line_of(backend), "store.backend = \"postgresql\" needs store.conninfo, "
                          "the libpq connection string of the fleet's database");
        else if (c->store_backend != TP_STORE_POSTGRESQL && conninfo)
                add_error(l, line_of(conninfo), "store.conninfo is only used with "
                          "store.backend = \"postgresql\"");
}

static void parse_host_id(struct loader *l, const config_setting_t *s, struct tp_config *c)
{
        char buf[SHOWN_BUF_SIZE];
        const char *v;

        if (!get_string(l, s, "this host's name in the fleet", &v))
                return;
        if (!tp_config_host_id_valid(v)) {
                add_error(l, line_of(s), "host_id = \"%s\" is not a host id (1 to %d letters, "
                          "digits, '.', '-' or '_', starting with a letter or digit)",
                          shown(v, buf), TP_HOST_ID_MAX - 1);
                return;
        }
        snprintf(c->host_id, sizeof(c->host_id), "%s", v);
}

static void parse_root(struct loader *l, const config_setting_t *root, struct tp_config *c)
{
        const config_setting_t *defaults, *clients, *s;
        struct tp_client_config base = {
                .access = true,
                .auto_extend = TP_BUILTIN_AUTO_EXTEND,
                .refresh_ttl_hours = TP_BUILTIN_REFRESH_TTL_HOURS,
                .access_ttl_minutes = TP_BUILTIN_ACCESS_TTL_MINUTES,
                .max_refresh_tokens = TP_BUILTIN_MAX_REFRESH_TOKENS,
                .evict = TP_BUILTIN_EVICT,
                .on_expiry = TP_BUILTIN_ON_EXPIRY,
                .on_revoke = TP_BUILTIN_ON_REVOKE,
                .idle_timeout_minutes = TP_BUILTIN_IDLE_TIMEOUT_MINUTES,
                .on_idle = TP_BUILTIN_ON_IDLE,
                .warn_before_minutes = TP_BUILTIN_WARN_BEFORE_MINUTES,
                .revoke_on_password_change = TP_BUILTIN_REVOKE_ON_PASSWORD_CHANGE,
                .deny_when_store_unreachable = TP_BUILTIN_DENY_WHEN_STORE_UNREACHABLE,
        };
        int i, n = config_setting_length(root);
        size_t k;

        for (i = 0; i < n; i++) {
                const char *name = config_setting_name(config_setting_get_elem(root, (unsigned) i));
                bool known = false;

                for (k = 0; k < TP_ELEMENTSOF(top_level_keys) && !known; k++)
                        known = strcmp(name, top_level_keys[k]) == 0;
                if (!known)
                        add_error(l, line_of(config_setting_get_elem(root, (unsigned) i)),
                                  "unknown top-level setting '%s' (allowed: version, "
                                  "custom_token_policy, unknown_client, defaults, clients, store, "
                                  "host_id)",
                                  name);
        }

        parse_version(l, config_setting_get_member(root, "version"), c);

        c->custom_token_policy = true;
        s = config_setting_get_member(root, "custom_token_policy");
        if (s)
                get_bool(l, s, &c->custom_token_policy);

        defaults = config_setting_get_member(root, "defaults");
        if (defaults && !config_setting_is_group(defaults))
                add_error(l, line_of(defaults), "defaults must be a group ({ ... }), not %s",
                          type_name(config_setting_type(defaults)));
        else if (defaults)
                parse_policy_group(l, defaults, &base, NULL, 0);

        clients = config_setting_get_member(root, "clients");
        if (!clients)
                add_error(l, 0, "missing required setting 'clients'");
        else if (l->r == 0)
                parse_clients(l, clients, &base, c);

        c->unknown_client = -1;
        s = config_setting_get_member(root, "unknown_client");
        if (s && l->r == 0)
                resolve_unknown_client(l, s, clients, c);

        c->history_days = TP_HISTORY_DAYS_DEFAULT;
        s = config_setting_get_member(root, "store");
        if (s)
                parse_store(l, s, c);
        s = config_setting_get_member(root, "host_id");
        if (s)
                parse_host_id(l, s, c);

        c->account_recheck_minutes = TP_ACCOUNT_RECHECK_MINUTES_DEFAULT;
        s = config_setting_get_member(root, "account_recheck_minutes");
        if (s)
                get_in_range(l, s, TP_ACCOUNT_RECHECK_MINUTES_MIN, TP_ACCOUNT_RECHECK_MINUTES_MAX,
                             &c->account_recheck_minutes);
}

/* ---- loading ------------------------------------------------------------ */

static int load_text(const char *text, size_t len, const char *name, struct tp_config **ret,
                     struct tp_config_errors *errs)
{
        struct loader l = { .name = name };
        struct tp_config *c = NULL;
        bool include = false;
        config_t cfg;
        int r;

        config_init(&cfg);
        if (strlen(text) != len) {
                add_error(&l, 0, "contains a NUL byte at offset %zu; the file must be text",
                          strlen(text));
                goto out;
        }
        guard_text(&l, text, &include);
        if (include)
                goto out;
        if (!config_read_string(&cfg, text)) {
                if (config_error_line(&cfg) > 0)
                        add_error(&l, (unsigned) config_error_line(&cfg), "%s",
                                  config_error_text(&cfg));
                else
                        add_error(&l, 0, "%s", config_error_text(&cfg));
                goto out;
        }
        /* A wrapped integer would be judged by its wrong value: stop here. */
        if (l.n_found > 0)
                goto out;

        c = calloc(1, sizeof(*c));
        if (!c) {
                l.r = -ENOMEM;
                goto out;
        }
        c->path = strdup(name);
        c->text = malloc(len + 1);
        if (!c->path || !c->text) {
                l.r = -ENOMEM;
                goto out;
        }
        memcpy(c->text, text, len + 1);
        c->text_len = len;
        parse_root(&l, config_root_setting(&cfg), c);
out:
        config_destroy(&cfg);
        loader_finish(&l, errs);
        if (l.r < 0)
                r = l.r;
        else if (l.n_found > 0)
                r = -EINVAL;
        else
                r = 0;
        if (r == 0) {
                *ret = c;
                c = NULL;
        }
        tp_config_free(c);
        return r;
}

int tp_config_load_string(const char *text, const char *name, struct tp_config **ret,
                          struct tp_config_errors *errs)
{
        if (!text || !name || !ret)
                return -EINVAL;
        return load_text(text, strlen(text), name, ret, errs);
}

static int read_config_text(struct loader *l, const char *path, char **ret_text, size_t *ret_len)
{
        char *buf = NULL, *grown;
        size_t len = 0, cap;
        struct stat st;
        ssize_t n;
        int fd, r;

        /* O_NONBLOCK so that a FIFO given by mistake cannot hang the open. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                r = -errno;
                add_error(l, 0, "cannot open: %s", strerror(-r));
                return r;
        }
        if (fstat(fd, &st) < 0) {
                r = -errno;
                add_error(l, 0, "cannot stat: %s", strerror(-r));
                goto out;
        }
        if (!S_ISREG(st.st_mode)) {
                r = -EINVAL;
                add_error(l, 0, "not a regular file");
                goto out;
        }
        /* Room for one byte past the limit, to tell a file that fits
         * exactly from one that is too large. */
        cap = (size_t) (st.st_size < CONFIG_FILE_SIZE_MAX ? st.st_size : CONFIG_FILE_SIZE_MAX) + 2;
        buf = malloc(cap);
        if (!buf) {
                r = -ENOMEM;
                goto out;
        }
        for (;;) {
                if (len + 1 == cap) {
                        /* The file grew since fstat(); len <= limit here. */
                        cap = cap * 2 < CONFIG_FILE_SIZE_MAX + 2 ? cap * 2 : CONFIG_FILE_SIZE_MAX + 2;
                        grown = realloc(buf, cap);
                        if (!grown) {
                                r = -ENOMEM;
                                goto out;
                        }
                        buf = grown;
                }
                n = read(fd, buf + len, cap - 1 - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = -errno;
                        add_error(l, 0, "cannot read: %s", strerror(-r));
                        goto out;
                }
                if (n == 0)
                        break;
                len += (size_t) n;
                if (len > CONFIG_FILE_SIZE_MAX) {
                        r = -EINVAL;
                        add_error(l, 0, "file is larger than %d bytes", CONFIG_FILE_SIZE_MAX);
                        goto out;
                }
        }
        buf[len] = '\0';
        *ret_text = buf;
        *ret_len = len;
        buf = NULL;
        r = 0;
out:
        free(buf);
        close(fd);
        return r;
}

int tp_config_load_file(const char *path, struct tp_config **ret, struct tp_config_errors *errs)
{
        struct loader l;
        char *text = NULL;
        size_t len = 0;
        int r;

        if (!path || !ret)
                return -EINVAL;
        l = (struct loader) { .name = path };
        r = read_config_text(&l, path, &text, &len);
        loader_finish(&l, errs);
        if (r == 0 && l.r < 0)
                r = l.r;
        if (r < 0)
                goto out;
        r = load_text(text, len, path, ret, errs);
out:
        free(text);
        return r;
}

void tp_config_free(struct tp_config *c)
{
        size_t i, j;

        if (!c)
                return;
        for (i = 0; i < c->n_clients; i++) {
                for (j = 0; j < c->clients[i].n_services; j++)
                        free(c->clients[i].services[j]);
                free(c->clients[i].services);
        }
        free(c->clients);
        free(c->path);
        free(c->text);
        free(c);
}

void tp_config_errors_clear(struct tp_config_errors *errs)
{
        size_t i;

        if (!errs)
                return;
        for (i = 0; i < errs->n; i++)
                free(errs->messages[i]);
        free(errs->messages);
        errs->messages = NULL;
        errs->n = 0;
}

const struct tp_client_config *tp_config_client(const struct tp_config *c, const char *name)
{
        size_t i;

        if (!c || !name)
                return NULL;
        for (i = 0; i < c->n_clients; i++)
                if (strcmp(c->clients[i].name, name) == 0)
                        return &c->clients[i];
        return NULL;
}

const struct tp_client_config *tp_config_client_for_service(const struct tp_config *c,
                                                            const char *service)
{
        size_t i, j;

        if (!c || !service)
                return NULL;
        for (i = 0; i < c->n_clients; i++)
                for (j = 0; j < c->clients[i].n_services; j++)
                        if (strcmp(c->clients[i].services[j], service) == 0)
                                return &c->clients[i];
        return NULL;
}

void tp_config_effective(const struct tp_config *c, const struct tp_client_config *cl,
                         struct tp_effective_policy *out)
{
        *out = (struct tp_effective_policy) {
                .access = cl->access,
                .evict = cl->evict,
                .on_expiry = cl->on_expiry,
                .on_revoke = cl->on_revoke,
                .idle_timeout_minutes = cl->idle_timeout_minutes,
                .on_idle = cl->on_idle,
                .warn_before_minutes = cl->warn_before_minutes,
                .revoke_on_password_change = cl->revoke_on_password_change,
                .deny_when_store_unreachable = cl->deny_when_store_unreachable,
        };
        if (c->custom_token_policy) {
                out->auto_extend = cl->auto_extend;
                out->refresh_ttl_hours = cl->refresh_ttl_hours;
                out->access_ttl_minutes = cl->access_ttl_minutes;
                out->max_refresh_tokens = cl->max_refresh_tokens;
        } else {
                out->auto_extend = TP_BUILTIN_AUTO_EXTEND;
                out->refresh_ttl_hours = TP_BUILTIN_REFRESH_TTL_HOURS;
                out->access_ttl_minutes = TP_BUILTIN_ACCESS_TTL_MINUTES;
                out->max_refresh_tokens = TP_BUILTIN_MAX_REFRESH_TOKENS;
        }
}
