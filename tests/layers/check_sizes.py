#!/usr/bin/env python3
"""check_sizes: the size rules of issue 17 (README "Layout"), on the sources
outside tests/:
  - no source file (.c, .h) over MAX_FILE_LINES lines;
  - no function over MAX_FUNC_LINES lines, from its opening brace to its
    closing one, except the parsers' stage switches named in SWITCHES (a
    switch over a parser's stages reads best in one piece);
  - every header of the node (node/, api/, storage/, conf/) says in its
    first comment which thread may call it (the word "thread").
Usage: check_sizes.py [ROOT] (default: the repository of this script).
Exit 0 when clean, 1 with one line per problem on stderr.
"""

import os
import re
import sys

MAX_FILE_LINES = 800
MAX_FUNC_LINES = 80
SCAN_DIRS = ["node", "api", "storage", "conf", "tools"]
HEADER_DIRS = ["node", "api", "storage", "conf"]

# (file, function): a parser's stage switch, allowed over MAX_FUNC_LINES.
SWITCHES = {
    ("node/codec/flv.c", "flv_reader_feed"),
    ("node/codec/http_chunked.c", "http_chunked_decode"),
}

COMMENT_RE = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
STRING_RE = re.compile(r'"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'')


def blank(m):
    """Keeps the newlines of a comment or literal, so line numbers stay."""
    return re.sub(r"[^\n]", " ", m.group(0))


def functions(src):
    """(name, first line, line count) of every function definition: a block
    at file level whose opening brace follows a ')'."""
    code = STRING_RE.sub(blank, COMMENT_RE.sub(blank, src))
    code = re.sub(r"^[ \t]*#[^\n]*(?:\\\n[^\n]*)*", blank, code, flags=re.M)
    out, depth, start = [], 0, None
    for i, ch in enumerate(code):
        if ch == "{":
            if depth == 0:
                head = code[:i].rstrip()
                start = None
                if head.endswith(")"):
                    # the name before the parameter list's '('
                    level, j = 0, len(head) - 1
                    while j >= 0:
                        if head[j] == ")":
                            level += 1
                        elif head[j] == "(":
                            level -= 1
                            if level == 0:
                                break
                        j -= 1
                    m = re.search(r"([A-Za-z_]\w*)\s*$", head[:j])
                    if m:
                        start = (m.group(1), code.count("\n", 0, i) + 1)
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0 and start:
                end = code.count("\n", 0, i) + 1
                out.append((start[0], start[1], end - start[1] + 1))
                start = None
    return out


def first_comment(src):
    m = re.match(r"\s*/\*(.*?)\*/", src, re.S)
    return m.group(1) if m else ""


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    problems, nfiles, nfuncs, used = [], 0, 0, set()
    for d in SCAN_DIRS:
        for dp, _, fs in os.walk(os.path.join(root, d)):
            for f in sorted(fs):
                if not f.endswith((".c", ".h")):
                    continue
                path = os.path.join(dp, f)
                rel = os.path.relpath(path, root)
                with open(path, encoding="utf-8", errors="replace") as fh:
                    src = fh.read()
                nfiles += 1
                lines = src.count("\n")
                if lines > MAX_FILE_LINES:
                    problems.append("%s: %d lines (at most %d)" % (rel, lines, MAX_FILE_LINES))
                if f.endswith(".h") and rel.split(os.sep)[0] in HEADER_DIRS and \
                        "thread" not in first_comment(src).lower():
                    problems.append("%s: the first comment does not say which thread may call it" % rel)
                for name, line, n in functions(src):
                    nfuncs += 1
                    if n <= MAX_FUNC_LINES:
                        continue
                    if (rel, name) in SWITCHES:
                        used.add((rel, name))
                        continue
                    problems.append("%s:%d: %s() is %d lines (at most %d)" %
                                    (rel, line, name, n, MAX_FUNC_LINES))
    for rel, name in sorted(SWITCHES - used):
        problems.append("SWITCHES: %s: %s() is not over %d lines any more (or gone): remove it" %
                        (rel, name, MAX_FUNC_LINES))
    for p in problems:
        print("check_sizes: " + p, file=sys.stderr)
    if problems:
        print("check_sizes: %d problem(s)" % len(problems), file=sys.stderr)
        return 1
    print("check_sizes: %d files, %d functions: ok" % (nfiles, nfuncs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
