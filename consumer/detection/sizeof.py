"""Deep in-memory size of a model object graph (``sys.getsizeof`` summed over reachable objects)."""

from __future__ import annotations

import sys
from collections import deque
from typing import Any

_ATOMIC = (int, float, bool, str, bytes, type(None))


def deep_sizeof(root: object) -> int:
    """Bytes held by ``root`` and everything it references (shared objects counted once;
    classes, functions and modules are not counted)."""
    seen: set[int] = set()
    stack: list[Any] = [root]
    total = 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, type) or (callable(obj) and not hasattr(obj, "__dict__")):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        if isinstance(obj, _ATOMIC):
            continue
        if isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, list | tuple | set | frozenset | deque):
            stack.extend(obj)
        else:
            if hasattr(obj, "__dict__"):
                stack.append(vars(obj))
            for cls in type(obj).__mro__:
                for slot in getattr(cls, "__slots__", ()):
                    if hasattr(obj, slot):
                        stack.append(getattr(obj, slot))
    return total
