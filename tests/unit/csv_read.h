/* csv_read.h: a strict RFC 4180 reader for the tests, written apart from src/host/csv.c so that it checks it. */
#ifndef IVB_TEST_CSV_READ_H
#define IVB_TEST_CSV_READ_H

#include <stddef.h>

#define CSV_READ_FIELD 160

/*
 * Read the row at *p into fields (at most max), unquoting quoted fields, and move *p past its line
 * break. Returns: the number of fields, 0 at the end of the text, or -1 for a row a strict reader
 * refuses (a quote or CR inside an unquoted field, text after a closing quote, an open quote, too many
 * fields, a field too long).
 */
static inline int csv_read_row(const char **p, char fields[][CSV_READ_FIELD], int max)
{
	const char *s = *p;
	int n = 0;

	if (*s == '\0')
		return 0;
	for (;;) {
		size_t len = 0;

		if (n == max)
			return -1;
		if (*s == '"') {
			for (s++;; s++) {
				if (*s == '\0')
					return -1;
				if (*s == '"' && s[1] != '"')
					break;
				if (*s == '"')
					s++;
				if (len + 1 == CSV_READ_FIELD)
					return -1;
				fields[n][len++] = *s;
			}
			s++;
			if (*s != ',' && *s != '\n' && *s != '\0')
				return -1;
		} else {
			for (; *s != ',' && *s != '\n' && *s != '\0'; s++) {
				if (*s == '"' || *s == '\r' || len + 1 == CSV_READ_FIELD)
					return -1;
				fields[n][len++] = *s;
			}
		}
		fields[n++][len] = '\0';
		if (*s != ',')
			break;
		s++;
	}
	if (*s == '\n')
		s++;
	*p = s;
	return n;
}

#endif /* IVB_TEST_CSV_READ_H */
