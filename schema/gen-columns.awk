# gen-columns.awk: schema/columns.txt -> the C column lists (build/gen/columns.h and columns.c).
# Usage: awk -v out=h|c -f schema/gen-columns.awk schema/columns.txt
# For each table: the names in file order, their count, and an enum of indices
# (IVB_COL_<TABLE>_<COLUMN>); ivb_tables[] lists every table with its file. A malformed line stops
# the build with the file and line number.

function fail(msg) {
	printf "%s:%d: %s\n", FILENAME, FNR, msg > "/dev/stderr"
	failed = 1
	exit 1
}

/^[ \t]*$/ { next }
/^#/ { next }

$1 == "table" {
	if (NF != 3 || $2 !~ /^[a-z][a-z0-9_]*$/)
		fail("a table line is `table NAME FILE`")
	if ($2 in table_file)
		fail("table " $2 " twice")
	t = $2
	tables[++ntables] = t
	table_file[t] = $3
	ncols[t] = 0
	next
}

{
	if (t == "")
		fail("a column before any table")
	if ($1 !~ /^[a-z][a-z0-9_]*$/)
		fail("column name '" $1 "' is not lower-case letters, digits and '_'")
	if ($2 !~ /^(int|sint|real|text|flag)$/)
		fail("column " $1 ": kind '" $2 "' is not int, sint, real, text or flag")
	if ((t SUBSEP $1) in seen)
		fail("column " $1 " twice in table " t)
	seen[t, $1] = 1
	cols[t, ++ncols[t]] = $1
}

END {
	if (failed)
		exit 1
	if (ntables == 0) {
		print "gen-columns.awk: no table in the schema" > "/dev/stderr"
		exit 1
	}
	print "/* Generated from schema/columns.txt by schema/gen-columns.awk: edit the schema, not this file. */"
	if (out == "h") {
		max = 0
		print "#ifndef IVB_COLUMNS_H"
		print "#define IVB_COLUMNS_H"
		print ""
		print "#include <stddef.h>"
		print ""
		print "enum ivb_table {"
		for (i = 1; i <= ntables; i++)
			printf "\tIVB_TABLE_%s = %d,\n", toupper(tables[i]), i - 1
		print "};"
		printf "#define IVB_NTABLES %du\n", ntables
		for (i = 1; i <= ntables; i++) {
			t = tables[i]
			T = toupper(t)
			if (ncols[t] > max)
				max = ncols[t]
			print ""
			printf "/* %s */\n", table_file[t]
			printf "enum ivb_%s_column {\n", t
			for (k = 1; k <= ncols[t]; k++)
				printf "\tIVB_COL_%s_%s = %d,\n", T, toupper(cols[t, k]), k - 1
			print "};"
			printf "#define IVB_%s_NCOLUMNS %du\n", T, ncols[t]
			printf "extern const char *const ivb_%s_columns[IVB_%s_NCOLUMNS];\n", t, T
		}
		print ""
		printf "#define IVB_COLUMNS_MAX %du /* the widest table */\n", max
		print ""
		print "struct ivb_table_def {"
		print "\tconst char *name; /* as in the schema */"
		print "\tconst char *file; /* the CSV's name in a results folder */"
		print "\tconst char *const *columns;"
		print "\tsize_t ncolumns;"
		print "};"
		print "extern const struct ivb_table_def ivb_tables[IVB_NTABLES];"
		print ""
		print "#endif /* IVB_COLUMNS_H */"
	} else {
		print "#include \"columns.h\""
		for (i = 1; i <= ntables; i++) {
			t = tables[i]
			print ""
			printf "const char *const ivb_%s_columns[IVB_%s_NCOLUMNS] = {\n", t, toupper(t)
			for (k = 1; k <= ncols[t]; k++)
				printf "\t\"%s\",\n", cols[t, k]
			print "};"
		}
		print ""
		print "const struct ivb_table_def ivb_tables[IVB_NTABLES] = {"
		for (i = 1; i <= ntables; i++) {
			t = tables[i]
			printf "\t[IVB_TABLE_%s] = { \"%s\", \"%s\", ivb_%s_columns, IVB_%s_NCOLUMNS },\n", toupper(t), t,
				table_file[t], t, toupper(t)
		}
		print "};"
	}
}
