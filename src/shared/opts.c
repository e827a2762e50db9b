/* opts.c: checked parsing of numbers, sizes and frame lists. */
#include "opts.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int ivb_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	/* strtoull accepts leading spaces and a minus sign; a count has neither. */
	if (s == NULL || !isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (*end != '\0')
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int ivb_parse_duration_ns(const char *s, uint64_t min_ns, uint64_t max_ns, uint64_t *out)
{
	static const struct { const char *unit; uint64_t ns; } units[] = {
		{ "", 1000000000ull }, { "s", 1000000000ull }, { "ms", 1000000ull }, { "us", 1000ull }, { "ns", 1ull },
	};
	char digits[32];
	size_t len;
	uint64_t v;

	if (s == NULL)
		return -EINVAL;
	len = strspn(s, "0123456789");
	if (len == 0 || len >= sizeof(digits))
		return len == 0 ? -EINVAL : -ERANGE;
	memcpy(digits, s, len);
	digits[len] = '\0';
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(s + len, units[i].unit) != 0)
			continue;
		if (ivb_parse_u64(digits, 0, UINT64_MAX / units[i].ns, &v) < 0)
			return -ERANGE;
		v *= units[i].ns;
		if (v < min_ns || v > max_ns)
			return -ERANGE;
		*out = v;
		return 0;
	}
	return -EINVAL;
}

int ivb_parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char digits[32];
	size_t len;
	unsigned shift = 0;
	uint64_t v;
	int ret;

	if (s == NULL)
		return -EINVAL;
	len = strlen(s);
	if (len == 0 || len >= sizeof(digits))
		return -EINVAL;
	memcpy(digits, s, len + 1);
	switch (toupper((unsigned char)digits[len - 1])) {
	case 'K': shift = 10; break;
	case 'M': shift = 20; break;
	case 'G': shift = 30; break;
	default: break;
	}
	if (shift != 0)
		digits[len - 1] = '\0';
	ret = ivb_parse_u64(digits, 0, UINT64_MAX >> shift, &v);
	if (ret < 0)
		return ret;
	v <<= shift;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

static const struct ivb_frame named_frames[] = {
	{ "1080p", 1920, 1080, 24, 1920ull * 1080 * 3 },
	{ "1440p", 2560, 1440, 24, 2560ull * 1440 * 3 },
	{ "4k", 3840, 2160, 24, 3840ull * 2160 * 3 },
};

/* The largest message we accept: far above any region a QEMU BAR can hold today. */
#define IVB_FRAME_MAX_BYTES (1ull << 40)

/* A byte count as a raw message (4K is 4096 bytes here, never the 4k frame). */
static int parse_bytes(const char *s, struct ivb_frame *out)
{
	uint64_t size;
	int ret = ivb_parse_size(s, 1, IVB_FRAME_MAX_BYTES, &size);

	if (ret < 0)
		return ret;
	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "%lluB", (unsigned long long)size);
	/* A raw message is one row of bytes: width * height * bpp / 8 is still its size. */
	out->width = size <= UINT32_MAX ? (uint32_t)size : 0;
	out->height = 1;
	out->bpp = 8;
	out->size = size;
	return 0;
}

int ivb_parse_frame(const char *s, struct ivb_frame *out)
{
	for (size_t i = 0; i < sizeof(named_frames) / sizeof(named_frames[0]); i++) {
		if (s != NULL && strcasecmp(s, named_frames[i].name) == 0) {
			*out = named_frames[i];
			return 0;
		}
	}
	return parse_bytes(s, out);
}

static int parse_list(const char *s, int (*parse_one)(const char *, struct ivb_frame *), struct ivb_frame *out,
		      size_t max, size_t *count)
{
	char item[64];
	size_t n = 0;
	const char *p = s;

	if (s == NULL || *s == '\0')
		return -EINVAL;
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		int ret;

		if (len == 0 || len >= sizeof(item))
			return -EINVAL;
		if (n == max)
			return -E2BIG;
		memcpy(item, p, len);
		item[len] = '\0';
		ret = parse_one(item, &out[n]);
		if (ret < 0)
			return ret;
		n++;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	*count = n;
	return 0;
}

int ivb_parse_frame_list(const char *s, struct ivb_frame *out, size_t max, size_t *count)
{
	return parse_list(s, ivb_parse_frame, out, max, count);
}

int ivb_parse_size_list(const char *s, struct ivb_frame *out, size_t max, size_t *count)
{
	return parse_list(s, parse_bytes, out, max, count);
}
