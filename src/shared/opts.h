/* opts.h: checked parsing of the numbers, sizes and frame lists both programs take. */
#ifndef IVB_OPTS_H
#define IVB_OPTS_H

#include <stddef.h>
#include <stdint.h>

#define IVB_FRAME_NAME_LEN 24u
#define IVB_MAX_FRAMES 16u

/* A message size: a named video frame (width x height x bpp) or a raw byte count. */
struct ivb_frame {
	char name[IVB_FRAME_NAME_LEN]; /* "1080p", "4k", or "64B" for raw sizes */
	uint32_t width;
	uint32_t height;
	uint32_t bpp; /* bits per pixel */
	uint64_t size; /* bytes */
};

/*
 * Parse a decimal unsigned integer in [min, max] with nothing after it.
 * Returns: 0 on success, or -EINVAL (not a number) / -ERANGE (outside [min, max]).
 */
int ivb_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/*
 * Parse a duration: a decimal count with a unit s, ms, us or ns (no unit: seconds), into nanoseconds in
 * [min_ns, max_ns]. Returns: 0 on success, or -EINVAL / -ERANGE.
 */
int ivb_parse_duration_ns(const char *s, uint64_t min_ns, uint64_t max_ns, uint64_t *out);

/*
 * Parse a byte count with an optional binary suffix K, M or G (KiB, MiB, GiB), in [min, max].
 * Returns: 0 on success, or -EINVAL / -ERANGE.
 */
int ivb_parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/*
 * Parse one frame: 1080p, 1440p, 4k (RGB, 24 bpp) or a byte count as in ivb_parse_size.
 * Returns: 0 on success, or -EINVAL / -ERANGE.
 */
int ivb_parse_frame(const char *s, struct ivb_frame *out);

/*
 * Parse a comma-separated list of frames into out[0..max-1]; *count gets the number parsed.
 * Returns: 0 on success, -EINVAL (a bad or empty item) or -E2BIG (more than max items).
 */
int ivb_parse_frame_list(const char *s, struct ivb_frame *out, size_t max, size_t *count);

/* The same for byte counts alone (suffixes K, M, G: 4K is 4096 bytes, not the 4k frame). Returns: as above. */
int ivb_parse_size_list(const char *s, struct ivb_frame *out, size_t max, size_t *count);

#endif /* IVB_OPTS_H */
