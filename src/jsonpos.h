/*
 * jsonpos.h - find where a value sits in JSON text.  jansson keeps no
 * positions for decoded values, so configuration errors that are found
 * after decoding (out of range, unknown key, bad enum) look the key path
 * up again in the text to report line:column.  Columns count characters
 * (UTF-8 sequences), as jansson's own error columns do.
 */
#ifndef BREAKERD_JSONPOS_H
#define BREAKERD_JSONPOS_H

#include <stddef.h>

/* One step of a key path: an object member, or an array element. */
struct jsonpos_step {
	const char *key; /* member name (decoded, UTF-8); NULL: array element */
	size_t index;    /* array index when key is NULL */
};

/*
 * Find the value named by path[0..depth) in text, which must be valid JSON
 * (whitespace may stand where comments were).  With want_key the position
 * of the last member's key is returned instead of its value.  depth 0
 * names the top-level value.  Returns 0 and a 1-based line and column, or
 * -1 if the path is not in the text.
 */
int jsonpos_find(const char *text, size_t len, const struct jsonpos_step *path,
    size_t depth, int want_key, unsigned *line, unsigned *column);

/* 1-based line and column of byte offset off in text. */
void jsonpos_linecol(
    const char *text, size_t len, size_t off, unsigned *line, unsigned *column);

#endif
