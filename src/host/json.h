/* json.h: a small streaming JSON writer for run.json, which writes only the keys schema/run.txt declares. */
#ifndef IVB_JSON_H
#define IVB_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "run_keys.h" /* build/gen/, from schema/run.txt */

#define IVB_JSON_DEPTH 8

struct ivb_json {
	FILE *f;
	int depth;
	bool first[IVB_JSON_DEPTH]; /* no member written yet at this depth */
	int holds[IVB_JSON_DEPTH];  /* the key (ivb_run_keys[]) whose members may be written at this depth */
	int misplaced;              /* the first key written outside the object that holds it, or -1 */
};

/* Begin the top-level object on f. */
void ivb_json_begin(struct ivb_json *j, FILE *f);
/*
 * Finish the top-level object and end the line.
 * Returns: 0, or -EPROTO when a key was written outside the object the schema puts it in (its path:
 * ivb_run_keys[j->misplaced].path); the member was written all the same.
 */
int ivb_json_end(struct ivb_json *j);

/* Members of the current object or list, named by the schema's keys (schema/run.txt): IVB_RK_* constants. */
void ivb_json_object(struct ivb_json *j, struct ivb_rk_object key);
void ivb_json_object_end(struct ivb_json *j);
void ivb_json_array(struct ivb_json *j, struct ivb_rk_list key);
void ivb_json_array_end(struct ivb_json *j);
void ivb_json_str(struct ivb_json *j, struct ivb_rk_text key, const char *value);
void ivb_json_u64(struct ivb_json *j, struct ivb_rk_count key, uint64_t value);
/* A number with a fixed count of decimals ("%.*f"). */
void ivb_json_fixed(struct ivb_json *j, struct ivb_rk_real key, double value, int decimals);
void ivb_json_bool(struct ivb_json *j, struct ivb_rk_bool key, bool value);
/* A member of an object that takes any name (a `*` key of the schema, e.g. IVB_RK_META_ANY). */
void ivb_json_str_named(struct ivb_json *j, struct ivb_rk_text any, const char *name, const char *value);

/*
 * Write s as a JSON string literal, escaping quotes, backslashes and control bytes; a byte that is
 * not part of valid UTF-8 becomes U+FFFD, so the file is always valid JSON whatever s holds.
 */
void ivb_json_write_string(FILE *f, const char *s);

#endif /* IVB_JSON_H */
