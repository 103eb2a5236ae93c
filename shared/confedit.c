/* SPDX-License-Identifier: BSD-3-Clause */
/* confedit.c: finds one setting in the text of a libconfig file and
 * rewrites only the bytes that hold it; replaces the file atomically
 * without losing an edit someone else made meanwhile.
 *
 * The reader here knows libconfig's syntax (settings, groups, arrays,
 * lists, strings, comments) only as far as it needs to find where each
 * setting starts and ends; it never interprets values. Must never: write
 * a file whose content it did not compare with what the edit was made
 * from, leave a temporary file behind, or change a byte outside the
 * setting it edits (apart from the line breaks and indentation of a new
 * line).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "confedit.h"

#define FILE_SIZE_MAX (1024 * 1024)
#define NESTING_MAX 32

enum node_kind { NODE_GROUP, NODE_ARRAY, NODE_STRING, NODE_SCALAR };

struct node {
        size_t name, name_end;   /* the setting's name; both 0 for the root */
        size_t start, end;       /* the whole setting, name to terminator */
        size_t value, value_end; /* its value */
        enum node_kind kind;
        struct node *children;   /* a group's settings */
        size_t n_children;
};

struct parser {
        const char *t;
        size_t len, pos;
        unsigned depth;
        struct tp_confedit_error *err;
        int r;
};

__attribute__((format(printf, 3, 4)))
static void set_error(struct tp_confedit_error *err, unsigned line, const char *fmt, ...)
{
        va_list ap;

        if (!err)
                return;
        err->line = line;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
}

static unsigned line_at(const char *t, size_t pos)
{
        unsigned line = 1;

        for (size_t i = 0; i < pos; i++)
                if (t[i] == '\n')
                        line++;
        return line;
}

__attribute__((format(printf, 2, 3)))
static int fail(struct parser *p, const char *fmt, ...)
{
        va_list ap;

        if (p->r == 0) {
                p->r = -EINVAL;
                if (p->err) {
                        p->err->line = line_at(p->t, p->pos < p->len ? p->pos : p->len);
                        va_start(ap, fmt);
                        vsnprintf(p->err->message, sizeof(p->err->message), fmt, ap);
                        va_end(ap);
                }
        }
        return p->r;
}

static void node_free(struct node *n)
{
        for (size_t i = 0; i < n->n_children; i++)
                node_free(&n->children[i]);
        free(n->children);
        n->children = NULL;
        n->n_children = 0;
}

static bool at_end(const struct parser *p)
{
        return p->pos >= p->len;
}

static char peek(const struct parser *p)
{
        return at_end(p) ? '\0' : p->t[p->pos];
}

/* Whitespace and the three kinds of comment. */
static int skip_blank(struct parser *p)
{
        while (!at_end(p)) {
                char c = p->t[p->pos];

                if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
                        p->pos++;
                } else if (c == '#' || (c == '/' && p->pos + 1 < p->len && p->t[p->pos + 1] == '/')) {
                        while (!at_end(p) && p->t[p->pos] != '\n')
                                p->pos++;
                } else if (c == '/' && p->pos + 1 < p->len && p->t[p->pos + 1] == '*') {
                        const char *close = memmem(p->t + p->pos + 2, p->len - p->pos - 2, "*/", 2);

                        if (!close)
                                return fail(p, "comment opened with /* is never closed");
                        p->pos = (size_t) (close - p->t) + 2;
                } else {
                        break;
                }
        }
        return 0;
}

static bool name_first(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '*';
}

static bool name_rest(char c)
{
        return name_first(c) || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static bool scalar_char(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '+' || c == '.' || c == '_';
}

static int parse_value(struct parser *p, struct node *n);

static int parse_string(struct parser *p)
{
        /* Adjacent literals are one string in libconfig. */
        do {
                p->pos++;
                while (!at_end(p) && p->t[p->pos] != '"') {
                        if (p->t[p->pos] == '\\' && p->pos + 1 < p->len)
                                p->pos++;
                        else if (p->t[p->pos] == '\n')
                                return fail(p, "string is not closed on its line");
                        p->pos++;
                }
                if (at_end(p))
                        return fail(p, "string is never closed");
                p->pos++;
                {
                        size_t after = p->pos;

                        if (skip_blank(p) < 0)
                                return p->r;
                        if (peek(p) != '"')
                                p->pos = after;
                }
        } while (peek(p) == '"');
        return 0;
}

static int parse_setting(struct parser *p, struct node *n);

static int parse_group_body(struct parser *p, struct node *group, char close)
{
        for (;;) {
                struct node child = {}, *grown;

                if (skip_blank(p) < 0)
                        return p->r;
                if (close ? peek(p) == close : at_end(p))
                        return 0;
                if (at_end(p))
                        return fail(p, "group is never closed with '%c'", close);
                if (parse_setting(p, &child) < 0) {
                        node_free(&child);
                        return p->r;
                }
                grown = realloc(group->children, (group->n_children + 1) * sizeof(*grown));
                if (!grown) {
                        node_free(&child);
                        return p->r = -ENOMEM;
                }
                group->children = grown;
                group->children[group->n_children++] = child;
        }
}

static int parse_elements(struct parser *p, char close)
{
        for (bool first = true;; first = false) {
                struct node element = {};

                if (skip_blank(p) < 0)
                        return p->r;
                if (peek(p) == close)
                        return 0;
                if (at_end(p))
                        return fail(p, "'%c' is missing at the end of a list of values", close);
                if (!first) {
                        if (peek(p) != ',')
                                return fail(p, "expected ',' or '%c' in a list of values", close);
                        p->pos++;
                        if (skip_blank(p) < 0)
                                return p->r;
                }
                if (at_end(p))
                        return fail(p, "'%c' is missing at the end of a list of values", close);
                if (parse_value(p, &element) < 0) {
                        node_free(&element);
                        return p->r;
                }
                node_free(&element);
        }
}

static int parse_value(struct parser *p, struct node *n)
{
        char c = peek(p);

        if (++p->depth > NESTING_MAX)
                return fail(p, "values are nested more than %d deep", NESTING_MAX);
        n->value = p->pos;
        if (c == '{') {
                n->kind = NODE_GROUP;
                p->pos++;
                if (parse_group_body(p, n, '}') < 0)
                        return p->r;
                p->pos++;
        } else if (c == '[' || c == '(') {
                n->kind = NODE_ARRAY;
                p->pos++;
                if (parse_elements(p, c == '[' ? ']' : ')') < 0)
                        return p->r;
                p->pos++;
        } else if (c == '"') {
                n->kind = NODE_STRING;
                if (parse_string(p) < 0)
                        return p->r;
                /* parse_string() may have looked past blanks for another
                 * literal: the value ends at the last quote. */
                while (p->pos > n->value && p->t[p->pos - 1] != '"')
                        p->pos--;
        } else if (scalar_char(c)) {
                n->kind = NODE_SCALAR;
                while (!at_end(p) && scalar_char(p->t[p->pos]))
                        p->pos++;
        } else if (at_end(p)) {
                return fail(p, "a value is missing at the end of the file");
        } else {
                return fail(p, "unexpected '%c' where a value should be", c);
        }
        n->value_end = p->pos;
        p->depth--;
        return 0;
}

static int parse_setting(struct parser *p, struct node *n)
{
        n->start = n->name = p->pos;
        if (peek(p) == '@')
                return fail(p, "@include and other directives are not supported");
        if (!name_first(peek(p)))
                return fail(p, "expected a setting name, found '%c'", peek(p));
        while (!at_end(p) && name_rest(p->t[p->pos]))
                p->pos++;
        n->name_end = p->pos;
        if (skip_blank(p) < 0)
                return p->r;
        if (peek(p) != '=' && peek(p) != ':')
                return fail(p, "expected '=' after '%.*s'", (int) (n->name_end - n->name),
                            p->t + n->name);
        p->pos++;
        if (skip_blank(p) < 0 || parse_value(p, n) < 0)
                return p->r;
        n->end = p->pos;
        {
                size_t after = p->pos;

                if (skip_blank(p) < 0)
                        return p->r;
                if (peek(p) == ';' || peek(p) == ',')
                        n->end = ++p->pos;
                else
                        p->pos = after;
        }
        return 0;
}

static int parse_text(const char *text, size_t len, struct node *root,
                      struct tp_confedit_error *err)
{
        struct parser p = { .t = text, .len = len, .err = err };

        *root = (struct node) { .kind = NODE_GROUP, .end = len, .value_end = len };
        if (memchr(text, '\0', len)) {
                set_error(err, line_at(text, (size_t) ((const char *) memchr(text, '\0', len) - text)),
                          "the file contains a NUL byte");
                return -EINVAL;
        }
        if (parse_group_body(&p, root, '\0') < 0) {
                node_free(root);
                return p.r;
        }
        return 0;
}

/* ---- keys --------------------------------------------------------------- */

struct key_path {
        char names[TP_CONFEDIT_DEPTH_MAX][TP_CONFEDIT_KEY_MAX];
        size_t n;
};

static int split_key(const char *key, struct key_path *k, struct tp_confedit_error *err)
{
        const char *p = key;

        k->n = 0;
        if (strlen(key) >= TP_CONFEDIT_KEY_MAX) {
                set_error(err, 0, "key is too long (at most %d characters)", TP_CONFEDIT_KEY_MAX - 1);
                return -EINVAL;
        }
        for (;;) {
                size_t n = strcspn(p, ".");

                if (n == 0) {
                        set_error(err, 0, "key '%s' has an empty name%s", key,
                                  key[0] ? " (two dots, or a dot at an end)" : "");
                        return -EINVAL;
                }
                if (k->n == TP_CONFEDIT_DEPTH_MAX) {
                        set_error(err, 0, "key '%s' has more than %d names", key,
                                  TP_CONFEDIT_DEPTH_MAX);
                        return -EINVAL;
                }
                if (!name_first(p[0])) {
                        set_error(err, 0, "key '%s': a name must start with a letter", key);
                        return -EINVAL;
                }
                for (size_t i = 1; i < n; i++)
                        if (!name_rest(p[i])) {
                                set_error(err, 0, "key '%s': '%c' cannot be part of a name "
                                          "(letters, digits, '-' and '_')", key, p[i]);
                                return -EINVAL;
                        }
                memcpy(k->names[k->n], p, n);
                k->names[k->n][n] = '\0';
                k->n++;
                if (p[n] == '\0')
                        return 0;
                p += n + 1;
        }
}

int tp_confedit_key_check(const char *key, struct tp_confedit_error *err)
{
        struct key_path k;

        return split_key(key, &k, err);
}

static struct node *find_child(const char *t, struct node *group, const char *name)
{
        size_t len = strlen(name);

        /* libconfig keeps the last of two settings of one name: so do we. */
        for (size_t i = group->n_children; i > 0; i--) {
                struct node *c = &group->children[i - 1];

                if (c->name_end - c->name == len && memcmp(t + c->name, name, len) == 0)
                        return c;
        }
        return NULL;
}

/* The deepest node on the way to k: *ret_depth names found. */
static struct node *walk(const char *t, struct node *root, const struct key_path *k,
                         size_t *ret_depth)
{
        struct node *n = root;
        size_t d;

        for (d = 0; d < k->n; d++) {
                struct node *c;

                if (n->kind != NODE_GROUP || !(c = find_child(t, n, k->names[d])))
                        break;
                n = c;
        }
        *ret_depth = d;
        return n;
}

/* ---- get ---------------------------------------------------------------- */

static char *unescape_string(const char *t, size_t start, size_t end)
{
        char *out = malloc(end - start + 1), *o = out;

        if (!out)
                return NULL;
        for (size_t i = start; i < end; i++) {
                if (t[i] != '"')
                        continue;
                for (i++; i < end && t[i] != '"'; i++) {
                        if (t[i] != '\\' || i + 1 >= end) {
                                *o++ = t[i];
                                continue;
                        }
                        switch (t[++i]) {
                        case 'n': *o++ = '\n'; break;
                        case 't': *o++ = '\t'; break;
                        case 'r': *o++ = '\r'; break;
                        case 'f': *o++ = '\f'; break;
                        case 'x':
                                if (i + 2 < end) {
                                        char hex[3] = { t[i + 1], t[i + 2], 0 };

                                        *o++ = (char) strtoul(hex, NULL, 16);
                                        i += 2;
                                }
                                break;
                        default: *o++ = t[i]; break;
                        }
                }
        }
        *o = '\0';
        return out;
}

/* The value's text with comments dropped and each run of blanks one
 * space. */
static char *folded(const char *t, size_t start, size_t end)
{
        char *out = malloc(end - start + 1), *o = out;
        bool in_string = false, blank = false;

        if (!out)
                return NULL;
        for (size_t i = start; i < end; i++) {
                char c = t[i];

                if (in_string) {
                        *o++ = c;
                        if (c == '\\' && i + 1 < end)
                                *o++ = t[++i];
                        else if (c == '"')
                                in_string = false;
                        continue;
                }
                if (c == '#' || (c == '/' && i + 1 < end && t[i + 1] == '/')) {
                        while (i + 1 < end && t[i + 1] != '\n')
                                i++;
                        blank = true;
                        continue;
                }
                if (c == '/' && i + 1 < end && t[i + 1] == '*') {
                        const char *close = memmem(t + i + 2, end - i - 2, "*/", 2);

                        i = close ? (size_t) (close - t) + 1 : end;
                        blank = true;
                        continue;
                }
                if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
                        blank = true;
                        continue;
                }
                if (blank && o > out && c != ']' && c != ')' && c != ',' && o[-1] != '[' &&
                    o[-1] != '(')
                        *o++ = ' ';
                blank = false;
                if (c == '"')
                        in_string = true;
                *o++ = c;
        }
        *o = '\0';
        return out;
}

int tp_confedit_get(const char *text, size_t len, const char *key, char **ret_value,
                    enum tp_confedit_kind *ret_kind, struct tp_confedit_error *err)
{
        struct node root, *n;
        struct key_path k;
        char *value = NULL;
        size_t depth;
        int r;

        if ((r = split_key(key, &k, err)) < 0 || (r = parse_text(text, len, &root, err)) < 0)
                return r;
        n = walk(text, &root, &k, &depth);
        if (depth < k.n) {
                r = -ENOENT;
                goto out;
        }
        switch (n->kind) {
        case NODE_STRING:
                value = unescape_string(text, n->value, n->value_end);
                *ret_kind = TP_CONFEDIT_STRING;
                break;
        case NODE_SCALAR:
                value = strndup(text + n->value, n->value_end - n->value);
                *ret_kind = TP_CONFEDIT_SCALAR;
                break;
        case NODE_ARRAY:
                value = folded(text, n->value, n->value_end);
                *ret_kind = TP_CONFEDIT_ARRAY;
                break;
        case NODE_GROUP: {
                size_t size = 0;
                bool ok = true;
                FILE *f = open_memstream(&value, &size);

                if (!f) {
                        r = -ENOMEM;
                        goto out;
                }
                for (size_t i = 0; i < n->n_children && ok; i++) {
                        const struct node *c = &n->children[i];
                        char *v = folded(text, c->value, c->value_end);

                        if (!v)
                                ok = false;
                        else
                                fprintf(f, "%.*s = %s\n", (int) (c->name_end - c->name),
                                        text + c->name, v);
                        free(v);
                }
                if (fclose(f) != 0 || !ok) {
                        free(value);
                        value = NULL;
                }
                *ret_kind = TP_CONFEDIT_GROUP;
                break;
        }
        }
        if (!value) {
                r = -ENOMEM;
                goto out;
        }
        *ret_value = value;
        r = 0;
out:
        node_free(&root);
        return r;
}

/* ---- set and unset ------------------------------------------------------ */

int tp_confedit_literal(const char *value, char **ret_literal, struct tp_confedit_error *err)
{
        size_t len = strlen(value), i;
        struct parser p = { .t = value, .len = len };
        struct node n = {};
        char *out, *o;
        char c0 = value[0];

        /* Syntax on its own: exactly one value, nothing around it. */
        if (c0 == '[' || c0 == '(' || c0 == '{' || c0 == '"') {
                p.err = err;
                if (parse_value(&p, &n) >= 0) {
                        node_free(&n);
                        /* Blanks may follow, a comment may not: it would
                         * swallow what the file has after the value. */
                        while (!at_end(&p) && strchr(" \t\r\n", p.t[p.pos]))
                                p.pos++;
                }
                if (p.r < 0 || !at_end(&p)) {
                        node_free(&n);
                        if (p.r == 0)
                                set_error(err, 0, "'%s' has text after its value", value);
                        else if (err)
                                err->line = 0;
                        return -EINVAL;
                }
                return (*ret_literal = strdup(value)) ? 0 : -ENOMEM;
        }
        if (len > 0 && parse_value(&p, &n) == 0 && at_end(&p)) {
                bool is_bool = strcasecmp(value, "true") == 0 || strcasecmp(value, "false") == 0;
                bool is_number = (value[0] >= '0' && value[0] <= '9') ||
                                 ((value[0] == '-' || value[0] == '+' || value[0] == '.') &&
                                  value[1] >= '0' && value[1] <= '9');

                if (is_bool || is_number)
                        return (*ret_literal = strdup(value)) ? 0 : -ENOMEM;
        }
        /* A string: quoted, with what libconfig cannot take raw escaped. */
        out = o = malloc(len * 4 + 3);
        if (!out)
                return -ENOMEM;
        *o++ = '"';
        for (i = 0; i < len; i++) {
                unsigned char c = (unsigned char) value[i];

                if (c == '"' || c == '\\') {
                        *o++ = '\\';
                        *o++ = (char) c;
                } else if (c == '\n') {
                        o = stpcpy(o, "\\n");
                } else if (c == '\t') {
                        o = stpcpy(o, "\\t");
                } else if (c < 0x20 || c == 0x7f) {
                        o += sprintf(o, "\\x%02x", c);
                } else {
                        *o++ = (char) c;
                }
        }
        *o++ = '"';
        *o = '\0';
        *ret_literal = out;
        return 0;
}

/* Start of the line holding pos. */
static size_t line_start(const char *t, size_t pos)
{
        while (pos > 0 && t[pos - 1] != '\n')
                pos--;
        return pos;
}

static size_t indent_len(const char *t, size_t len, size_t start)
{
        size_t i = start;

        while (i < len && (t[i] == ' ' || t[i] == '\t'))
                i++;
        return i - start;
}

/* The file's unit of indentation: that of its first indented line. */
static void indent_unit(const char *t, size_t len, char out[17])
{
        size_t i = 0;

        while (i < len) {
                const char *nl = memchr(t + i, '\n', len - i);
                size_t end = nl ? (size_t) (nl - t) : len, n = indent_len(t, end, i);

                if (n > 0 && n <= 16 && i + n < end && t[i + n] != '#') {
                        memcpy(out, t + i, n);
                        out[n] = '\0';
                        return;
                }
                i = end + 1;
        }
        strcpy(out, "        ");
}

/* End of the line pos is on, past a comment after the setting; at the
 * '\n' itself (or len). */
static size_t rest_of_line(const char *t, size_t len, size_t pos)
{
        while (pos < len && t[pos] != '\n')
                pos++;
        return pos;
}

/* Where a new line may follow a setting that ends at pos: the end of
 * its line when only blanks and comments that close on that line follow
 * it, or SIZE_MAX when something else does (the group's closing brace, a
 * block comment that runs on to later lines): then the new setting goes
 * on the same line. */
static size_t line_after(const char *t, size_t len, size_t pos)
{
        while (pos < len && t[pos] != '\n') {
                if (t[pos] == ' ' || t[pos] == '\t' || t[pos] == '\r') {
                        pos++;
                } else if (t[pos] == '#' || (t[pos] == '/' && pos + 1 < len && t[pos + 1] == '/')) {
                        return rest_of_line(t, len, pos);
                } else if (t[pos] == '/' && pos + 1 < len && t[pos + 1] == '*') {
                        const char *nl = memchr(t + pos, '\n', len - pos);
                        size_t limit = nl ? (size_t) (nl - t) : len;
                        const char *close = memmem(t + pos + 2, limit - pos - 2, "*/", 2);

                        if (!close)
                                return SIZE_MAX;
                        pos = (size_t) (close - t) + 2;
                } else {
                        return SIZE_MAX;
                }
        }
        return pos;
}

static int splice_text(const char *t, size_t len, size_t from, size_t to, const char *insert,
                  char **ret_text, size_t *ret_len)
{
        size_t ins = strlen(insert), n = len - (to - from) + ins;
        char *out = malloc(n + 1);

        if (!out)
                return -ENOMEM;
        memcpy(out, t, from);
        memcpy(out + from, insert, ins);
        memcpy(out + from + ins, t + to, len - to);
        out[n] = '\0';
        *ret_text = out;
        *ret_len = n;
        return 0;
}

/* "a = { b = { c = LITERAL; }; }" for the names k[from..] not yet in the
 * file, on one line: a new group is small, and one line keeps the
 * insertion simple to review. */
static char *nested_setting(const struct key_path *k, size_t from, const char *literal)
{
        char *out = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&out, &size);

        if (!f)
                return NULL;
        for (size_t d = from; d < k->n; d++)
                fprintf(f, d + 1 < k->n ? "%s = { " : "%s = ", k->names[d]);
        fputs(literal, f);
        fputc(';', f);
        for (size_t d = from + 1; d < k->n; d++)
                fputs(" };", f);
        if (fclose(f) != 0) {
                free(out);
                return NULL;
        }
        return out;
}

int tp_confedit_set(const char *text, size_t len, const char *key, const char *literal,
                    char **ret_text, size_t *ret_len, struct tp_confedit_error *err)
{
        struct node root, *n;
        struct key_path k;
        size_t depth;
        char *setting = NULL, *insert = NULL, unit[17];
        int r;

        if ((r = split_key(key, &k, err)) < 0 || (r = parse_text(text, len, &root, err)) < 0)
                return r;
        n = walk(text, &root, &k, &depth);
        if (depth == k.n) {
                /* The old value may run straight into what follows it
                 * (`a = "x"b = 1;` is valid): a blank keeps the new one
                 * from joining it. */
                bool apart = n->value_end < len && !strchr(" \t\r\n;,", text[n->value_end]);

                if (apart && asprintf(&insert, "%s ", literal) < 0) {
                        insert = NULL;
                        r = -ENOMEM;
                        goto out;
                }
                r = splice_text(text, len, n->value, n->value_end, apart ? insert : literal,
                                ret_text, ret_len);
                goto out;
        }
        if (n->kind != NODE_GROUP) {
                set_error(err, line_at(text, n->start), "'%.*s' is not a group, so it cannot "
                          "hold '%s'", (int) (n->name_end - n->name), text + n->name,
                          k.names[depth]);
                r = -EINVAL;
                goto out;
        }
        if (!(setting = nested_setting(&k, depth, literal))) {
                r = -ENOMEM;
                goto out;
        }
        indent_unit(text, len, unit);
        if (n == &root) {
                /* At the end of the file, on a line of its own. */
                bool nl = len > 0 && text[len - 1] != '\n';

                if (asprintf(&insert, "%s%s\n", nl ? "\n" : "", setting) < 0)
                        insert = NULL;
                else
                        r = splice_text(text, len, len, len, insert, ret_text, ret_len);
        } else if (n->n_children > 0) {
                /* After the group's last setting, indented as it is. */
                const struct node *last = &n->children[n->n_children - 1];
                size_t ls = line_start(text, last->start);
                size_t at = line_after(text, len, last->end);
                int w;

                if (at == SIZE_MAX) /* say, the group closes on that line */
                        w = asprintf(&insert, " %s", setting), at = last->end;
                else
                        w = asprintf(&insert, "\n%.*s%s", (int) indent_len(text, len, ls),
                                     text + ls, setting);
                if (w < 0)
                        insert = NULL;
                else
                        r = splice_text(text, len, at, at, insert, ret_text, ret_len);
        } else {
                /* An empty group: the setting on a line of its own inside,
                 * the closing brace on the next at the group's indentation. */
                size_t ls = line_start(text, n->start), il = indent_len(text, len, ls);
                size_t open = n->value + 1, close = n->value_end - 1;

                if (asprintf(&insert, "\n%.*s%s%s\n%.*s", (int) il, text + ls, unit, setting,
                             (int) il, text + ls) < 0)
                        insert = NULL;
                else
                        r = splice_text(text, len, open, close, insert, ret_text, ret_len);
        }
        if (!insert)
                r = -ENOMEM;
out:
        free(setting);
        free(insert);
        node_free(&root);
        return r;
}

int tp_confedit_unset(const char *text, size_t len, const char *key, char **ret_text,
                      size_t *ret_len, struct tp_confedit_error *err)
{
        struct node root, *n;
        struct key_path k;
        size_t depth, from, to, ls, le;
        int r;

        if ((r = split_key(key, &k, err)) < 0 || (r = parse_text(text, len, &root, err)) < 0)
                return r;
        n = walk(text, &root, &k, &depth);
        if (depth < k.n) {
                r = -ENOENT;
                goto out;
        }
        from = n->start;
        to = n->end;
        /* The whole line(s) when only blanks stand before it and only
         * blanks or a comment after it. */
        ls = line_start(text, from);
        le = to;
        while (le < len && (text[le] == ' ' || text[le] == '\t'))
                le++;
        if (ls + indent_len(text, len, ls) == from &&
            (le >= len || text[le] == '\n' || text[le] == '#' ||
             (text[le] == '/' && le + 1 < len && text[le + 1] == '/'))) {
                from = ls;
                to = rest_of_line(text, len, le);
                if (to < len)
                        to++;
        } else {
                /* Inside a line: take the blanks after it too. */
                to = le;
        }
        r = splice_text(text, len, from, to, "", ret_text, ret_len);
out:
        node_free(&root);
        return r;
}

/* ---- the file ----------------------------------------------------------- */

static int read_fd(int fd, char **ret_text, size_t *ret_len)
{
        struct stat st;
        char *buf;
        size_t n = 0;

        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        if (st.st_size > FILE_SIZE_MAX)
                return -EFBIG;
        /* One byte more than the size, to see a file that grew meanwhile. */
        buf = malloc(FILE_SIZE_MAX + 2);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t k = read(fd, buf + n, FILE_SIZE_MAX + 1 - n);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        int r = -errno;

                        free(buf);
                        return r;
                }
                if (k == 0)
                        break;
                n += (size_t) k;
                if (n > FILE_SIZE_MAX) {
                        free(buf);
                        return -EFBIG;
                }
        }
        buf[n] = '\0';
        *ret_text = buf;
        *ret_len = n;
        return 0;
}

int tp_confedit_read(const char *path, char **ret_text, size_t *ret_len)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY), r;

        if (fd < 0)
                return -errno;
        r = read_fd(fd, ret_text, ret_len);
        close(fd);
        return r;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
        return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

int tp_confedit_lock(const char *path)
{
        for (int tries = 0; tries < 64; tries++) {
                struct stat held, now;
                int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

                if (fd < 0)
                        return -errno;
                if (flock(fd, LOCK_EX) < 0 || fstat(fd, &held) < 0) {
                        int r = -errno;

                        close(fd);
                        return r;
                }
                /* The file this lock is on may have been replaced while
                 * waiting for it: then the lock guards nothing. */
                if (stat(path, &now) == 0 && same_file(&now, &held))
                        return fd;
                close(fd);
        }
        return -EAGAIN;
}

static bool file_holds(const char *path, const char *expected, size_t expected_len, int *ret_r)
{
        char *now = NULL;
        size_t n = 0;
        bool same;

        *ret_r = tp_confedit_read(path, &now, &n);
        if (*ret_r < 0)
                return false;
        same = n == expected_len && memcmp(now, expected, n) == 0;
        free(now);
        return same;
}

static int write_all(int fd, const char *text, size_t len)
{
        while (len > 0) {
                ssize_t k = write(fd, text, len);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                text += k;
                len -= (size_t) k;
        }
        return 0;
}

/* After swapping our text in, the file swapped out (now at tmp) was not
 * the one the edit was made from: put it back. Someone may save again
 * between two swaps (their rename replaces the file at real), and then a
 * swap brings their newer file to tmp: it is swapped in once more, until a
 * swap brings back to tmp the very file the one before put at real (or our
 * own text): then nobody saved in between, real holds the newest of
 * theirs, and tmp an older file of theirs that their save replaced, or our
 * text. Files are told apart by identity, each held open meanwhile so that
 * its inode cannot be reused; contents could repeat. 0 when tmp may be
 * deleted; a negative errno when it must stay beside the file. */
static int put_back(const char *tmp, const char *real, int ours_fd)
{
        struct stat expected, got;
        int held = -1, r, attempt;

        /* At real, our text is expected until the first swap. */
        if (fstat(ours_fd, &expected) < 0)
                return -errno;
        for (attempt = 0; attempt < 64; attempt++) {
                int next = open(tmp, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
                struct stat moving;

                if (next < 0 || fstat(next, &moving) < 0) {
                        r = -errno;
                        if (next >= 0)
                                close(next);
                        goto out;
                }
                if (renameat2(AT_FDCWD, tmp, AT_FDCWD, real, RENAME_EXCHANGE) < 0) {
                        r = -errno;
                        close(next);
                        goto out;
                }
                if (stat(tmp, &got) < 0) {
                        r = -errno;
                        close(next);
                        goto out;
                }
                if (same_file(&got, &expected)) {
                        close(next);
                        r = 0;
                        goto out;
                }
                /* Saved again meanwhile: what came to tmp is newer than
                 * what just went to real. */
                if (held >= 0)
                        close(held);
                held = next;
                expected = moving;
        }
        r = -EBUSY; /* saved again and again meanwhile: both files are kept */
out:
        if (held >= 0)
                close(held);
        return r;
}

int tp_confedit_replace(const char *path, const char *expected, size_t expected_len,
                        const char *text, size_t len)
{
        char real[PATH_MAX], tmp[PATH_MAX + 32], dir[PATH_MAX];
        struct stat st;
        int fd = -1, dfd = -1, r;
        bool swapped = false;

        /* A symbolic link stays one: the file it names is replaced. */
        if (!realpath(path, real))
                return -errno;
        if (stat(real, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        snprintf(dir, sizeof(dir), "%s", real);
        if ((size_t) snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dirname(dir),
                              strrchr(real, '/') + 1) >= sizeof(tmp))
                return -ENAMETOOLONG;
        snprintf(dir, sizeof(dir), "%s", real);
        dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return -errno;

        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0) {
                r = -errno;
                goto out;
        }
        if ((r = write_all(fd, text, len)) < 0)
                goto fail;
        if (fchmod(fd, st.st_mode & 07777) < 0 ||
            (fchown(fd, st.st_uid, st.st_gid) < 0 && errno != EPERM) || fsync(fd) < 0) {
                r = -errno;
                goto fail;
        }

        if (renameat2(AT_FDCWD, tmp, AT_FDCWD, real, RENAME_EXCHANGE) == 0) {
                /* tmp now names the file as it was: is it what we edited? */
                swapped = true;
                if (!file_holds(tmp, expected, expected_len, &r)) {
                        int put = put_back(tmp, real, fd);

                        if (put < 0) {
                                r = put;
                                tmp[0] = '\0'; /* not ours to delete */
                                goto out;
                        }
                        if (r == 0)
                                r = -ESTALE;
                        goto fail;
                }
        } else if (errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP) {
                if (!file_holds(real, expected, expected_len, &r)) {
                        if (r == 0)
                                r = -ESTALE;
                        goto fail;
                }
                if (rename(tmp, real) < 0) {
                        r = -errno;
                        goto fail;
                }
                tmp[0] = '\0';
        } else {
                r = -errno;
                goto fail;
        }
        if (swapped && unlink(tmp) < 0) {
                r = -errno;
                tmp[0] = '\0';
                goto out;
        }
        tmp[0] = '\0';
        r = fsync(dfd) < 0 ? -errno : 0;
        goto out;
fail:
        if (tmp[0])
                unlink(tmp);
out:
        if (fd >= 0)
                close(fd);
        close(dfd);
        return r;
}
