# gen-run.awk: schema/run.txt -> run.json's key table for the C writer (build/gen/run_keys.h and run_keys.c).
# Usage: awk -v out=h|c -f schema/gen-run.awk schema/run.txt
# Each key gets a constant IVB_RK_<PATH> of a type that says what it holds (struct ivb_rk_text, _count, _real,
# _bool, _object, _list): json.h's writer takes only these, so a key the schema does not declare, or a value of
# another type, does not compile; the table (ivb_run_keys[]) lets the writer check that each key is written
# inside the object that holds it. A malformed line stops the build with the file and line number.

function fail(msg) {
	printf "%s:%d: %s\n", FILENAME, FNR, msg > "/dev/stderr"
	failed = 1
	exit 1
}

# The path of the object or list holding p ("" at the top level).
function parent_of(p) {
	if (p ~ /\[\]$/)
		return substr(p, 1, length(p) - 2)
	if (p ~ /\./) {
		sub(/\.[^.]*$/, "", p)
		return p
	}
	return ""
}

function last_name(p) {
	if (p ~ /\[\]$/)
		return ""
	sub(/^.*\./, "", p)
	return p
}

function constant(p, c) {
	c = p
	sub(/^@/, "", c)
	gsub(/\[\]$/, "_ITEM", c)
	gsub(/\[\]/, "", c)
	gsub(/\*/, "ANY", c)
	gsub(/\./, "_", c)
	return "IVB_RK_" toupper(c)
}

BEGIN {
	nkeys = 0
	split("text count real bool object list", t)
	for (i in t)
		types[t[i]] = 1
	split("ns us s bytes kHz frames share utc -", u)
	for (i in u)
		units[u[i]] = 1
	split("host_writer run_test.sh bench --meta", w)
	for (i in w)
		writers[w[i]] = 1
	C_TYPE["text"] = "TEXT"; C_TYPE["count"] = "COUNT"; C_TYPE["real"] = "REAL"; C_TYPE["bool"] = "BOOL"
	C_TYPE["object"] = "OBJECT"; C_TYPE["list"] = "LIST"
}

/^[ \t]*$/ { next }
/^#/ { next }

$1 == "version" {
	if (NF != 2 || $2 !~ /^[1-9][0-9]*$/ || version != "")
		fail("one `version N` line")
	version = $2
	next
}

{
	if (NF < 5)
		fail("a key line is `PATH TYPE UNIT WRITER PRESENCE [meaning]`")
	p = $1
	if (p !~ /^@?[a-z][a-z0-9_]*(\[\])*((\.[a-z][a-z0-9_]*|\.\*)(\[\])*)*$/)
		fail("path '" p "' is not dotted lower-case names, [] and *")
	if (p ~ /^@[a-z0-9_]*$/)
		fail("a shape is declared by its members (@NAME.key), not on its own")
	if (!($2 in types) && $2 !~ /^@[a-z][a-z0-9_]*$/)
		fail("key " p ": type '" $2 "' is not text, count, real, bool, object, list or @SHAPE")
	if (!($3 in units))
		fail("key " p ": unit '" $3 "' is not ns, us, s, bytes, kHz, frames, share, utc or -")
	if (!($4 in writers))
		fail("key " p ": writer '" $4 "' is not host_writer, run_test.sh, bench or --meta")
	if ($5 != "required" && $5 != "optional")
		fail("key " p ": presence '" $5 "' is not required or optional")
	if (p in index_of)
		fail("key " p " twice")
	if (p ~ /^@/) {
		shape = p
		sub(/\..*$/, "", shape)
		if (!(shape in index_of)) {
			index_of[shape] = nkeys
			path[nkeys] = shape
			type[nkeys] = "shape"
			line[nkeys] = FNR
			nkeys++
		}
	}
	index_of[p] = nkeys
	path[nkeys] = p
	type[nkeys] = $2
	line[nkeys] = FNR
	c = constant(p)
	if (c in constant_of)
		fail("key " p " and " constant_of[c] " both make the constant " c)
	constant_of[c] = p
	nkeys++
}

END {
	if (failed)
		exit 1
	if (version == "" || nkeys == 0) {
		print "gen-run.awk: no `version N` line or no key in the schema" > "/dev/stderr"
		exit 1
	}
	for (k = 0; k < nkeys; k++) {
		FNR = line[k]
		if (type[k] == "shape")
			continue
		par = parent_of(path[k])
		if (par == "") {
			parent[k] = -1
		} else if (!(par in index_of)) {
			fail("key " path[k] ": the object or list holding it (" par ") is not declared")
		} else {
			parent[k] = index_of[par]
			pt = type[parent[k]]
			if (path[k] ~ /\[\]$/ && pt != "list")
				fail("key " path[k] ": " par " is not a list")
			if (path[k] !~ /\[\]$/ && pt != "object" && pt != "shape" && pt !~ /^@/)
				fail("key " path[k] ": " par " is not an object")
		}
		members[k] = k
		if (type[k] ~ /^@/) {
			if (!(type[k] in index_of))
				fail("key " path[k] ": shape " type[k] " has no members")
			members[k] = index_of[type[k]]
		}
	}
	print "/* Generated from schema/run.txt by schema/gen-run.awk: edit the schema, not this file. */"
	if (out == "h") {
		print "#ifndef IVB_RUN_KEYS_H"
		print "#define IVB_RUN_KEYS_H"
		print ""
		printf "/* The format version run.json records as format_version. */\n#define IVB_RUN_FORMAT_VERSION %du\n", version
		print ""
		print "enum ivb_run_type { IVB_RUN_TEXT, IVB_RUN_COUNT, IVB_RUN_REAL, IVB_RUN_BOOL, IVB_RUN_OBJECT, IVB_RUN_LIST,"
		print "\tIVB_RUN_SHAPE };"
		print ""
		print "struct ivb_run_key_def {"
		print "\tconst char *path;   /* as in the schema */"
		print "\tconst char *name;   /* the member's name; NULL for a list's item, \"*\" for any name */"
		print "\tint parent;         /* the key (or shape) whose value holds it; -1: the top level */"
		print "\tint members;        /* whose members this key's value holds: itself, or its shape */"
		print "\tenum ivb_run_type type;"
		print "};"
		printf "#define IVB_RUN_NKEYS %du\n", nkeys
		print "extern const struct ivb_run_key_def ivb_run_keys[IVB_RUN_NKEYS];"
		print ""
		print "/* One type per kind of value: the writer's functions take only the matching one. */"
		print "struct ivb_rk_text { int id; };"
		print "struct ivb_rk_count { int id; };"
		print "struct ivb_rk_real { int id; };"
		print "struct ivb_rk_bool { int id; };"
		print "struct ivb_rk_object { int id; };"
		print "struct ivb_rk_list { int id; };"
		print ""
		for (k = 0; k < nkeys; k++) {
			if (type[k] == "shape")
				continue
			kind = type[k] ~ /^@/ ? "object" : type[k]
			printf "#define %s ((struct ivb_rk_%s){ %d })\n", constant(path[k]), kind, k
		}
		print ""
		print "#endif /* IVB_RUN_KEYS_H */"
	} else {
		print "#include <stddef.h>"
		print ""
		print "#include \"run_keys.h\""
		print ""
		print "const struct ivb_run_key_def ivb_run_keys[IVB_RUN_NKEYS] = {"
		for (k = 0; k < nkeys; k++) {
			if (type[k] == "shape") {
				printf "\t{ \"%s\", NULL, -1, %d, IVB_RUN_SHAPE },\n", path[k], k
				continue
			}
			name = last_name(path[k])
			ctype = type[k] ~ /^@/ ? "OBJECT" : C_TYPE[type[k]]
			printf "\t{ \"%s\", %s, %d, %d, IVB_RUN_%s },\n", path[k], name == "" ? "NULL" : "\"" name "\"",
				parent[k], members[k], ctype
		}
		print "};"
	}
}
