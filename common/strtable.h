/* SPDX-License-Identifier: BSD-3-Clause */
/* strtable.h: the names of an enum's values, written once and looked up
 * both ways.
 *
 * A table is an array of strings indexed by the value, declared as
 * `static const char *const NAME_table[MAX + 1]` with designated
 * initialisers; a NULL entry is a number that has no name (a retired
 * one). From it, TP_DEFINE_STRING_TABLE_LOOKUP(NAME) generates
 *
 *     const char *NAME_to_string(unsigned v);  the name, or NULL when v has none
 *     int NAME_from_string(const char *s);     the value, or -EINVAL for NULL
 *                                              or a string that names none
 *
 * (TP_DEFINE_PRIVATE_STRING_TABLE_LOOKUP makes them static), and
 * TP_DEFINE_STRING_TABLE_NAME(NAME) a NAME_name(v) that says "unknown"
 * instead of NULL, for logs and output. Names compare exactly, case
 * included: they are what files and the wire carry, not what people
 * type. The same idea as systemd's DEFINE_STRING_TABLE_LOOKUP.
 *
 * Header only, so that every part that links common/ gets it with no
 * object of its own; allocates nothing, never logs.
 */
#pragma once

#include <errno.h>
#include <stddef.h>
#include <string.h>

#define TP_ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

static inline const char *tp_strtable_to_string(const char *const *table, size_t n, unsigned v)
{
        return v < n ? table[v] : NULL;
}

static inline int tp_strtable_from_string(const char *const *table, size_t n, const char *s)
{
        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (table[i] && strcmp(table[i], s) == 0)
                        return (int) i;
        return -EINVAL;
}

#define TP_DEFINE_STRING_TABLE_LOOKUP_WITH_SCOPE_(name, scope)                                 \
        scope const char *name##_to_string(unsigned v)                                         \
        {                                                                                      \
                return tp_strtable_to_string(name##_table, TP_ELEMENTSOF(name##_table), v);    \
        }                                                                                      \
        scope int name##_from_string(const char *s)                                            \
        {                                                                                      \
                return tp_strtable_from_string(name##_table, TP_ELEMENTSOF(name##_table), s);  \
        }

#define TP_DEFINE_STRING_TABLE_LOOKUP(name) TP_DEFINE_STRING_TABLE_LOOKUP_WITH_SCOPE_(name, )
/* A file's own table: either function may go unused there. */
#define TP_DEFINE_PRIVATE_STRING_TABLE_LOOKUP(name) \
        TP_DEFINE_STRING_TABLE_LOOKUP_WITH_SCOPE_(name, static __attribute__((unused)))

#define TP_DEFINE_STRING_TABLE_NAME(name)                                                      \
        const char *name##_name(unsigned v)                                                    \
        {                                                                                      \
                const char *s = name##_to_string(v);                                           \
                return s ? s : "unknown";                                                      \
        }
