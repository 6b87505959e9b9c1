"""A small Dockerfile reader: instructions with continuations joined, comments dropped."""

import re
import shlex
from pathlib import Path


def instructions(path: Path) -> list[tuple[str, str]]:
    out, buf = [], ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if buf and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            buf += stripped[:-1] + " "
            continue
        buf += stripped
        word, _, rest = buf.partition(" ")
        out.append((word.upper(), rest.strip()))
        buf = ""
    return out


def stages(path: Path) -> list[dict]:
    """[{'image', 'name', 'instructions': [(INSTR, args)]}] per FROM."""
    result = []
    args = {}
    for instr, rest in instructions(path):
        if instr == "ARG" and not result:
            name, _, default = rest.partition("=")
            args[name.strip()] = default.strip()
        elif instr == "FROM":
            words = [w for w in rest.split() if not w.startswith("--")]
            image = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), words[0])
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            result.append({"image": image, "name": name, "instructions": []})
        elif result:
            result[-1]["instructions"].append((instr, rest))
    return result


def env_names(path: Path) -> set[str]:
    """Names set by ENV (both the `ENV a=b c=d` and `ENV a b` forms) in any stage."""
    names = set()
    for stage in stages(path):
        for instr, rest in stage["instructions"]:
            if instr != "ENV":
                continue
            words = shlex.split(rest)
            if words and "=" not in words[0]:
                names.add(words[0])
            else:
                names.update(w.split("=", 1)[0] for w in words)
    return names
