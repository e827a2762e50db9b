/* json.h: a small streaming JSON writer for the run manifest. */
#ifndef IVB_JSON_H
#define IVB_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define IVB_JSON_DEPTH 8

struct ivb_json {
	FILE *f;
	int depth;
	bool first[IVB_JSON_DEPTH]; /* no member written yet at this depth */
};

/* Begin the top-level object on f. */
void ivb_json_begin(struct ivb_json *j, FILE *f);
/* Finish the top-level object and end the line. */
void ivb_json_end(struct ivb_json *j);

/* Members of the current object; key NULL inside an array. */
void ivb_json_object(struct ivb_json *j, const char *key);
void ivb_json_object_end(struct ivb_json *j);
void ivb_json_array(struct ivb_json *j, const char *key);
void ivb_json_array_end(struct ivb_json *j);
void ivb_json_str(struct ivb_json *j, const char *key, const char *value);
void ivb_json_u64(struct ivb_json *j, const char *key, uint64_t value);
/* A number with a fixed count of decimals ("%.*f"). */
void ivb_json_fixed(struct ivb_json *j, const char *key, double value, int decimals);
void ivb_json_bool(struct ivb_json *j, const char *key, bool value);
/* A member whose value is already JSON text (e.g. a formatted number). */
void ivb_json_raw(struct ivb_json *j, const char *key, const char *json);

/*
 * Write s as a JSON string literal, escaping quotes, backslashes and control bytes; a byte that is
 * not part of valid UTF-8 becomes U+FFFD, so the file is always valid JSON whatever s holds.
 */
void ivb_json_write_string(FILE *f, const char *s);

#endif /* IVB_JSON_H */
