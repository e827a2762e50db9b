/* scratch.h: a test program's own temporary folder, made before its tests and removed, whole, after them. */
#ifndef IVB_SCRATCH_H
#define IVB_SCRATCH_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

/* mkdtemp(tmpl) (tmpl ends in XXXXXX); says why on stderr when it fails. Returns: 0, or -1. */
static int scratch_make(char *tmpl)
{
	if (mkdtemp(tmpl) != NULL)
		return 0;
	perror(tmpl);
	return -1;
}

static int scratch_remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	if (remove(path) != 0)
		perror(path);
	return 0; /* remove what can be, say what cannot */
}

/* Remove dir and everything in it; symlinks are removed, never followed. */
static void scratch_remove(const char *dir)
{
	nftw(dir, scratch_remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif /* IVB_SCRATCH_H */
