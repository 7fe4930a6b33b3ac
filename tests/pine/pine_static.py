"""Offline static check of generated Pine v6: parse with pynescript, then check every called
built-in exists in the v6 reference extract (tests/pine/data/pine-v6-functions.json, MIT) with
the named arguments it is given, and every name read is defined or built in.

pynescript's first parse in a process takes 10-20 s (ANTLR warm-up): parse many files per process.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from pynescript import ast

REFERENCE = Path(__file__).parent / "data" / "pine-v6-functions.json"
KEYWORD_NAMES = {"true", "false", "na"}
TYPE_NAMES = {"int", "float", "bool", "string", "color", "line", "label", "box", "table", "array", "map", "matrix", "polyline", "linefill", "chart.point"}


@lru_cache(maxsize=1)
def reference() -> dict:
    data = json.loads(REFERENCE.read_text())
    functions = {name.replace("<type>", ""): {p["name"] for p in spec["parameters"]} for name, spec in data["functions"].items()}
    names = set(data["variables"]) | set(data["constants"]) | set(functions)
    namespaces = {n.split(".")[0] for n in names if "." in n}
    return {"functions": functions, "names": names, "namespaces": namespaces}


def dotted(node) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    if isinstance(node, ast.Specialize):
        return dotted(node.value)
    return None


def _walk(node):
    yield node
    for value in vars(node).values() if hasattr(node, "__dict__") else []:
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, ast.AST):
                yield from _walk(item)


def problems(source: str) -> list[str]:
    """Empty when the script parses and only uses known built-ins, arguments and defined names."""
    try:
        tree = ast.parse(source)
    except Exception as exc:  # noqa: BLE001 - any parser error is a finding
        return [f"syntax error: {exc}"]
    ref = reference()
    defined: set[str] = set()
    for node in _walk(tree):
        if isinstance(node, (ast.Assign, ast.ReAssign, ast.AugAssign)) and isinstance(node.target, ast.Name):
            defined.add(node.target.id)
        elif isinstance(node, (ast.ForIn, ast.ForTo)) and isinstance(node.target, ast.Name):
            defined.add(node.target.id)
        elif isinstance(node, ast.FunctionDef):
            defined.add(node.name)
            defined.update(p.name for p in node.args)
    found = []
    for node in _walk(tree):
        if isinstance(node, ast.Call):
            name = dotted(node.func)
            if name is None:
                continue
            root = name.split(".")[0]
            if root in defined:  # a user function, or a method call on a user variable
                continue
            if name not in ref["functions"]:
                found.append(f"unknown built-in {name}()")
                continue
            for arg in node.args:
                if getattr(arg, "name", None) and arg.name not in ref["functions"][name]:
                    found.append(f"{name}(): no parameter named '{arg.name}'")
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            n = node.id
            if not (n in defined or n in ref["names"] or n in ref["namespaces"] or n in KEYWORD_NAMES or n in TYPE_NAMES):
                found.append(f"undefined name '{n}'")
    return sorted(set(found))
