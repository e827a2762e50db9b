"""schema/columns.txt, the one definition of every CSV column: its parser on good and bad input, and the
agreement of the writer (a real loopback run's header lines), the analysis and docs/outputs.md with it."""

import csv
import re

import pytest

import builders as b
from ivbench_analysis import load, schema

GOOD = """\
# a comment
table one one.csv
# what a row is
iteration   int
name        text   what it holds, with spaces
delta       sint

table two two.csv
ok          flag
rate        real
"""


def test_parser_reads_tables_columns_kinds_and_meanings():
    tables = schema.parse(GOOD)
    assert list(tables) == ["one", "two"]
    one = tables["one"]
    assert (one.name, one.file, one.names) == ("one", "one.csv", ["iteration", "name", "delta"])
    assert one.columns[1] == schema.Column("name", "text", "what it holds, with spaces")
    assert one.columns[0].meaning == ""
    assert tables["two"].of_kind("flag", "real") == ["ok", "rate"]


@pytest.mark.parametrize("text, message", [
    ("table one one.csv\nx float\n", "x.txt line 2: unknown kind 'float'"),
    ("table one one.csv\nx\n", "x.txt line 2: expected `NAME KIND [meaning]`, got 'x'"),
    ("table one one.csv\nX int\n", "x.txt line 2: expected `NAME KIND [meaning]`"),
    ("x int\n", "x.txt line 1: column 'x' before the first `table` line"),
    ("table one\nx int\n", "x.txt line 1: expected `table NAME FILE.csv`"),
    ("table one one.txt\nx int\n", "x.txt line 1: expected `table NAME FILE.csv`"),
    ("table one one.csv\nx int\nx real\n", "x.txt line 3: column x twice in table one"),
    ("table one one.csv\nx int\ntable one two.csv\ny int\n", "x.txt line 3: table one or file two.csv defined twice"),
    ("table one one.csv\ntable two two.csv\ny int\n", "x.txt: table one has no columns"),
    ("# nothing\n", "x.txt: no tables"),
])
def test_parser_refuses_bad_input_naming_the_line(text, message):
    with pytest.raises(schema.SchemaError) as err:
        schema.parse(text, "x.txt")
    assert str(err.value).startswith(message), str(err.value)


def test_unreadable_schema_file_is_a_schema_error(tmp_path):
    with pytest.raises(schema.SchemaError, match="cannot be read"):
        schema.load(tmp_path / "absent.txt")


def test_every_table_the_analysis_loads_is_in_the_schema():
    loaded = {spec.table for spec in load.TABLE_SPECS}
    assert loaded == set(schema.TABLES), "the analysis and the schema name different tables"
    for spec in load.TABLE_SPECS:
        assert spec.filename == schema.TABLES[spec.table].file
        assert spec.columns == schema.columns(spec.table)


def test_the_output_docs_name_every_csv_file_of_the_schema():
    docs = (b.REPO / "docs" / "outputs.md").read_text()
    missing = [t.file for t in schema.TABLES.values() if not re.search(rf"\b{re.escape(t.file)}\b", docs)]
    assert not missing, f"docs/outputs.md does not mention {missing}"


def test_a_loopback_run_writes_the_schemas_columns(tmp_path):
    out = b.run_loopback(tmp_path, ["--size", "8M", "--iterations", "3", "--latency-frame", "4096",
                                    "--bw-iterations", "1", "--frames", "64", "--ref-iterations", "1",
                                    "--write-study", "--map-study", "--stream-seconds", "1",
                                    "--stream-frames", "64K", "--transport", "ivshmem,unix", "--message-sizes", "64"])
    written = {p.name for p in out.glob("*.csv")}
    assert written == {t.file for t in schema.TABLES.values()}, "the run should write every file of the schema"
    for table in schema.TABLES.values():
        with open(out / table.file, newline="") as f:
            header = next(csv.reader(f))
        assert header == table.names, f"{table.file}: host_writer's columns differ from schema/columns.txt"

