"""Lua source text: literals, construct expressions translated to Lua, and the hand-written
runtime fragments shipped beside this module (``lua/*.lua``, package data)."""

from __future__ import annotations

import operator
from importlib.resources import files

import construct.expr as cexpr


def runtime(name: str) -> str:
    """The text of the runtime fragment ``lua/<name>.lua``."""
    return files(__package__).joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")


# ----------------------------------------------------------------------------------------------
# Lua literals
def lua_str(s: str) -> str:
    out = []
    for ch in s.encode("utf-8"):
        if ch in (0x22, 0x5C):
            out.append("\\" + chr(ch))
        elif 0x20 <= ch < 0x7F:
            out.append(chr(ch))
        else:
            out.append(f"\\{ch:03d}")
    return '"' + "".join(out) + '"'


def lua_vals(vals: dict) -> str:
    return "{" + ", ".join(f"[{k}] = {lua_str(v)}" for k, v in sorted(vals.items())) + "}"


def lua_vals_num(vals: dict) -> str:
    return "{" + ", ".join(f"[{k}] = {v}" for k, v in sorted(vals.items())) + "}"


# ----------------------------------------------------------------------------------------------
# construct expressions (``this`` paths) -> Lua expressions over the value table ``v``
_OPS = {operator.eq: "==", operator.ne: "~=", operator.or_: "or", operator.and_: "and",
        operator.lt: "<", operator.gt: ">", operator.le: "<=", operator.ge: ">="}


def lua_expr(e) -> str:
    if isinstance(e, bool):
        return "true" if e else "false"
    if isinstance(e, int):
        return str(e)
    if isinstance(e, str):  # a field name of the same structure (VarBytes("len_field"))
        return f"v.{e}"
    if isinstance(e, cexpr.BinExpr):
        return f"({lua_expr(e.lhs)} {_OPS[e.op]} {lua_expr(e.rhs)})"
    if isinstance(e, cexpr.Path):
        parts = []
        p = e
        while getattr(p, "_Path__parent") is not None:
            parts.append(getattr(p, "_Path__field"))
            p = getattr(p, "_Path__parent")
        out = "v"
        for name in reversed(parts):
            if name == "_":
                out += "._parent"
            elif name.startswith("_"):
                continue  # bit-field groups are flattened into the structure's values
            else:
                out += f".{name}"
        return out
    raise TypeError(f"cannot translate {e!r} to Lua")
