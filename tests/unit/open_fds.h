/* open_fds.h: how many file descriptors this process has open, for the tests that must not leak one. */
#ifndef IVB_OPEN_FDS_H
#define IVB_OPEN_FDS_H

#include <dirent.h>

/* Entries of /proc/self/fd (the directory's own fd, ".." and "." included: compare counts, not values). */
static inline int ivb_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	while (d != NULL && readdir(d) != NULL)
		n++;
	if (d != NULL)
		closedir(d);
	return n;
}

#endif /* IVB_OPEN_FDS_H */
