#!/usr/bin/env python3
"""Lists the public declarations of the library modules that have no doc comment.

Usage: scripts/check-doc-comments.py [--module NAME]... [--no-cases] [--quiet] [--root DIR]

Every `public` or `open` declaration in Sources/<Module>/**/*.swift (executables excluded: Sources/sippet,
Sources/sippet-bench-*) needs a `///` (or `/** */`) comment directly above it; attribute lines (`@inlinable`,
`@available(...)`) and plain `//` comment lines may stand between the two, a blank line may not. Counted as public:
declarations marked `public`/`open` in a public context, the unmarked members of a `public extension`, the
requirements of a public protocol and the cases of a public enum (these are counted apart: `--no-cases` leaves them
out of the list and of the exit status). Extension lines themselves need no comment, and nothing inside a function
or property body is looked at. Members declared on their type's own line (`enum Role { case a, b }`) cannot have a
comment of their own: they are listed as missing, marked "(on its type's line)". Both branches of an `#if` are read.

Prints `path:line: declaration` per missing comment, then one summary line per module; exits 1 when a comment is
missing, 0 otherwise, 2 on bad usage.
"""

import argparse
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

DECL_KEYWORDS = {
    "func", "init", "subscript", "var", "let", "struct", "class", "enum", "protocol", "typealias", "actor",
    "extension", "associatedtype", "case", "macro", "deinit", "operator", "precedencegroup",
}
TYPE_KEYWORDS = {"struct", "class", "enum", "protocol", "actor", "extension"}
MODIFIERS = {
    "public", "open", "private", "fileprivate", "internal", "package", "static", "class", "final", "override",
    "mutating", "nonmutating", "lazy", "weak", "unowned", "required", "convenience", "dynamic", "indirect",
    "nonisolated", "optional", "prefix", "postfix", "infix", "distributed", "consuming", "borrowing", "isolated",
}
NON_PUBLIC = {"private", "fileprivate", "internal", "package"}
ATTRIBUTE = re.compile(r"@[A-Za-z_][\w.]*")
WORD = re.compile(r"[A-Za-z_]\w*|`[^`]+`")


def mask(text):
    """Returns the text with comments and string literals blanked (newlines kept), and the set of line numbers
    (0-based) that hold part of a `/** */` doc comment."""
    out = list(text)
    doc_lines = set()
    n = len(text)
    i = 0
    line = 0
    # A stack of frames: ("code", paren depth of an interpolation or -1) or ("str", multiline, hashes).
    stack = [("code", -1)]

    def blank(a, b):
        for k in range(a, b):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        c = text[i]
        top = stack[-1]
        if c == "\n":
            line += 1
            i += 1
            continue
        if top[0] == "code":
            if text.startswith("//", i):
                j = text.find("\n", i)
                j = n if j < 0 else j
                blank(i, j)
                i = j
            elif text.startswith("/*", i):
                is_doc = text.startswith("/**", i) and not text.startswith("/**/", i)
                depth, j = 1, i + 2
                while j < n and depth:
                    if text.startswith("/*", j):
                        depth, j = depth + 1, j + 2
                    elif text.startswith("*/", j):
                        depth, j = depth - 1, j + 2
                    else:
                        j += 1
                end_line = line + text.count("\n", i, j)
                if is_doc:
                    doc_lines.update(range(line, end_line + 1))
                blank(i, j)
                line = end_line
                i = j
            elif c == '"' or (c == "#" and re.match(r'#+"', text[i:i + 8])):
                hashes = 0
                while text[i + hashes] == "#":
                    hashes += 1
                multiline = text.startswith('"""', i + hashes)
                quote = 3 if multiline else 1
                blank(i, i + hashes + quote)
                i += hashes + quote
                stack.append(("str", multiline, hashes))
            else:
                if top[1] >= 0:
                    if c == "(":
                        stack[-1] = ("code", top[1] + 1)
                    elif c == ")":
                        if top[1] == 0:
                            stack.pop()
                            blank(i, i + 1)
                            i += 1
                            continue
                        stack[-1] = ("code", top[1] - 1)
                i += 1
        else:
            _, multiline, hashes = top
            escape = "\\" + "#" * hashes
            close = ('"""' if multiline else '"') + "#" * hashes
            if text.startswith(escape + "(", i):
                blank(i, i + len(escape) + 1)
                i += len(escape) + 1
                stack.append(("code", 0))
            elif text.startswith(escape, i):
                blank(i, min(n, i + len(escape) + 1))
                if i + len(escape) < n and text[i + len(escape)] == "\n":
                    line += 1
                i += len(escape) + 1
            elif text.startswith(close, i):
                blank(i, i + len(close))
                i += len(close)
                stack.pop()
            else:
                out[i] = " "
                i += 1
    return "".join(out), doc_lines


def strip_attributes(s):
    """Strips the attributes that begin `s`; returns the rest ("" when an attribute's arguments go on to the next
    line)."""
    while True:
        m = ATTRIBUTE.match(s)
        if not m:
            return s
        s = s[m.end():]
        if s.startswith("("):
            depth = 0
            for k, ch in enumerate(s):
                depth += {"(": 1, ")": -1}.get(ch, 0)
                if depth == 0:
                    break
            if depth:
                return ""
            s = s[k + 1:]
        s = s.lstrip()


def parse_decl(s):
    """Parses the start of a declaration: returns (keyword, modifiers, name) or None."""
    mods = []
    pos = 0
    while True:
        m = WORD.match(s, pos)
        if not m:
            return None
        word = m.group(0)
        end = m.end()
        if word == "class":
            nxt = WORD.match(s, end + len(s[end:]) - len(s[end:].lstrip()))
            if nxt and nxt.group(0) in DECL_KEYWORDS | MODIFIERS and nxt.group(0) != "class":
                mods.append(word)
                pos = nxt.start()
                continue
            keyword = word
        elif word in MODIFIERS:
            mods.append(word)
            rest = s[end:]
            paren = re.match(r"\s*\(\s*\w+\s*\)", rest)
            if paren:
                mods[-1] = word + "(" + re.sub(r"[\s()]", "", paren.group(0)) + ")"
                end += paren.end()
            pos = end + len(s[end:]) - len(s[end:].lstrip())
            continue
        elif word in DECL_KEYWORDS:
            keyword = word
        else:
            return None
        rest = s[end:]
        if rest[:1] not in ("", " ", "(", "?", "!", "<", "\t", "{", ":"):
            return None
        name = WORD.match(rest.lstrip())
        return keyword, mods, (name.group(0) if name else keyword)


def access(mods):
    for m in mods:
        if m in ("public", "open"):
            return "public"
        if m in NON_PUBLIC:
            return "private"
    return None


class Context:
    def __init__(self, kind, path, exposed, default_public=False):
        self.kind = kind  # a type keyword, "file", or "body" (function/property bodies, closures, blocks)
        self.path = path  # dotted name of the type, for nested types
        self.exposed = exposed  # whether public members of this context are public API
        self.default_public = default_public  # `public extension`, public protocol


def extension_target(line, module):
    m = re.match(r"\s*extension\s+([\w.]+)", line)
    if not m:
        return ""
    name = m.group(1)
    if name.startswith(module + "."):
        name = name[len(module) + 1:]
    return name


def extension_exposed(target, types):
    """Whether the public members of an extension of `target` are public API: no when the module declares the type
    (or a type that encloses it) without making it public; yes for the types of other modules."""
    parts = target.split(".")
    for k in range(len(parts), 0, -1):
        known = types.get(".".join(parts[:k]))
        if known is not None:
            return known
    return True


def is_public(ctx, keyword, acc):
    """Whether a declaration with access modifier `acc` ("public", "private" or None) in `ctx` is public API."""
    if ctx.kind == "protocol" or (ctx.kind == "enum" and keyword == "case"):
        return ctx.exposed
    if acc == "public":
        return ctx.exposed
    return acc is None and ctx.default_public and ctx.exposed


def one_line_members(code, ctx):
    """The members declared on the line of their type, after its `{` (`enum Role { case a, b }`):
    [(keyword, shown)] for the public ones. They cannot have a doc comment of their own."""
    brace = code.find("{")
    inner, depth = "", 0
    for ch in code[brace + 1:]:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            break
        if depth == 0 and ch not in "{}":
            inner += ch
    found = []
    for part in inner.split(";"):
        decl = parse_decl(strip_attributes(part.strip()))
        if decl and (decl[0] != "case" or ctx.kind == "enum") and is_public(ctx, decl[0], access(decl[1])):
            found.append((decl[0], part.strip()))
    return found


def scan(path, module, types, report):
    """Scans one file. `types` maps dotted type names of the module to whether they are public; when `report`
    is None the scan only fills `types`. Otherwise `report(line, keyword, text, documented)` is called for each
    public declaration."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    masked, doc_lines = mask(text)
    lines = text.split("\n")
    mlines = masked.split("\n")
    kinds = []  # per line: "doc", "attr", "comment", "blank", "directive", "code"
    stack = [Context("file", "", True)]
    pending = None  # the context that the next `{` opens (the last declaration, until its body opens)
    depth = 0  # parentheses and brackets
    for idx, (orig, code) in enumerate(zip(lines, mlines)):
        stripped = orig.strip()
        cstripped = code.strip()
        if not cstripped:
            if not stripped:
                kinds.append("blank")
            elif stripped.startswith("///") or idx in doc_lines:
                kinds.append("doc")
            else:
                kinds.append("comment")
            continue
        if cstripped.startswith("#") and re.match(r"#(if|elseif|else|endif)\b", cstripped):
            kinds.append("directive")
            continue
        kind = "code"
        decl = None
        if depth == 0:
            rest = strip_attributes(cstripped)
            if not rest:
                kind = "attr"
            elif stack[-1].kind != "body":
                decl = parse_decl(rest)
        elif kinds and kinds[-1] == "attr":
            kind = "attr"  # the arguments of an attribute, continued
        kinds.append(kind)
        if decl:
            keyword, mods, name = decl
            ctx = stack[-1]
            acc = access(mods)
            if keyword == "case" and ctx.kind != "enum":
                decl = None  # a `case` of a switch
            public = is_public(ctx, keyword, acc)
            if decl and keyword in TYPE_KEYWORDS:
                if keyword == "extension":
                    target = extension_target(rest[rest.find("extension"):], module)
                    exposed = extension_exposed(target, types)
                    pending = Context("extension", target, exposed, default_public=acc == "public")
                else:
                    tpath = (ctx.path + "." if ctx.path else "") + name.strip("`")
                    if report is None:
                        types[tpath] = public
                    pending = Context(keyword, tpath, public, default_public=keyword == "protocol" and public)
            elif decl:
                pending = Context("body", ctx.path, False)
            if decl and keyword not in ("extension", "deinit") and public and report is not None:
                j = idx - 1
                while j >= 0 and kinds[j] in ("attr", "comment"):
                    if kinds[j] == "comment" and not lines[j].strip().startswith("//"):
                        break
                    j -= 1
                documented = j >= 0 and kinds[j] == "doc"
                shown = orig.strip()
                brace = code.find("{")
                if brace >= 0:
                    shown = orig[:brace].strip()
                report(idx + 1, keyword, shown, documented)
            if decl and keyword in TYPE_KEYWORDS and "{" in code and report is not None:
                for member_keyword, member in one_line_members(code, pending):
                    report(idx + 1, member_keyword, member + " (on its type's line)", False)
        for ch in code:
            if ch in "([":
                depth += 1
            elif ch in ")]":
                depth = max(0, depth - 1)
            elif ch == "{":
                stack.append(pending or Context("body", stack[-1].path, False))
                pending = None
            elif ch == "}":
                if len(stack) > 1:
                    stack.pop()
                pending = None


def modules(root, only):
    src = os.path.join(root, "Sources")
    names = sorted(d for d in os.listdir(src) if os.path.isdir(os.path.join(src, d)))
    names = [d for d in names if d != "sippet" and not d.startswith("sippet-bench-")]
    if only:
        unknown = [m for m in only if m not in names]
        if unknown:
            print(f"check-doc-comments: no library module {', '.join(unknown)} (have: {', '.join(names)})",
                  file=sys.stderr)
            sys.exit(2)
        names = [d for d in names if d in only]
    return [(d, os.path.join(src, d)) for d in names]


def swift_files(folder):
    for base, dirs, files in os.walk(folder):
        dirs.sort()
        for f in sorted(files):
            if f.endswith(".swift"):
                yield os.path.join(base, f)


def main():
    parser = argparse.ArgumentParser(description="Lists public declarations without a doc comment.")
    parser.add_argument("--module", action="append", metavar="NAME", help="only this module (repeatable)")
    parser.add_argument("--no-cases", action="store_true", help="leave enum cases out of the list and exit status")
    parser.add_argument("--quiet", action="store_true", help="print the summary only")
    parser.add_argument("--root", default=ROOT, help="the package root (default: this script's parent)")
    args = parser.parse_args()
    failed = False
    summaries = []
    for module, folder in modules(args.root, args.module):
        files = list(swift_files(folder))
        types = {}
        for path in files:
            scan(path, module, types, None)
        counts = {"decl": [0, 0], "case": [0, 0]}  # [documented, total]
        for path in files:
            rel = os.path.relpath(path, args.root)

            def report(line, keyword, shown, documented, rel=rel):
                nonlocal failed
                group = "case" if keyword == "case" else "decl"
                counts[group][1] += 1
                if documented:
                    counts[group][0] += 1
                elif not (group == "case" and args.no_cases):
                    failed = True
                    if not args.quiet:
                        print(f"{rel}:{line}: {shown}")

            scan(path, module, types, report)

        def pct(d, t):
            return f"{d}/{t} ({100.0 * d / t:.1f}%)" if t else "0/0"

        summaries.append(
            f"{module}: {pct(*counts['decl'])} declarations documented; enum cases {pct(*counts['case'])}"
        )
    for s in summaries:
        print(s)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
