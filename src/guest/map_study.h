/* map_study.h: the guest's map study: phases A-C and W through every mapping of the region it can make
 * (uc, wc, wb in a VM; the file three times in loopback), in an order that rotates per message. */
#ifndef IVB_MAP_STUDY_H
#define IVB_MAP_STUDY_H

#include <stdbool.h>
#include <stdint.h>

#include "common.h"
#include "region.h"

struct ivb_map_set {
	struct ivb_mapping *primary;   /* the mapping the guest runs on */
	const char *sysfs_root, *dev_dir;
	struct ivb_mapping extra[IVB_MAP_STUDY_MAX - 1]; /* the ones the study made (fd -1: none) */
	struct ivb_mapping *study[IVB_MAP_STUDY_MAX];    /* the primary, then the others it could make */
	unsigned nstudy;
	struct ivb_map_study missing[IVB_MAP_STUDY_MAX]; /* the mappings it could not make, and why */
	unsigned nmissing;
	uint64_t messages; /* rotates the order: message n starts with mapping n mod nstudy */
	bool opened;
};

/* Nothing is mapped until the first study. */
void ivb_map_set_init(struct ivb_map_set *s, struct ivb_mapping *primary, const char *sysfs_root,
		      const char *dev_dir);

/*
 * Phases A-C (and D, which checks the data reads the same) of the message's size bytes through
 * every mapping, then W (the verified bytes written back through the same mapping), the first mapping
 * differing per message, into out; then the missing ones. copy is phase C's pre-faulted destination.
 * Returns: enum ivb_msg_error.
 */
uint32_t ivb_map_set_run(struct ivb_map_set *s, uint64_t size, uint8_t *copy, const uint8_t sha256[IVB_SHA256_LEN],
			 struct ivb_map_study out[IVB_MAP_STUDY_MAX]);

void ivb_map_set_close(struct ivb_map_set *s);

#endif /* IVB_MAP_STUDY_H */
