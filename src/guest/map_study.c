/* map_study.c: the guest's map study (map_study.h). */
#include "map_study.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pci.h"
#include "phases.h"

void ivb_map_set_init(struct ivb_map_set *s, struct ivb_mapping *primary, const char *sysfs_root,
		      const char *dev_dir)
{
	memset(s, 0, sizeof(*s));
	s->primary = primary;
	s->sysfs_root = sysfs_root;
	s->dev_dir = dev_dir;
	for (unsigned i = 0; i < IVB_MAP_STUDY_MAX - 1; i++)
		s->extra[i].fd = -1;
}

void ivb_map_set_close(struct ivb_map_set *s)
{
	for (unsigned i = 0; i < IVB_MAP_STUDY_MAX - 1; i++)
		ivb_unmap(&s->extra[i]);
}

/* Loopback: the file the primary mapping has open, mapped again (by its fd: the same file, whatever its path). */
static int map_file_again(const struct ivb_mapping *primary, struct ivb_mapping *m)
{
	int fd = fcntl(primary->fd, F_DUPFD_CLOEXEC, 0), ret;

	if (fd < 0)
		return -errno;
	ret = ivb_shm_map_fd(fd, false, m);
	if (ret < 0)
		close(fd);
	return ret;
}

/* Make one more mapping of the region, of the given kind. Returns: 0, or a negative errno. */
static int map_again(const struct ivb_map_set *w, enum ivb_map_kind kind, struct ivb_mapping *m)
{
	const char *bdf = w->primary->device;

	switch (kind) {
	case IVB_MAP_SHM: return map_file_again(w->primary, m);
	case IVB_MAP_RESOURCE2: return ivb_pci_map_bar2(w->sysfs_root, bdf, false, m);
	case IVB_MAP_RESOURCE2_WC: return ivb_pci_map_bar2(w->sysfs_root, bdf, true, m);
	case IVB_MAP_REGION_WB: return ivb_pci_map_region_wb(w->sysfs_root, w->dev_dir, bdf, m);
	case IVB_MAP_NONE: break;
	}
	return -EINVAL;
}

/*
 * The map study's mappings: in a VM uc, wc and wb, the primary one and the others in that order (x86
 * refuses BAR2 mappings of conflicting types, so /dev/ivshmem-region is opened after the sysfs ones);
 * in loopback the file mapped three times. All stay open for the run. Each memory type is read back once
 * all exist: opening one can change what another got. A mapping that cannot be made is left out and
 * reported in every message's study (the host records why).
 */
static void open_study(struct ivb_map_set *w)
{
	static const enum ivb_map_kind vm_kinds[] = { IVB_MAP_RESOURCE2, IVB_MAP_RESOURCE2_WC, IVB_MAP_REGION_WB };
	const enum ivb_map_kind loop_kinds[] = { IVB_MAP_SHM, IVB_MAP_SHM, IVB_MAP_SHM };
	const enum ivb_map_kind *kinds = w->primary->kind == IVB_MAP_SHM ? loop_kinds : vm_kinds;
	unsigned nextra = 0;
	bool primary_done = false;

	w->study[w->nstudy++] = w->primary;
	for (unsigned i = 0; i < IVB_MAP_STUDY_MAX; i++) {
		struct ivb_mapping *m = &w->extra[nextra];
		int ret;

		if (kinds[i] == w->primary->kind && !primary_done) {
			primary_done = true;
			continue;
		}
		ret = map_again(w, kinds[i], m);
		if (ret == 0 && m->size != w->primary->size) {
			ivb_unmap(m);
			ret = -EXDEV;
		}
		if (ret < 0) {
			struct ivb_map_study *x = &w->missing[w->nmissing++];

			x->map_kind = kinds[i];
			x->error = -ret > (int)IVB_MAP_STUDY_ERRNO_MAX ? IVB_MAP_STUDY_ERRNO_MAX : (uint32_t)-ret;
			fprintf(stderr, "guest_reader: map study: no %s mapping: %s; the study runs without it\n",
				ivb_map_kind_name(kinds[i]), ivb_map_missing_why(kinds[i], x->error));
			continue;
		}
		w->study[w->nstudy++] = m;
		nextra++;
	}
	for (unsigned i = 0; i < w->nstudy; i++)
		ivb_pci_reread_memtype(w->sysfs_root, w->study[i]);
	fprintf(stderr, "guest_reader: map study through");
	for (unsigned i = 0; i < w->nstudy; i++)
		fprintf(stderr, "%s %s (%s)", i ? "," : "", ivb_map_kind_name(w->study[i]->kind),
			w->study[i]->memtype[0] ? w->study[i]->memtype : "unknown");
	fprintf(stderr, "\n");
}

uint32_t ivb_map_set_run(struct ivb_map_set *w, uint64_t size, uint8_t *copy, const uint8_t sha256[IVB_SHA256_LEN],
			 struct ivb_map_study out[IVB_MAP_STUDY_MAX])
{
	struct ivb_phase_counters unused[IVB_NPHASES];
	unsigned first, slot = 0;

	if (!w->opened) {
		w->opened = true;
		open_study(w);
	}
	first = (unsigned)(w->messages++ % w->nstudy);
	for (unsigned i = 0; i < w->nstudy; i++, slot++) {
		const struct ivb_mapping *m = w->study[(first + i) % w->nstudy];
		struct ivb_guest_timing t;
		bool match = false;

		if (ivb_run_phases(ivb_buffer(m->region), size, copy, sha256, NULL, &t, unused, &match) < 0)
			return IVB_MSG_GUEST_FAILURE;
		if (!match)
			return IVB_MSG_SHA256_MISMATCH;
		out[slot].hot_read_ns = t.hot_read_ns;
		out[slot].cold_read_ns = t.cold_read_ns;
		out[slot].copy_ns = t.copy_ns;
		/* The bytes just verified go back where they came from: the host's message is left as it was. */
		out[slot].write_ns = ivb_time_write(ivb_buffer(m->region), copy, size);
		out[slot].map_kind = m->kind;
		snprintf(out[slot].memtype, sizeof(out[slot].memtype), "%.*s", (int)sizeof(out[slot].memtype) - 1,
			 m->memtype[0] ? m->memtype : "unknown");
	}
	for (unsigned i = 0; i < w->nmissing && slot < IVB_MAP_STUDY_MAX; i++, slot++)
		out[slot] = w->missing[i];
	return IVB_MSG_OK;
}

