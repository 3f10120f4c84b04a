/*
 * jfield.c - bounded members of a decoded JSON object (see jfield.h).
 * Pure code: no I/O, no clock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jfield.h"
#include "util.h"

json_t *
jfield_load(const char *buf, size_t len, size_t max, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root;

	if (len > max) {
		snprintf(err, errlen, "record too large (%zu bytes)", len);
		return NULL;
	}
	if (buf == NULL || len == 0) {
		snprintf(err, errlen, "empty record");
		return NULL;
	}
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		snprintf(err, errlen, "invalid JSON at column %d: %s",
		    jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_object(root)) {
		snprintf(err, errlen, "record is not a JSON object");
		json_decref(root);
		return NULL;
	}
	return root;
}

int
jfield_decode(const char *buf, size_t len, size_t max,
    jfield_members_fn members, void *out, size_t size, char *err, size_t errlen)
{
	void *rec;
	json_t *obj;
	int rc;

	if ((obj = jfield_load(buf, len, max, err, errlen)) == NULL)
		return -1;
	rec = xcalloc(1, size);
	if ((rc = members(obj, rec, err, errlen)) == 0)
		memcpy(out, rec, size);
	free(rec);
	json_decref(obj);
	return rc;
}

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

int
jfield_u32(json_t *obj, const char *key, uint32_t max, bool required,
    uint32_t *out, char *err, size_t errlen)
{
	uint64_t v;

	if (jfield_uint(obj, key, max, required, &v, err, errlen) == -1)
		return -1;
	*out = (uint32_t)v;
	return 0;
}
