/*
 * jfield.c - bounded members of a decoded JSON object (see jfield.h).
 * Pure code: no I/O, no clock.
 */
#include <stdio.h>
#include <string.h>

#include "jfield.h"
#include "util.h"

int
jfield_str(json_t *obj, const char *key, char *dst, size_t size, char *err,
    size_t errlen)
{
	json_t *v = json_object_get(obj, key);

	dst[0] = '\0';
	if (v == NULL)
		return 0;
	if (!json_is_string(v)) {
		snprintf(err, errlen, "\"%s\" is not a string", key);
		return -1;
	}
	if (json_string_length(v) >= size
	    || strlen(json_string_value(v)) != json_string_length(v)) {
		snprintf(err, errlen, "\"%s\" too long or holds NUL", key);
		return -1;
	}
	strlcpy_b(dst, json_string_value(v), size);
	return 0;
}

int
jfield_uint(json_t *obj, const char *key, uint64_t max, bool required,
    uint64_t *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, key);
	json_int_t n;

	*out = 0;
	if (v == NULL) {
		if (!required)
			return 0;
		snprintf(err, errlen, "missing \"%s\"", key);
		return -1;
	}
	if (!json_is_integer(v)) {
		snprintf(err, errlen, "\"%s\" is not an integer", key);
		return -1;
	}
	n = json_integer_value(v);
	if (n < 0 || (uint64_t)n > JFIELD_INT_MAX || (uint64_t)n > max) {
		snprintf(err, errlen, "\"%s\" out of range", key);
		return -1;
	}
	*out = (uint64_t)n;
	return 0;
}
