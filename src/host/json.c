/* json.c: a small streaming JSON writer for run.json, checking each key's place against schema/run.txt. */
#include "json.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

/* The length of the valid UTF-8 sequence at p (1 to 4), or 0 if it is not one (RFC 3629). */
static size_t utf8_length(const unsigned char *p)
{
	size_t len;
	uint32_t cp;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4;
	else
		return 0;
	cp = p[0] & (0x7fu >> len);
	/* Stops at the first byte that is not a continuation, the closing NUL too: never reads past s. */
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3fu);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

void ivb_json_write_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		size_t len;

		if (*p == '"' || *p == '\\') {
			fprintf(f, "\\%c", *p);
		} else if (*p < 0x20 || *p == 0x7f) {
			fprintf(f, "\\u%04x", *p);
		} else if (*p < 0x80) {
			fputc(*p, f);
		} else if ((len = utf8_length(p)) > 0) {
			fwrite(p, 1, len, f);
			p += len - 1;
		} else {
			/* Not UTF-8: the file must stay valid JSON, so the byte becomes U+FFFD. */
			fputs("\\ufffd", f);
		}
	}
	fputc('"', f);
}

/* Comma, newline and indentation before a member, then its name (none inside a list). */
static void member(struct ivb_json *j, int key, const char *name)
{
	if (ivb_run_keys[key].parent != j->holds[j->depth] && j->misplaced < 0)
		j->misplaced = key;
	if (!j->first[j->depth])
		fputc(',', j->f);
	j->first[j->depth] = false;
	fprintf(j->f, "\n%*s", 2 * j->depth, "");
	if (name != NULL) {
		ivb_json_write_string(j->f, name);
		fputs(": ", j->f);
	}
}

static void open_scope(struct ivb_json *j, int key, char bracket)
{
	member(j, key, ivb_run_keys[key].name);
	fputc(bracket, j->f);
	if (j->depth + 1 < IVB_JSON_DEPTH)
		j->depth++;
	j->first[j->depth] = true;
	j->holds[j->depth] = ivb_run_keys[key].members;
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
	j->misplaced = -1;
	fputc('{', f);
	j->first[1] = true;
	j->holds[1] = -1;
}

int ivb_json_end(struct ivb_json *j)
{
	close_scope(j, '}');
	fputc('\n', j->f);
	return j->misplaced < 0 ? 0 : -EPROTO;
}

void ivb_json_object(struct ivb_json *j, struct ivb_rk_object key) { open_scope(j, key.id, '{'); }
void ivb_json_object_end(struct ivb_json *j) { close_scope(j, '}'); }
void ivb_json_array(struct ivb_json *j, struct ivb_rk_list key) { open_scope(j, key.id, '['); }
void ivb_json_array_end(struct ivb_json *j) { close_scope(j, ']'); }

void ivb_json_str(struct ivb_json *j, struct ivb_rk_text key, const char *value)
{
	member(j, key.id, ivb_run_keys[key.id].name);
	ivb_json_write_string(j->f, value);
}

void ivb_json_str_named(struct ivb_json *j, struct ivb_rk_text any, const char *name, const char *value)
{
	const char *declared = ivb_run_keys[any.id].name;

	/* Only a `*` key takes a name from outside the schema. */
	if ((declared == NULL || strcmp(declared, "*") != 0) && j->misplaced < 0)
		j->misplaced = any.id;
	member(j, any.id, name);
	ivb_json_write_string(j->f, value);
}

void ivb_json_u64(struct ivb_json *j, struct ivb_rk_count key, uint64_t value)
{
	member(j, key.id, ivb_run_keys[key.id].name);
	fprintf(j->f, "%" PRIu64, value);
}

void ivb_json_fixed(struct ivb_json *j, struct ivb_rk_real key, double value, int decimals)
{
	member(j, key.id, ivb_run_keys[key.id].name);
	fprintf(j->f, "%.*f", decimals, value);
}

void ivb_json_bool(struct ivb_json *j, struct ivb_rk_bool key, bool value)
{
	member(j, key.id, ivb_run_keys[key.id].name);
	fputs(value ? "true" : "false", j->f);
}
