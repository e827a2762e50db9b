"""The CSV columns host_writer writes, read from schema/columns.txt: their one definition.

Format (the file's header comment says it too): `table NAME FILE` starts a file's block, then one line
per column, `NAME KIND [meaning]`; `#` lines and blank lines are comments. A malformed line, an unknown
kind or a name given twice is an error naming the line.
"""

import re
from dataclasses import dataclass
from pathlib import Path

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schema" / "columns.txt"
KINDS = ("int", "sint", "real", "text", "flag")
_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")
_FILE = re.compile(r"[a-z][a-z0-9_]*\.csv\Z")


class SchemaError(Exception):
    """schema/columns.txt cannot be used; the message is one line naming the file and line."""


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    meaning: str = ""


@dataclass(frozen=True)
class Table:
    name: str
    file: str
    columns: tuple

    @property
    def names(self):
        """The column names in file order."""
        return [c.name for c in self.columns]

    def of_kind(self, *kinds):
        return [c.name for c in self.columns if c.kind in kinds]


def parse(text, source="columns.txt"):
    """The tables of a schema text, in file order, as {name: Table}; raises SchemaError."""
    tables = {}
    current = None  # (name, file, [Column]) of the block being read

    def close():
        if current is not None:
            if not current[2]:
                raise SchemaError(f"{source}: table {current[0]} has no columns")
            tables[current[0]] = Table(current[0], current[1], tuple(current[2]))

    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{source} line {lineno}"
        words = line.split(None, 2)
        if words[0] == "table":
            parts = line.split()
            if len(parts) != 3 or not _NAME.match(parts[1]) or not _FILE.match(parts[2]):
                raise SchemaError(f"{where}: expected `table NAME FILE.csv`, got {line!r}")
            close()
            if parts[1] in tables or any(t.file == parts[2] for t in tables.values()):
                raise SchemaError(f"{where}: table {parts[1]} or file {parts[2]} defined twice")
            current = (parts[1], parts[2], [])
            continue
        if current is None:
            raise SchemaError(f"{where}: column {words[0]!r} before the first `table` line")
        if len(words) < 2 or not _NAME.match(words[0]):
            raise SchemaError(f"{where}: expected `NAME KIND [meaning]`, got {line!r}")
        if words[1] not in KINDS:
            raise SchemaError(f"{where}: unknown kind {words[1]!r} (expected one of {', '.join(KINDS)})")
        if any(c.name == words[0] for c in current[2]):
            raise SchemaError(f"{where}: column {words[0]} twice in table {current[0]}")
        current[2].append(Column(words[0], words[1], words[2] if len(words) > 2 else ""))
    close()
    if not tables:
        raise SchemaError(f"{source}: no tables")
    return tables


def load(path=SCHEMA_PATH):
    """The tables of schema/columns.txt; raises SchemaError (also when the file cannot be read)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise SchemaError(f"{path}: cannot be read ({err})")
    return parse(text, Path(path).name)


TABLES = load()


def columns(table):
    """The column names of one table, in file order."""
    return TABLES[table].names


def text_columns(table):
    """The columns of kind text: the only ones the analysis does not read as numbers."""
    return set(TABLES[table].of_kind("text"))
