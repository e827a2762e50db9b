/* json.c: a small streaming JSON writer. */
#include "json.h"

#include <inttypes.h>

void ivb_json_write_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

/* Comma, newline and indentation before a member, then its key. */
static void member(struct ivb_json *j, const char *key)
{
	if (!j->first[j->depth])
		fputc(',', j->f);
	j->first[j->depth] = false;
	fprintf(j->f, "\n%*s", 2 * j->depth, "");
	if (key != NULL) {
		ivb_json_write_string(j->f, key);
		fputs(": ", j->f);
	}
}

static void open_scope(struct ivb_json *j, const char *key, char bracket)
{
	member(j, key);
	fputc(bracket, j->f);
	if (j->depth + 1 < IVB_JSON_DEPTH)
		j->depth++;
	j->first[j->depth] = true;
}

static void close_scope(struct ivb_json *j, char bracket)
{
	bool empty = j->first[j->depth];

	if (j->depth > 0)
		j->depth--;
	if (!empty)
		fprintf(j->f, "\n%*s", 2 * j->depth, "");
	fputc(bracket, j->f);
}

void ivb_json_begin(struct ivb_json *j, FILE *f)
{
	j->f = f;
	j->depth = 1;
	fputc('{', f);
	j->first[1] = true;
}

void ivb_json_end(struct ivb_json *j)
{
	close_scope(j, '}');
	fputc('\n', j->f);
}

void ivb_json_object(struct ivb_json *j, const char *key) { open_scope(j, key, '{'); }
void ivb_json_object_end(struct ivb_json *j) { close_scope(j, '}'); }
void ivb_json_array(struct ivb_json *j, const char *key) { open_scope(j, key, '['); }
void ivb_json_array_end(struct ivb_json *j) { close_scope(j, ']'); }

void ivb_json_str(struct ivb_json *j, const char *key, const char *value)
{
	member(j, key);
	ivb_json_write_string(j->f, value);
}

void ivb_json_u64(struct ivb_json *j, const char *key, uint64_t value)
{
	member(j, key);
	fprintf(j->f, "%" PRIu64, value);
}

void ivb_json_raw(struct ivb_json *j, const char *key, const char *json)
{
	member(j, key);
	fputs(json, j->f);
}

void ivb_json_bool(struct ivb_json *j, const char *key, bool value)
{
	member(j, key);
	fputs(value ? "true" : "false", j->f);
}
