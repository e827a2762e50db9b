/* Unit tests: the CSV writer (against the seed's column lists) and the JSON writer. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "csv.h"
#include "csv_read.h"
#include "json.h"
#include "scratch.h"

/* The seed's header lines, as its README gives them. */
static const char seed_latency[] =
	"iteration,host_memcpy_ns,host_memcpy_us,roundtrip_ns,roundtrip_us,guest_memcpy_ns,guest_memcpy_us,"
	"guest_verify_ns,guest_verify_us,guest_hot_cache_ns,guest_hot_cache_us,guest_cold_cache_ns,"
	"guest_cold_cache_us,guest_second_pass_ns,guest_second_pass_us,guest_cached_verify_ns,"
	"guest_cached_verify_us,notification_est_ns,notification_est_us,total_ns,total_us,success\n";
static const char seed_bandwidth[] =
	"iteration,frame_type,width,height,bpp,size_bytes,size_mb,host_memcpy_ns,host_memcpy_ms,host_memcpy_mbps,"
	"roundtrip_ns,roundtrip_ms,guest_memcpy_ns,guest_memcpy_ms,guest_memcpy_mbps,guest_verify_ns,"
	"guest_verify_ms,total_ns,total_ms,total_mbps,success\n";

static char tmpdir[] = "/tmp/ivb-unit-XXXXXX";

static char *slurp(const char *path)
{
	static char buf[8192];
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void test_csv_headers_match_seed(void)
{
	char path[256];
	struct ivb_csv c;
	char *text;

	snprintf(path, sizeof(path), "%s/lat.csv", tmpdir);
	CHECK(ivb_csv_open_table(&c, path, IVB_TABLE_LATENCY) == 0);
	CHECK(ivb_csv_close(&c) == 0);
	text = slurp(path);
	CHECK(text != NULL && strcmp(text, seed_latency) == 0);

	snprintf(path, sizeof(path), "%s/bw.csv", tmpdir);
	CHECK(ivb_csv_open_table(&c, path, IVB_TABLE_BANDWIDTH) == 0);
	CHECK(ivb_csv_close(&c) == 0);
	text = slurp(path);
	CHECK(text != NULL && strcmp(text, seed_bandwidth) == 0);
}

static void test_csv_rows(void)
{
	static const char *const cols[] = { "a", "b", "c", "d" };
	char path[256];
	struct ivb_csv c;
	char *text;

	snprintf(path, sizeof(path), "%s/rows.csv", tmpdir);
	CHECK(ivb_csv_open(&c, path, cols, 4) == 0);
	/* Filled by index, in any order. */
	ivb_csv_set_empty(&c, 3);
	ivb_csv_set_u64(&c, 0, 18446744073709551615ull);
	ivb_csv_set_fixed(&c, 2, 1234.5678, 3);
	ivb_csv_set_i64(&c, 1, -42);
	CHECK(ivb_csv_end_row(&c) == 0);
	/* A row with a missing field is refused and writes nothing. */
	ivb_csv_set_str(&c, 0, "x");
	CHECK(ivb_csv_end_row(&c) == -EINVAL);
	/* So is one with a field filled twice, or a column that does not exist. */
	for (size_t i = 0; i < 4; i++)
		ivb_csv_set_u64(&c, i, i);
	ivb_csv_set_u64(&c, 1, 9);
	CHECK(ivb_csv_end_row(&c) == -EINVAL);
	for (size_t i = 0; i < 5; i++)
		ivb_csv_set_u64(&c, i, i);
	CHECK(ivb_csv_end_row(&c) == -EINVAL);
	/* Rows are flushed as they are written: the file has them before close. */
	text = slurp(path);
	CHECK(text != NULL && strcmp(text, "a,b,c,d\n18446744073709551615,-42,1234.568,\n") == 0);
	CHECK(ivb_csv_close(&c) == 0);
}

static void test_csv_overflow(void)
{
	static const char *const cols[] = { "a" };
	char path[256], big[IVB_CSV_FIELD_MAX + 10];
	struct ivb_csv c;

	snprintf(path, sizeof(path), "%s/big.csv", tmpdir);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK(ivb_csv_open(&c, path, cols, 1) == 0);
	ivb_csv_set_str(&c, 0, big);
	CHECK(ivb_csv_end_row(&c) == -ENOSPC);
	CHECK(ivb_csv_close(&c) == 0);
}

/* Whatever a text field holds, it comes back as one field: the writer quotes what would be structure. */
static void test_csv_text_stays_data(void)
{
	static const char *const cols[] = { "a", "memory_type", "c" };
	static const char *const values[] = { "a,b\"c\n", "\"", "x\r\ny", ",,", "\"a\",\"b\"", "plain" };
	char path[256], fields[4][CSV_READ_FIELD];
	const char *p;
	struct ivb_csv c;
	int n;

	snprintf(path, sizeof(path), "%s/text.csv", tmpdir);
	CHECK(ivb_csv_open(&c, path, cols, 3) == 0);
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		ivb_csv_set_u64(&c, 0, i);
		ivb_csv_set_str(&c, 1, values[i]);
		ivb_csv_set_str(&c, 2, "end");
		CHECK(ivb_csv_end_row(&c) == 0);
	}
	CHECK(ivb_csv_close(&c) == 0);
	p = slurp(path);
	CHECK(p != NULL);
	if (p == NULL)
		return;
	CHECK(csv_read_row(&p, fields, 4) == 3 && strcmp(fields[1], "memory_type") == 0);
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		n = csv_read_row(&p, fields, 4);
		CHECK(n == 3);
		CHECK(n == 3 && strcmp(fields[1], values[i]) == 0 && strcmp(fields[2], "end") == 0);
	}
	CHECK(*p == '\0');
	/* A field without separators, quotes or line breaks is written as it is. */
	p = strstr(slurp(path), "\n5,");
	CHECK(p != NULL && strcmp(p, "\n5,plain,end\n") == 0);
}

/* The writer's output, with keys from schema/run.txt (build/gen/run_keys.h). */
static void test_json(void)
{
	char path[256];
	struct ivb_json j;
	FILE *f;
	char *text;

	snprintf(path, sizeof(path), "%s/x.json", tmpdir);
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (f == NULL)
		return;
	ivb_json_begin(&j, f);
	ivb_json_str(&j, IVB_RK_TOOL, "a\"b\\c\n\x01");
	ivb_json_u64(&j, IVB_RK_FORMAT_VERSION, 7);
	ivb_json_object(&j, IVB_RK_OPTIONS);
	ivb_json_bool(&j, IVB_RK_OPTIONS_COUNTERS, true);
	ivb_json_object_end(&j);
	ivb_json_object(&j, IVB_RK_META);
	ivb_json_str_named(&j, IVB_RK_META_ANY, "vm", "loopback");
	ivb_json_object_end(&j);
	ivb_json_array(&j, IVB_RK_STREAMS);
	ivb_json_array_end(&j);
	CHECK(ivb_json_end(&j) == 0);
	fclose(f);
	text = slurp(path);
	CHECK(text != NULL && strcmp(text, "{\n  \"tool\": \"a\\\"b\\\\c\\u000a\\u0001\",\n  \"format_version\": 7,\n"
					   "  \"options\": {\n    \"counters\": true\n  },\n"
					   "  \"meta\": {\n    \"vm\": \"loopback\"\n  },\n  \"streams\": []\n}\n") == 0);
}

/* A key written outside the object the schema puts it in is still written, and reported. */
static void test_json_misplaced_key(void)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/misplaced.json", tmpdir);
	for (int which = 0; which < 3; which++) {
		struct ivb_json j;
		FILE *f = fopen(path, "w");

		CHECK(f != NULL);
		if (f == NULL)
			return;
		ivb_json_begin(&j, f);
		switch (which) {
		case 0: /* a member of options at the top level */
			ivb_json_str(&j, IVB_RK_OPTIONS_SHM, "/dev/shm/x");
			break;
		case 1: /* a shape's member outside that shape */
			ivb_json_object(&j, IVB_RK_HOST);
			ivb_json_u64(&j, IVB_RK_CPU_MESSAGES, 1);
			ivb_json_object_end(&j);
			break;
		case 2: /* a name from outside the schema where the schema has no `*` key */
			ivb_json_object(&j, IVB_RK_OPTIONS);
			ivb_json_str_named(&j, IVB_RK_OPTIONS_SHM, "undeclared", "x");
			ivb_json_object_end(&j);
			break;
		}
		CHECK(ivb_json_end(&j) == -EPROTO);
		fclose(f);
	}
}

/* The strings a hostile peer or a broken host could hand the manifest: still one valid JSON string each. */
static void test_json_hostile_strings(void)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "a,b\"c\n", "\"a,b\\\"c\\u000a\"" },
		{ "\\\"}, \"x\": {", "\"\\\\\\\"}, \\\"x\\\": {\"" },
		{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"" }, /* valid UTF-8 */
		{ "\xff\xfe", "\"\\ufffd\\ufffd\"" },
		{ "\xc0\xaf", "\"\\ufffd\\ufffd\"" },         /* an overlong '/' */
		{ "\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"" }, /* a UTF-16 surrogate */
		{ "\xe2\x82", "\"\\ufffd\\ufffd\"" },         /* cut short by the end of the string */
		{ "\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"" }, /* above U+10FFFF */
	};
	char path[256];

	snprintf(path, sizeof(path), "%s/s.json", tmpdir);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		FILE *f = fopen(path, "w");
		char *text;

		CHECK(f != NULL);
		if (f == NULL)
			return;
		ivb_json_write_string(f, cases[i].in);
		fclose(f);
		text = slurp(path);
		CHECK(text != NULL && strcmp(text, cases[i].out) == 0);
		if (text != NULL && strcmp(text, cases[i].out) != 0)
			fprintf(stderr, "case %zu: got %s\n", i, text);
	}
}

int main(void)
{
	int ret;

	if (scratch_make(tmpdir) < 0)
		return 1;
	RUN_TEST(test_csv_headers_match_seed);
	RUN_TEST(test_csv_rows);
	RUN_TEST(test_csv_overflow);
	RUN_TEST(test_csv_text_stays_data);
	RUN_TEST(test_json);
	RUN_TEST(test_json_misplaced_key);
	RUN_TEST(test_json_hostile_strings);
	ret = CHECK_SUMMARY("unit output");
	scratch_remove(tmpdir);
	return ret;
}
