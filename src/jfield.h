/*
 * jfield.h - bounded members of a decoded JSON object, for the modules that
 * read records written by other instances (record.c, witness_rule.c,
 * history.c).  Such a record may come from any version or be hostile, so
 * every member is checked for its type and size before it is copied.
 */
#ifndef BREAKERD_JFIELD_H
#define BREAKERD_JFIELD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Integers above this cannot travel through a JSON double exactly. */
#define JFIELD_INT_MAX 9007199254740991ULL

/*
 * A string member copied into dst[size], "" if absent.  0, or -1 with a
 * message in err when it is not a string, does not fit or holds a NUL.
 */
int jfield_str(json_t *obj, const char *key, char *dst, size_t size, char *err,
    size_t errlen);

/*
 * A non-negative integer member in [0, min(max, JFIELD_INT_MAX)] into *out,
 * 0 if absent (an error if required).  0, or -1 with a message in err.
 */
int jfield_uint(json_t *obj, const char *key, uint64_t max, bool required,
    uint64_t *out, char *err, size_t errlen);

#endif
