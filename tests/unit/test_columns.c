/* Unit tests: the generated column lists match schema/columns.txt, and every row writer fills every column. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "csv_read.h"
#include "columns.h"
#include "csv.h"
#include "host_rows.h"
#include "scratch.h"

#define SCHEMA_DEFAULT "schema/columns.txt" /* make runs the tests from the top folder */

static char tmpdir[] = "/tmp/ivb-unit-columns-XXXXXX";

/* Parse the schema here, independently of the awk script, and compare it with the generated lists. */
static void test_generated_lists_match_schema(void)
{
	const char *path = getenv("IVB_SCHEMA") ? getenv("IVB_SCHEMA") : SCHEMA_DEFAULT;
	FILE *f = fopen(path, "r");
	char line[512], a[128], b[128];
	int table = -1;
	size_t col = 0, lines = 0;

	CHECK(f != NULL);
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (line[0] == '#' || sscanf(line, "%127s", a) != 1)
			continue;
		if (strcmp(a, "table") == 0) {
			if (table >= 0)
				CHECK(col == ivb_tables[table].ncolumns);
			table++;
			col = 0;
			CHECK(table < (int)IVB_NTABLES);
			if (table >= (int)IVB_NTABLES)
				break;
			CHECK(sscanf(line, "%*s %127s %127s", a, b) == 2);
			CHECK(strcmp(a, ivb_tables[table].name) == 0);
			CHECK(strcmp(b, ivb_tables[table].file) == 0);
			continue;
		}
		CHECK(table >= 0);
		if (table < 0)
			break;
		CHECK(col < ivb_tables[table].ncolumns);
		if (col < ivb_tables[table].ncolumns && strcmp(a, ivb_tables[table].columns[col]) != 0) {
			fprintf(stderr, "table %s column %zu: schema %s, generated %s\n", ivb_tables[table].name, col, a,
				ivb_tables[table].columns[col]);
			CHECK(0);
		}
		col++;
		lines++;
	}
	fclose(f);
	CHECK(table == (int)IVB_NTABLES - 1);
	if (table >= 0 && table < (int)IVB_NTABLES)
		CHECK(col == ivb_tables[table].ncolumns);
	CHECK(lines > 100);
	/* The enum indices are the positions in the lists. */
	CHECK(strcmp(ivb_latency_columns[IVB_COL_LATENCY_SUCCESS], "success") == 0);
	CHECK(strcmp(ivb_bandwidth_perf_columns[IVB_COL_BANDWIDTH_PERF_GUEST_TASK_CLOCK_NS], "guest_task_clock_ns") == 0);
	CHECK(IVB_COL_MAP_STUDY_SUCCESS == IVB_MAP_STUDY_NCOLUMNS - 1);
}

static size_t count_char(const char *s, char ch)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == ch;
	return n;
}

/* Every line of the table's file has one field per column; returns the number of data rows. */
static size_t check_file(enum ivb_table t)
{
	char path[256], line[4096];
	size_t rows = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, ivb_tables[t].file);
	f = fopen(path, "r");
	CHECK(f != NULL);
	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		CHECK(count_char(line, ',') + 1 == ivb_tables[t].ncolumns);
		rows++;
	}
	fclose(f);
	return rows > 0 ? rows - 1 : 0;
}

/* The stream rows written below: the consume mode in each, and no copy time for the frame read in place. */
static void check_consume_fields(void)
{
	static char text[8192], fields[IVB_STREAM_NCOLUMNS][CSV_READ_FIELD];
	const char *want_consume[] = { "copy", "copy", "copy", "inplace" }, *want_copy[] = { "8", "", "", "" };
	const char *p = text;
	char path[256];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, ivb_tables[IVB_TABLE_STREAM].file);
	f = fopen(path, "r");
	CHECK(f != NULL);
	if (f == NULL)
		return;
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	CHECK(csv_read_row(&p, fields, IVB_STREAM_NCOLUMNS) == (int)IVB_STREAM_NCOLUMNS); /* the header */
	for (unsigned i = 0; i < 4; i++) {
		CHECK(csv_read_row(&p, fields, IVB_STREAM_NCOLUMNS) == (int)IVB_STREAM_NCOLUMNS);
		CHECK(strcmp(fields[IVB_COL_STREAM_CONSUME], want_consume[i]) == 0);
		CHECK(strcmp(fields[IVB_COL_STREAM_GUEST_COPY_NS], want_copy[i]) == 0);
	}
	CHECK(strcmp(fields[IVB_COL_STREAM_GUEST_VERIFY_NS], "9") == 0);
}

static void fill_sample(struct ivb_sample *s, bool guest)
{
	memset(s, 0, sizeof(*s));
	s->host_memcpy_ns = 1000;
	s->host_reference_ns = 900;
	s->have_roundtrip = true;
	s->roundtrip_ns = 5000;
	s->success = guest;
	for (unsigned i = 0; i < IVB_NCOUNTERS; i++)
		s->host_counts.v[i] = i + 1;
	if (!guest)
		return;
	s->have_guest = true;
	s->guest = (struct ivb_guest_timing){ .hot_read_ns = 10, .cold_read_ns = 20, .copy_ns = 30, .verify_ns = 40,
					      .total_ns = 200 };
	s->report.timing = s->guest;
	for (unsigned p = 0; p < IVB_NPHASES; p++)
		for (unsigned i = 0; i < IVB_NCOUNTERS; i++)
			s->report.counters[p].v[i] = 100 + i;
	s->report.study = (struct ivb_guest_study){ .fresh_ns = 50, .nt_ns = 60, .huge_ns = 70, .fresh_faults = 3,
						    .huge_kind = IVB_HUGE_THP };
	/* Two mappings measured and one missing: two rows per message, none for the missing one. */
	s->report.map_study[0] = (struct ivb_map_study){ .hot_read_ns = 11, .cold_read_ns = 21, .copy_ns = 31, .write_ns = 41,
							 .map_kind = IVB_MAP_SHM, .memtype = "write-back" };
	s->report.map_study[1] = (struct ivb_map_study){ .hot_read_ns = 12, .cold_read_ns = 22, .copy_ns = 32, .write_ns = 42,
							 .map_kind = IVB_MAP_RESOURCE2_WC, .memtype = "write-combining" };
	s->report.map_study[2] = (struct ivb_map_study){ .map_kind = IVB_MAP_REGION_WB, .error = 2 };
}

/* Every writer, with and without the guest's report: ivb_csv_end_row refuses a row with a column left out. */
static void test_every_writer_fills_every_column(void)
{
	static const enum ivb_msg_kind kinds[] = { IVB_MSG_LATENCY, IVB_MSG_BANDWIDTH, IVB_MSG_REFERENCE };
	static const char *const tests[] = { "latency", "bandwidth", "reference" };
	const struct ivb_frame frame = { "1080p", 1920, 1080, 24, 1920u * 1080u * 3u };
	const struct ivb_guest_info guest = { .map_kind = IVB_MAP_SHM, .memtype = "write-back" };
	struct ivb_outputs out;
	char path[256];

	memset(&out, 0, sizeof(out));
	for (unsigned t = 0; t < IVB_NTABLES; t++) {
		snprintf(path, sizeof(path), "%s/%s", tmpdir, ivb_tables[t].file);
		CHECK(ivb_csv_open_table(&out.csv[t], path, (enum ivb_table)t) == 0);
		out.open[t] = true;
	}
	for (unsigned k = 0; k < 3; k++) {
		for (int g = 0; g < 2; g++) {
			struct ivb_row_key key = { tests[k], kinds[k], 1, &frame, &guest };
			struct ivb_sample s;

			fill_sample(&s, g);
			CHECK(ivb_rows_write(&out, &key, &s) == 0);
		}
	}
	/* A stream frame consumed, one dropped, one that found no slot; one more read in place. */
	{
		const struct ivb_stream_key skey = { &frame, "latest", "xxh3", IVB_CONSUME_COPY, IVB_DIR_HOST_TO_GUEST,
						     false };
		const struct ivb_stream_key inplace = { &frame, "latest", "xxh3", IVB_CONSUME_INPLACE,
							 IVB_DIR_HOST_TO_GUEST, true };
		const struct ivb_stream_frame frames[] = {
			{ .seq = 0, .slot = 0, .status = IVB_FRAME_OK, .publish_ns = 5, .write_ns = 6, .latency_ns = 7,
			  .guest_copy_ns = 8, .guest_verify_ns = 9 },
			{ .seq = 1, .slot = 1, .dropped = true },
			{ .seq = 2, .slot = UINT32_MAX, .dropped = true },
		};

		for (unsigned i = 0; i < 3; i++)
			CHECK(ivb_rows_write_stream(&out, &skey, &frames[i]) == 0);
		CHECK(ivb_rows_write_stream(&out, &inplace, &frames[0]) == 0);
		CHECK(!ivb_stream_frame_failed(&frames[0]) && !ivb_stream_frame_failed(&frames[1]));
	}
	for (unsigned t = 0; t < IVB_NTABLES; t++)
		CHECK(ivb_csv_close(&out.csv[t]) == 0);
	CHECK(check_file(IVB_TABLE_STREAM) == 4);
	check_consume_fields();
	CHECK(check_file(IVB_TABLE_LATENCY) == 2);
	CHECK(check_file(IVB_TABLE_BANDWIDTH) == 2);
	CHECK(check_file(IVB_TABLE_REFERENCE) == 2);
	CHECK(check_file(IVB_TABLE_LATENCY_PERF) == 2);
	CHECK(check_file(IVB_TABLE_BANDWIDTH_PERF) == 2);
	CHECK(check_file(IVB_TABLE_PHASE_PERF) == 3 * IVB_NPHASES);
	CHECK(check_file(IVB_TABLE_WRITE_STUDY) == 3 * 4);
	/* Two rows per message the guest reported a study for: latency, bandwidth and reference (--map-study=reference). */
	CHECK(check_file(IVB_TABLE_MAP_STUDY) == 3 * 2);
}

int main(void)
{
	int ret;

	if (scratch_make(tmpdir) < 0)
		return 1;
	RUN_TEST(test_generated_lists_match_schema);
	RUN_TEST(test_every_writer_fills_every_column);
	ret = CHECK_SUMMARY("unit columns");
	scratch_remove(tmpdir);
	return ret;
}
