/* Unit tests: number, size and frame parsing. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "opts.h"

static void test_parse_u64(void)
{
	uint64_t v = 0;

	CHECK(ivb_parse_u64("0", 0, 10, &v) == 0 && v == 0);
	CHECK(ivb_parse_u64("10", 0, 10, &v) == 0 && v == 10);
	CHECK(ivb_parse_u64("18446744073709551615", 0, UINT64_MAX, &v) == 0 && v == UINT64_MAX);
	CHECK(ivb_parse_u64("18446744073709551616", 0, UINT64_MAX, &v) == -ERANGE);
	CHECK(ivb_parse_u64("11", 0, 10, &v) == -ERANGE);
	CHECK(ivb_parse_u64("0", 1, 10, &v) == -ERANGE);
	CHECK(ivb_parse_u64("-1", 0, 10, &v) == -EINVAL);
	CHECK(ivb_parse_u64(" 1", 0, 10, &v) == -EINVAL);
	CHECK(ivb_parse_u64("1x", 0, 10, &v) == -EINVAL);
	CHECK(ivb_parse_u64("", 0, 10, &v) == -EINVAL);
	CHECK(ivb_parse_u64(NULL, 0, 10, &v) == -EINVAL);
}

static void test_parse_size(void)
{
	uint64_t v = 0;

	CHECK(ivb_parse_size("4096", 0, UINT64_MAX, &v) == 0 && v == 4096);
	CHECK(ivb_parse_size("4K", 0, UINT64_MAX, &v) == 0 && v == 4096);
	CHECK(ivb_parse_size("64M", 0, UINT64_MAX, &v) == 0 && v == 64ull << 20);
	CHECK(ivb_parse_size("2g", 0, UINT64_MAX, &v) == 0 && v == 2ull << 30);
	CHECK(ivb_parse_size("17179869184G", 0, UINT64_MAX, &v) == -ERANGE);
	CHECK(ivb_parse_size("1M", 0, 1000, &v) == -ERANGE);
	CHECK(ivb_parse_size("M", 0, UINT64_MAX, &v) == -EINVAL);
	CHECK(ivb_parse_size("1T", 0, UINT64_MAX, &v) == -EINVAL);
	CHECK(ivb_parse_size("", 0, UINT64_MAX, &v) == -EINVAL);
}

static void test_parse_duration(void)
{
	uint64_t v = 0;

	CHECK(ivb_parse_duration_ns("1s", 0, UINT64_MAX, &v) == 0 && v == 1000000000ull);
	CHECK(ivb_parse_duration_ns("2", 0, UINT64_MAX, &v) == 0 && v == 2000000000ull);
	CHECK(ivb_parse_duration_ns("250ms", 0, UINT64_MAX, &v) == 0 && v == 250000000ull);
	CHECK(ivb_parse_duration_ns("7us", 0, UINT64_MAX, &v) == 0 && v == 7000ull);
	CHECK(ivb_parse_duration_ns("9ns", 0, UINT64_MAX, &v) == 0 && v == 9ull);
	CHECK(ivb_parse_duration_ns("junk", 0, UINT64_MAX, &v) == -EINVAL);
	CHECK(ivb_parse_duration_ns("5x", 0, UINT64_MAX, &v) == -EINVAL);
	CHECK(ivb_parse_duration_ns("-1s", 0, UINT64_MAX, &v) == -EINVAL);
	CHECK(ivb_parse_duration_ns("", 0, UINT64_MAX, &v) == -EINVAL);
	CHECK(ivb_parse_duration_ns("1 s", 0, UINT64_MAX, &v) == -EINVAL);
	CHECK(ivb_parse_duration_ns("99999999999999999999s", 0, UINT64_MAX, &v) == -ERANGE);
	CHECK(ivb_parse_duration_ns("18446744074s", 0, UINT64_MAX, &v) == -ERANGE); /* overflows the ns */
	CHECK(ivb_parse_duration_ns("0ms", 1000000, UINT64_MAX, &v) == -ERANGE);
	CHECK(ivb_parse_duration_ns("3601s", 0, 3600000000000ull, &v) == -ERANGE);
}

static void test_parse_frame(void)
{
	struct ivb_frame f;

	CHECK(ivb_parse_frame("4k", &f) == 0 && f.size == 24883200 && f.width == 3840 && f.height == 2160 && f.bpp == 24);
	CHECK(ivb_parse_frame("4K", &f) == 0 && strcmp(f.name, "4k") == 0);
	CHECK(ivb_parse_frame("1080p", &f) == 0 && f.size == 6220800);
	CHECK(ivb_parse_frame("1440p", &f) == 0 && f.size == 11059200);
	CHECK(ivb_parse_frame("64", &f) == 0 && f.size == 64 && strcmp(f.name, "64B") == 0 && f.width == 64 &&
	      f.height == 1 && f.bpp == 8);
	CHECK(ivb_parse_frame("1M", &f) == 0 && f.size == 1048576 && strcmp(f.name, "1048576B") == 0);
	CHECK(ivb_parse_frame("0", &f) == -ERANGE);
	CHECK(ivb_parse_frame("720p", &f) == -EINVAL);
	CHECK(ivb_parse_frame("", &f) == -EINVAL);
}

static void test_parse_frame_list(void)
{
	struct ivb_frame f[IVB_MAX_FRAMES];
	size_t n = 0;

	CHECK(ivb_parse_frame_list("1080p,1440p,4k", f, IVB_MAX_FRAMES, &n) == 0 && n == 3 && f[2].size == 24883200);
	CHECK(ivb_parse_frame_list("64", f, IVB_MAX_FRAMES, &n) == 0 && n == 1 && f[0].size == 64);
	CHECK(ivb_parse_frame_list("64,,4k", f, IVB_MAX_FRAMES, &n) == -EINVAL);
	CHECK(ivb_parse_frame_list("64,", f, IVB_MAX_FRAMES, &n) == -EINVAL);
	CHECK(ivb_parse_frame_list("", f, IVB_MAX_FRAMES, &n) == -EINVAL);
	CHECK(ivb_parse_frame_list("1,2,3", f, 2, &n) == -E2BIG);
	CHECK(ivb_parse_frame_list("4k,bogus", f, IVB_MAX_FRAMES, &n) == -EINVAL);
	/* Byte counts alone: 4K is 4096 bytes there, never the 4k video frame. */
	CHECK(ivb_parse_size_list("64,4K,64K", f, IVB_MAX_FRAMES, &n) == 0 && n == 3 && f[0].size == 64 &&
	      f[1].size == 4096 && f[2].size == 65536 && strcmp(f[1].name, "4096B") == 0);
	CHECK(ivb_parse_size_list("1080p", f, IVB_MAX_FRAMES, &n) == -EINVAL);
	CHECK(ivb_parse_size_list("64,", f, IVB_MAX_FRAMES, &n) == -EINVAL);
}

int main(void)
{
	RUN_TEST(test_parse_u64);
	RUN_TEST(test_parse_size);
	RUN_TEST(test_parse_duration);
	RUN_TEST(test_parse_frame);
	RUN_TEST(test_parse_frame_list);
	return CHECK_SUMMARY("unit opts");
}
