"""run.json's keys, read from schema/run.txt: their one definition (the C writer's keys are generated from it).

Format (the file's header comment says it in full): a `version N` line, then one line per key,
`PATH TYPE UNIT WRITER PRESENCE [meaning]`. PATH is dotted, `[]` is a list's item, `*` any name; a path
starting `@NAME.` declares a member of the shape NAME, and TYPE `@NAME` says a key holds that shape. Here the
shapes are expanded: host.cpu.user_s is a key like any other. A malformed line is a SchemaError naming it.
"""

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Optional

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schema" / "run.txt"
TEXT, COUNT, REAL, BOOL, OBJECT, LIST = "text", "count", "real", "bool", "object", "list"
TYPES = (TEXT, COUNT, REAL, BOOL, OBJECT, LIST)
UNITS = ("ns", "us", "s", "bytes", "kHz", "frames", "share", "utc", "-")
WRITERS = ("host_writer", "run_test.sh", "bench", "--meta")
TYPE_WORDS = {TEXT: "a string", COUNT: "a whole number", REAL: "a number", BOOL: "true or false",
              OBJECT: "an object", LIST: "a list"}
_PATH = re.compile(r"@?[a-z][a-z0-9_]*(\[\])*((\.[a-z][a-z0-9_]*|\.\*)(\[\])*)*\Z")
_SHAPE = re.compile(r"@[a-z][a-z0-9_]*\Z")
# A run.json without format_version was written before the format had a version.
FIRST_VERSION = 1


class SchemaError(Exception):
    """schema/run.txt cannot be used; the message is one line naming the file and line."""


@dataclass(frozen=True)
class Key:
    path: str
    type: str  # one of TYPES (a shape's holder is an object)
    unit: str
    writer: str
    required: bool  # present whenever the object holding it is
    meaning: str = ""


def parent_of(path):
    """The path of the object or list that holds path ("" at the top level)."""
    if path.endswith("[]"):
        return path[:-2]
    return path.rsplit(".", 1)[0] if "." in path else ""


def fits(value, kind):
    """Whether a parsed JSON value has the schema's type (true and false are not numbers)."""
    if kind == TEXT:
        return isinstance(value, str)
    if kind == BOOL:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind == COUNT:
        return isinstance(value, int) and value >= 0
    if kind == REAL:
        return isinstance(value, (int, float))
    return isinstance(value, dict) if kind == OBJECT else isinstance(value, list)


def json_type(value):
    """A value's JSON type as messages name it."""
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):
        return f"a number {value!r}"
    return {str: "a string", list: "a list", dict: "an object", type(None): "null"}[type(value)]


@dataclass(frozen=True)
class Problem:
    """One way a run.json differs from the schema: undeclared, wrong type, or a required key missing."""
    path: str
    why: str

    def __str__(self):
        return f"{self.path} {self.why}"


class RunSchema:
    """The keys of one schema text, shapes expanded, by path."""

    def __init__(self, version, keys):
        self.version = version
        self.keys = keys
        self._children = {}
        for key in keys.values():
            self._children.setdefault(parent_of(key.path), []).append(key)

    def declared(self, path) -> Optional[Key]:
        """The key for a concrete path (items as `[]`), or the `*` key of its object, or None."""
        if path in self.keys:
            return self.keys[path]
        parent = parent_of(path)
        if path.endswith("[]"):
            return None
        return self.keys.get(f"{parent}.*" if parent else "*")

    def children(self, path):
        """The keys declared directly inside the object or list at path ("" the top level)."""
        return self._children.get(path, [])

    def problems(self, document):
        """Every way a parsed run.json differs from the schema, both ways: a key the schema does not
        declare, a value of another type, a required key missing from an object that is there."""
        found, todo = [], [("", document)]
        while todo:
            path, value = todo.pop()
            if isinstance(value, dict):
                for child in self.children(path):
                    name = child.path.rsplit(".", 1)[-1]
                    if child.required and name != "*" and name not in value:
                        found.append(Problem(child.path, "is required but not written"))
                items = [(f"{path}.{name}" if path else name, item) for name, item in value.items()]
            elif isinstance(value, list):
                items = [(f"{path}[]", item) for item in value]
            else:
                continue
            for sub, item in items:
                key = self.declared(sub)
                if key is None:
                    found.append(Problem(sub, "is written but not declared"))
                elif not fits(item, key.type):
                    found.append(Problem(sub, f"is {json_type(item)}, expected {TYPE_WORDS[key.type]}"))
                else:
                    todo.append((sub, item))
        return sorted(found, key=lambda p: p.path)

    def shape(self, path="", skip=()):
        """The keys inside path as nested types for a checker: {name: type or sub-shape}, a list as [item
        shape], `*` for any name. Paths in skip (and all below them) are left out."""
        out = {}
        for key in self.children(path):
            if key.path in skip:
                continue
            name = "[]" if key.path.endswith("[]") else key.path.rsplit(".", 1)[-1]
            if key.type == OBJECT:
                out[name] = self.shape(key.path, skip)
            elif key.type == LIST:
                item = self.shape(key.path, skip).get("[]")
                if item is not None:
                    out[name] = [item]
            else:
                out[name] = key.type
        return out


def parse(text, source="run.txt"):
    """The schema of a text; raises SchemaError."""
    version, lines, shapes = None, [], {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{source} line {lineno}"
        words = line.split(None, 5)
        if words[0] == "version":
            if version is not None or len(words) != 2 or not words[1].isdigit() or int(words[1]) < 1:
                raise SchemaError(f"{where}: expected one `version N` line, got {line!r}")
            version = int(words[1])
            continue
        if len(words) < 5:
            raise SchemaError(f"{where}: expected `PATH TYPE UNIT WRITER PRESENCE [meaning]`, got {line!r}")
        path, kind, unit, writer, presence = words[:5]
        if not _PATH.match(path) or _SHAPE.match(path):
            raise SchemaError(f"{where}: {path!r} is not a dotted path of lower-case names, [] and *")
        if kind not in TYPES and not _SHAPE.match(kind):
            raise SchemaError(f"{where}: unknown type {kind!r} (expected one of {', '.join(TYPES)} or @SHAPE)")
        if unit not in UNITS or writer not in WRITERS or presence not in ("required", "optional"):
            raise SchemaError(f"{where}: unit, writer or presence not one of the header's words: {line!r}")
        key = Key(path, kind, unit, writer, presence == "required", words[5] if len(words) > 5 else "")
        if path.startswith("@"):
            shape, _, member = path.partition(".")
            shapes.setdefault(shape, []).append((member, key))
        else:
            lines.append(key)
    if version is None:
        raise SchemaError(f"{source}: no `version N` line")
    keys = {}

    def add(key, depth=0):
        if key.path in keys:
            raise SchemaError(f"{source}: key {key.path} declared twice")
        if key.type.startswith("@"):
            if key.type not in shapes or depth > 8:
                raise SchemaError(f"{source}: key {key.path}: shape {key.type} has no members (or holds itself)")
            keys[key.path] = Key(key.path, OBJECT, key.unit, key.writer, key.required, key.meaning)
            for member, inner in shapes[key.type]:
                add(Key(f"{key.path}.{member}", inner.type, inner.unit, inner.writer, inner.required, inner.meaning),
                    depth + 1)
            return
        keys[key.path] = key

    for key in lines:
        add(key)
    for key in keys.values():
        parent = parent_of(key.path)
        holder = keys.get(parent)
        if parent and (holder is None or holder.type != (LIST if key.path.endswith("[]") else OBJECT)):
            raise SchemaError(f"{source}: key {key.path}: {parent} is not declared as its "
                              f"{'list' if key.path.endswith('[]') else 'object'}")
    return RunSchema(version, keys)


def load(path=SCHEMA_PATH):
    """The schema of schema/run.txt; raises SchemaError (also when the file cannot be read)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise SchemaError(f"{path}: cannot be read ({err})")
    return parse(text, Path(path).name)


SCHEMA = load()


@lru_cache(maxsize=None)
def check_path(path):
    """path itself, when the schema declares it; ValueError otherwise (the analysis asked for a key that
    nothing writes)."""
    if SCHEMA.declared(path) is None:
        raise ValueError(f"run.json key {path} is not declared in {SCHEMA_PATH.name}")
    return path
