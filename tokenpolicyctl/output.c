/* SPDX-License-Identifier: BSD-3-Clause */
/* output.c: how tokenpolicyctl shows things: aligned tables, JSON string
 * literals, and times as local dates and "3h 12m ago".
 *
 * Text that came from the daemon (user names, hosts, ttys, services) is
 * untrusted here: it must never reach the terminal with a character that
 * moves the cursor, changes what the terminal does, reorders or hides the
 * text around it (C0 and C1 controls, bidirectional overrides and
 * isolates, line and paragraph separators, invisible format characters)
 * or with bytes that are not UTF-8, and never leave a JSON document that
 * fails to parse. Such characters are shown as escapes (\u202e, \x1b,
 * \xff), never dropped or replaced, so that what is shown still tells
 * one name from another.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"

struct ctl_table {
        size_t n_columns;
        size_t gap;       /* spaces between columns */
        size_t n_cells;
        size_t allocated;
        char **cells;
};

/* Length of the well-formed UTF-8 sequence at s (1..4) and its code point,
 * or 0 when s does not start one: overlong forms, surrogates and values
 * past U+10FFFF are not well-formed. */
static size_t utf8_decode(const unsigned char *s, uint32_t *ret_cp)
{
        uint32_t cp, min;
        size_t n, i;

        if (s[0] < 0x80) {
                *ret_cp = s[0];
                return 1;
        }
        if ((s[0] & 0xe0) == 0xc0) {
                n = 2;
                cp = s[0] & 0x1f;
                min = 0x80;
        } else if ((s[0] & 0xf0) == 0xe0) {
                n = 3;
                cp = s[0] & 0x0f;
                min = 0x800;
        } else if ((s[0] & 0xf8) == 0xf0) {
                n = 4;
                cp = s[0] & 0x07;
                min = 0x10000;
        } else {
                return 0;
        }
        /* A NUL terminator fails the continuation test, so this never reads
         * past the end of the string. */
        for (i = 1; i < n; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        *ret_cp = cp;
        return n;
}

/* Characters never shown as themselves: controls, and the format
 * characters that change how the text around them is displayed without
 * being visible (Trojan Source: an override can make "alice" and "ecila"
 * look alike, a separator can start a new table row). */
static bool must_escape(uint32_t cp)
{
        return cp < 0x20 || (cp >= 0x7f && cp < 0xa0) || /* C0, DEL, C1 */
               cp == 0xad ||                             /* soft hyphen */
               cp == 0x61c ||                            /* arabic letter mark */
               cp == 0x180e ||                           /* mongolian vowel separator */
               (cp >= 0x200b && cp <= 0x200f) ||         /* zero widths, LRM, RLM */
               (cp >= 0x2028 && cp <= 0x202e) ||         /* line and paragraph separators,
                                                          * embeddings, overrides */
               (cp >= 0x2060 && cp <= 0x206f) ||         /* word joiner, isolates, ... */
               cp == 0xfeff ||                           /* zero width no-break space */
               (cp >= 0xfff9 && cp <= 0xfffb) ||         /* interlinear annotations */
               (cp >= 0xe0000 && cp <= 0xe007f);         /* tags */
}

/* The longest escape: "\U" and 8 hex digits. */
#define ESCAPE_MAX 10

/* A copy safe to print on a terminal: a character that must not be shown
 * as itself becomes \uXXXX (\UXXXXXXXX past the BMP), a byte that is not
 * UTF-8 \xHH, and a backslash \\, so that an escape in the text cannot
 * pass for one made here. Sets *ret_width to the number of characters
 * shown. */
static char *sanitize(const char *text, size_t *ret_width)
{
        const unsigned char *s = (const unsigned char *) text;
        size_t width = 0, len = strlen(text), i = 0, o = 0;
        char *out;

        out = malloc(len * ESCAPE_MAX + 1);
        if (!out)
                return NULL;
        while (i < len) {
                uint32_t cp;
                size_t n = utf8_decode(s + i, &cp);
                int w;

                if (n == 0) {
                        w = sprintf(out + o, "\\x%02x", s[i]);
                        i++;
                } else if (cp == '\\') {
                        w = sprintf(out + o, "\\\\");
                        i++;
                } else if (must_escape(cp)) {
                        w = sprintf(out + o, cp > 0xffff ? "\\U%08x" : "\\u%04x", (unsigned) cp);
                        i += n;
                } else {
                        memcpy(out + o, s + i, n);
                        o += n;
                        i += n;
                        width++;
                        continue;
                }
                o += (size_t) w;
                width += (size_t) w;
        }
        out[o] = '\0';
        *ret_width = width;
        return out;
}

int ctl_table_new(size_t n_columns, size_t gap, struct ctl_table **ret)
{
        struct ctl_table *t;

        if (n_columns == 0)
                return -EINVAL;
        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->n_columns = n_columns;
        t->gap = gap;
        *ret = t;
        return 0;
}

void ctl_table_free(struct ctl_table *t)
{
        size_t i;

        if (!t)
                return;
        for (i = 0; i < t->n_cells; i++)
                free(t->cells[i]);
        free(t->cells);
        free(t);
}

int ctl_table_add(struct ctl_table *t, const char *cell)
{
        size_t width;
        char *copy;

        if (t->n_cells == t->allocated) {
                size_t n = t->allocated ? t->allocated * 2 : 64;
                char **cells;

                cells = reallocarray(t->cells, n, sizeof(*cells));
                if (!cells)
                        return -ENOMEM;
                t->cells = cells;
                t->allocated = n;
        }
        copy = sanitize(cell, &width);
        if (!copy)
                return -ENOMEM;
        t->cells[t->n_cells++] = copy;
        return 0;
}

int ctl_table_addf(struct ctl_table *t, const char *fmt, ...)
{
        va_list ap;
        char *text;
        int n, r;

        va_start(ap, fmt);
        n = vasprintf(&text, fmt, ap);
        va_end(ap);
        if (n < 0)
                return -ENOMEM;
        r = ctl_table_add(t, text);
        free(text);
        return r;
}

static size_t text_width(const char *s)
{
        size_t w = 0;

        /* Cells are sanitized UTF-8: count the bytes that start a
         * character. */
        for (; *s; s++)
                if (((unsigned char) *s & 0xc0) != 0x80)
                        w++;
        return w;
}

int ctl_table_print(const struct ctl_table *t, FILE *f)
{
        size_t *widths, i, col;

        if (t->n_cells % t->n_columns != 0)
                return -EINVAL;
        widths = calloc(t->n_columns, sizeof(*widths));
        if (!widths)
                return -ENOMEM;
        for (i = 0; i < t->n_cells; i++) {
                size_t w = text_width(t->cells[i]);

                col = i % t->n_columns;
                if (w > widths[col])
                        widths[col] = w;
        }
        for (i = 0; i < t->n_cells; i++) {
                col = i % t->n_columns;
                fputs(t->cells[i], f);
                if (col + 1 == t->n_columns)
                        fputc('\n', f);
                else
                        fprintf(f, "%*s", (int) (widths[col] - text_width(t->cells[i]) + t->gap),
                                "");
        }
        free(widths);
        return 0;
}

void ctl_json_string(FILE *f, const char *text)
{
        const unsigned char *s = (const unsigned char *) text;
        size_t i = 0;

        fputc('"', f);
        while (s[i]) {
                uint32_t cp;
                size_t n = utf8_decode(s + i, &cp);

                if (n == 0) {
                        fputs("\\ufffd", f);
                        i++;
                } else if (cp == '"' || cp == '\\') {
                        fputc('\\', f);
                        fputc((int) cp, f);
                        i++;
                } else if (must_escape(cp) && cp > 0xffff) {
                        /* A UTF-16 surrogate pair, as JSON spells it. */
                        cp -= 0x10000;
                        fprintf(f, "\\u%04x\\u%04x", 0xd800 + (unsigned) (cp >> 10),
                                0xdc00 + (unsigned) (cp & 0x3ff));
                        i += n;
                } else if (must_escape(cp)) {
                        fprintf(f, "\\u%04x", (unsigned) cp);
                        i += n;
                } else {
                        fwrite(s + i, 1, n, f);
                        i += n;
                }
        }
        fputc('"', f);
}

void ctl_json_session(FILE *f, const struct tp_session_info *s, const char *host)
{
        fprintf(f, "{\"id\":");
        ctl_json_string(f, s->id);
        fprintf(f, ",\"user\":");
        ctl_json_string(f, s->user);
        fprintf(f, ",\"uid\":%u,\"client\":", s->uid);
        ctl_json_string(f, s->client);
        fprintf(f, ",\"service\":");
        ctl_json_string(f, s->service);
        fprintf(f, ",\"rhost\":");
        ctl_json_string(f, s->rhost);
        fprintf(f, ",\"tty\":");
        ctl_json_string(f, s->tty);
        fprintf(f, ",\"leader_pid\":%u,\"created\":%lld,\"refresh_expires\":%lld,"
                "\"last_extended\":%lld,\"last_used\":%lld,\"ended\":%lld,\"state\":",
                s->leader_pid, (long long) s->created, (long long) s->refresh_expires,
                (long long) s->last_extended, (long long) s->last_used, (long long) s->ended);
        ctl_json_string(f, tp_state_name(s->state));
        if (host) {
                fprintf(f, ",\"host\":");
                ctl_json_string(f, host);
        }
        fputc('}', f);
}

void ctl_format_time(int64_t t, bool with_seconds, char out[CTL_TIME_TEXT])
{
        time_t tt = (time_t) t;
        struct tm tm;

        if (t == 0) {
                snprintf(out, CTL_TIME_TEXT, "-");
                return;
        }
        if ((int64_t) tt != t || !localtime_r(&tt, &tm) ||
            strftime(out, CTL_TIME_TEXT, with_seconds ? "%Y-%m-%d %H:%M:%S" : "%Y-%m-%d %H:%M",
                     &tm) == 0)
                snprintf(out, CTL_TIME_TEXT, "@%lld", (long long) t);
}

void ctl_format_span(int64_t seconds, char out[CTL_SPAN_TEXT])
{
        uint64_t s = seconds < 0 ? 0 : (uint64_t) seconds;
        uint64_t d = s / 86400, h = s % 86400 / 3600, m = s % 3600 / 60;

        if (d > 0 && h > 0)
                snprintf(out, CTL_SPAN_TEXT, "%llud %lluh", (unsigned long long) d,
                         (unsigned long long) h);
        else if (d > 0)
                snprintf(out, CTL_SPAN_TEXT, "%llud", (unsigned long long) d);
        else if (h > 0 && m > 0)
                snprintf(out, CTL_SPAN_TEXT, "%lluh %llum", (unsigned long long) h,
                         (unsigned long long) m);
        else if (h > 0)
                snprintf(out, CTL_SPAN_TEXT, "%lluh", (unsigned long long) h);
        else if (m > 0)
                snprintf(out, CTL_SPAN_TEXT, "%llum", (unsigned long long) m);
        else
                snprintf(out, CTL_SPAN_TEXT, "%llus", (unsigned long long) s);
}

void ctl_format_relative(int64_t t, int64_t now, char out[CTL_TIME_TEXT])
{
        char span[CTL_SPAN_TEXT];
        int64_t diff;

        /* Saturate instead of overflowing on absurd times. */
        if (__builtin_sub_overflow(t, now, &diff))
                diff = t > now ? INT64_MAX : INT64_MIN;
        if (diff > 0) {
                ctl_format_span(diff, span);
                snprintf(out, CTL_TIME_TEXT, "in %s", span);
        } else {
                ctl_format_span(diff == INT64_MIN ? INT64_MAX : -diff, span);
                snprintf(out, CTL_TIME_TEXT, "%s ago", span);
        }
}

void ctl_format_time_relative(int64_t t, int64_t now, char out[CTL_WHEN_TEXT])
{
        char when[CTL_TIME_TEXT], rel[CTL_TIME_TEXT];

        if (t == 0) {
                snprintf(out, CTL_WHEN_TEXT, "-");
                return;
        }
        ctl_format_time(t, true, when);
        ctl_format_relative(t, now, rel);
        snprintf(out, CTL_WHEN_TEXT, "%s (%s)", when, rel);
}

int ctl_finish_output(void)
{
        if (fflush(stdout) != 0 || ferror(stdout)) {
                ctl_error("cannot write the output: %s", strerror(errno ? errno : EIO));
                return CTL_EXIT_FAIL;
        }
        return CTL_EXIT_OK;
}
