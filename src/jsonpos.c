/*
 * jsonpos.c - a minimal scanner that maps a key path to the line:column of
 * a value in JSON text already accepted by jansson.  It never builds a
 * tree: it walks the text, skipping values it does not need, so lookups
 * cost one pass and no allocation.  It is only used to point at errors,
 * but it still checks every bound because it also runs under the fuzzer.
 */
#include <stdint.h>
#include <string.h>

#include "jsonpos.h"

/* Skip JSON whitespace from p; returns the first other offset. */
static size_t
jsonpos_ws(const char *t, size_t len, size_t p)
{
	while (p < len
	    && (t[p] == ' ' || t[p] == '\t' || t[p] == '\n' || t[p] == '\r'))
		p++;
	return p;
}

/* p is at an opening quote: return the offset just past the closing one. */
static size_t
jsonpos_skip_string(const char *t, size_t len, size_t p)
{
	for (p++; p < len; p++) {
		if (t[p] == '\\')
			p++;
		else if (t[p] == '"')
			return p + 1;
	}
	return len;
}

/* Skip one value at p (after whitespace); returns the offset past it. */
static size_t
jsonpos_skip_value(const char *t, size_t len, size_t p)
{
	size_t depth = 0;

	/* Containers are skipped by counting brackets, without recursion. */
	while (p < len) {
		if (t[p] == '"')
			p = jsonpos_skip_string(t, len, p);
		else if (t[p] == '{' || t[p] == '[') {
			depth++;
			p++;
		} else if (t[p] == '}' || t[p] == ']') {
			if (depth == 0)
				return p;
			depth--;
			p++;
		} else if (depth == 0 && (t[p] == ',' || t[p] == ':'))
			return p;
		else
			p++;
		if (depth == 0 && p < len
		    && (t[p] == ',' || t[p] == '}' || t[p] == ']' || t[p] == ' '
		        || t[p] == '\n' || t[p] == '\t' || t[p] == '\r'))
			return p;
	}
	return len;
}

/* Decode four hex digits at p; -1 if they are not there. */
static long
jsonpos_hex4(const char *t, size_t len, size_t p)
{
	long v = 0;

	if (len < 4 || p > len - 4)
		return -1;
	for (size_t i = 0; i < 4; i++) {
		char c = t[p + i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

/* Encode a code point as UTF-8 into out (4 bytes); returns the length. */
static size_t
jsonpos_utf8(unsigned long cp, unsigned char *out)
{
	if (cp < 0x80) {
		out[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (unsigned char)(0xc0 | (cp >> 6));
		out[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (unsigned char)(0xe0 | (cp >> 12));
		out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (unsigned char)(0xf0 | (cp >> 18));
	out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Decode the escape at t[p] == '\\' into out; advances *pp past it. */
static size_t
jsonpos_escape(const char *t, size_t len, size_t *pp, unsigned char *out)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	size_t p = *pp + 1;
	const char *e;
	long cp, lo;

	/* Always advance, so a malformed escape cannot stall the caller. */
	*pp = p;
	if (p >= len)
		return 0;
	*pp = p + 1;
	if (t[p] != 'u') {
		if ((e = memchr(from, t[p], sizeof(from) - 1)) == NULL)
			return 0;
		out[0] = (unsigned char)to[e - from];
		return 1;
	}
	if ((cp = jsonpos_hex4(t, len, p + 1)) < 0)
		return 0;
	*pp = p + 5;
	/* A high surrogate must be followed by an escaped low one. */
	if (cp >= 0xd800 && cp <= 0xdbff && *pp + 1 < len && t[*pp] == '\\'
	    && t[*pp + 1] == 'u'
	    && (lo = jsonpos_hex4(t, len, *pp + 2)) >= 0xdc00 && lo <= 0xdfff) {
		*pp += 6;
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	}
	return jsonpos_utf8((unsigned long)cp, out);
}

/*
 * Compare the string at t[*pp] == '"' with key, decoding escapes; leaves
 * *pp past the closing quote.  Returns 1 on a match.
 */
static int
jsonpos_key_match(const char *t, size_t len, size_t *pp, const char *key)
{
	size_t p = *pp + 1, klen = strlen(key), k = 0, n;
	unsigned char buf[4];
	int match = 1;

	while (p < len && t[p] != '"') {
		if (t[p] == '\\')
			n = jsonpos_escape(t, len, &p, buf);
		else {
			buf[0] = (unsigned char)t[p++];
			n = 1;
		}
		if (n == 0 || n > klen - k || memcmp(buf, key + k, n) != 0)
			match = 0;
		else
			k += n;
	}
	*pp = p < len ? p + 1 : len;
	return match && k == klen;
}

/*
 * In the object at t[p] == '{', find member key: sets *keyoff and *valoff.
 * Returns 0, or -1 if it is not there.
 */
static int
jsonpos_member(const char *t, size_t len, size_t p, const char *key,
    size_t *keyoff, size_t *valoff)
{
	int match;

	for (p++;;) {
		p = jsonpos_ws(t, len, p);
		if (p >= len || t[p] != '"')
			return -1;
		*keyoff = p;
		match = jsonpos_key_match(t, len, &p, key);
		p = jsonpos_ws(t, len, p);
		if (p >= len || t[p] != ':')
			return -1;
		p = jsonpos_ws(t, len, p + 1);
		if (match) {
			*valoff = p;
			return 0;
		}
		p = jsonpos_ws(t, len, jsonpos_skip_value(t, len, p));
		if (p >= len || t[p] != ',')
			return -1;
		p++;
	}
}

/* In the array at t[p] == '[', find element index; sets *valoff. */
static int
jsonpos_element(
    const char *t, size_t len, size_t p, size_t index, size_t *valoff)
{
	for (size_t i = 0;; i++) {
		p = jsonpos_ws(t, len, p + 1);
		if (p >= len || t[p] == ']')
			return -1;
		if (i == index) {
			*valoff = p;
			return 0;
		}
		p = jsonpos_ws(t, len, jsonpos_skip_value(t, len, p));
		if (p >= len || t[p] != ',')
			return -1;
	}
}

int
jsonpos_find(const char *text, size_t len, const struct jsonpos_step *path,
    size_t depth, int want_key, unsigned *line, unsigned *column)
{
	size_t p = jsonpos_ws(text, len, 0), keyoff = 0;

	for (size_t i = 0; i < depth; i++) {
		if (p >= len)
			return -1;
		if (path[i].key != NULL) {
			if (text[p] != '{'
			    || jsonpos_member(
			           text, len, p, path[i].key, &keyoff, &p)
			        == -1)
				return -1;
		} else if (text[p] != '['
		    || jsonpos_element(text, len, p, path[i].index, &p) == -1)
			return -1;
	}
	if (want_key && depth > 0 && path[depth - 1].key != NULL)
		p = keyoff;
	if (p >= len)
		return -1;
	jsonpos_linecol(text, len, p, line, column);
	return 0;
}

void
jsonpos_linecol(
    const char *text, size_t len, size_t off, unsigned *line, unsigned *column)
{
	unsigned l = 1, c = 1;

	/* UTF-8 continuation bytes do not start a new column (as jansson). */
	for (size_t i = 0; i < off && i < len; i++) {
		if (text[i] == '\n') {
			l++;
			c = 1;
		} else if (((unsigned char)text[i] & 0xc0) != 0x80)
			c++;
	}
	*line = l;
	*column = c;
}
