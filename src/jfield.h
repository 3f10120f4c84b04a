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
 * Parse buf[len], at most max bytes, as one JSON object (duplicate keys
 * refused).  NULL with a message in err if it is empty, too large, not
 * JSON or not an object.
 */
json_t *jfield_load(
    const char *buf, size_t len, size_t max, char *err, size_t errlen);

/* What a decoder reads from the object into its record (rec). */
typedef int (*jfield_members_fn)(
    json_t *obj, void *rec, char *err, size_t errlen);

/*
 * jfield_load, then members() into a zeroed record of size bytes that is
 * copied to out only if every member was good: a bad record leaves out as
 * it was (the last good one is kept).  0, or -1 with a message in err.
 */
int jfield_decode(const char *buf, size_t len, size_t max,
    jfield_members_fn members, void *out, size_t size, char *err,
    size_t errlen);

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

/* jfield_uint for a uint32_t member (max at most UINT32_MAX). */
int jfield_u32(json_t *obj, const char *key, uint32_t max, bool required,
    uint32_t *out, char *err, size_t errlen);

#endif
