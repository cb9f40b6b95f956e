"""Answers that look copied, for the instructor to read: reported, never scored.

Each student's answer cell is compared with the reference solution's and with every other
student's same cell, after ``normalise`` has taken away what a copy changes cheaply (comments,
docstrings, layout, names). Short answers are left out: a one-liner such as
``return np.maximum(x, 0)`` is what everyone writes, and flagging it would bury the real cases.
"""
import ast
import builtins
import csv
import difflib
import io
import keyword
import tokenize
from dataclasses import dataclass
from pathlib import Path

from autograder import chapters
from autograder.notebooks import grade_id, is_solution, strip_solution_markers

THRESHOLD = 0.9     # SequenceMatcher ratio from which a pair is reported
MIN_TOKENS = 25     # an answer shorter than this (its own code, signature excluded) is never reported
REFERENCE = "reference"
STUB = "raise NotImplementedError"

_KEEP = set(dir(builtins)) | set(keyword.kwlist)
# Structure kept as tokens so that moving a line in or out of a block still counts as a change.
_NEWLINE, _INDENT, _DEDENT = "\n", "<indent>", "<dedent>"
_MARKERS = (_NEWLINE, _INDENT, _DEDENT)


@dataclass(frozen=True)
class Match:
    part: str           # grade_id of the solution cell
    a: str              # student id
    b: str              # student id, or "reference"
    similarity: float   # 0..1


def _names(source):
    """``(bound, keywords)``: the names the cell itself binds (functions, parameters, variables,
    imports), None when the cell does not parse, and where a call's keyword argument is named.
    Names the cell only reads (``np``, another cell's ``sigmoid``) are shared by the whole class
    and cannot be renamed in this cell alone, and ``axis=`` in a call is the callee's name, not
    the student's: both are kept as written."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None, set()
    bound, keywords = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg:
            keywords.add((node.lineno, node.col_offset))
        elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.alias):
            bound.add(node.asname or node.name.split(".")[0])
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            bound.update(node.names)
        elif isinstance(getattr(node, "name", None), str):  # def, class, except ... as, match ... as
            bound.add(node.name)
    return bound, keywords


def _tokens(source):
    """The cell's normalised tokens (see ``normalise``), structure markers included."""
    try:
        raw = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):
        return source.split()  # not Python: compare the words as they are
    (bound, keywords), names, out, line = _names(source), {}, [], []
    previous = None
    for tok in raw:
        kind, text = tok.type, tok.string
        if kind in (tokenize.COMMENT, tokenize.NL, tokenize.ENCODING, tokenize.ENDMARKER):
            continue
        if kind in (tokenize.INDENT, tokenize.DEDENT):
            out.append(_INDENT if kind == tokenize.INDENT else _DEDENT)
            continue
        if kind == tokenize.NEWLINE:
            # A line of nothing but string literals is a docstring or a comment in disguise.
            if line and not all(k == tokenize.STRING for k, _ in line):
                out.extend(t for _, t in line)
                out.append(_NEWLINE)
            line, previous = [], None
            continue
        if (kind == tokenize.NAME and text not in _KEEP and previous != "." and tok.start not in keywords
                and (bound is None or text in bound)):
            text = names.setdefault(text, f"v{len(names)}")
        line.append((kind, text))
        previous = tok.string
    if line and not all(k == tokenize.STRING for k, _ in line):
        out.extend(t for _, t in line)
    return out


def normalise(source):
    """A solution cell's code with comments, docstrings, blank lines and layout removed, and the
    names the cell binds (its function, parameters, variables) renamed v0, v1, ... in order of
    first appearance. Builtins, keywords, attributes after a dot and names the cell only reads
    (``np.maximum``, ``sigmoid`` from another cell) stay as written. One logical line per line,
    indented four spaces a block. Code that does not tokenise comes back with its whitespace
    collapsed."""
    lines, depth, current = [], 0, []
    for tok in _tokens(source):
        if tok == _INDENT:
            depth += 1
        elif tok == _DEDENT:
            depth = max(0, depth - 1)
        elif tok == _NEWLINE:
            lines.append("    " * depth + " ".join(current))
            current = []
        else:
            current.append(tok)
    if current:
        lines.append("    " * depth + " ".join(current))
    return "\n".join(lines)


def _answer(tokens):
    """The tokens a student wrote: without the ``def ...:`` line the stub already gave them."""
    if tokens[:1] == ["def"] and _NEWLINE in tokens:
        return tokens[tokens.index(_NEWLINE) + 1:]
    return tokens


def _comparable(source):
    """The answer's tokens, or None for a stub left unanswered or an answer too short to tell."""
    if STUB in source:
        return None
    tokens = _answer(_tokens(source))
    return tokens if sum(t not in _MARKERS for t in tokens) >= MIN_TOKENS else None


def _similarity(a, b):
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    # The cheap upper bounds rule most pairs out before the full comparison.
    if matcher.real_quick_ratio() < THRESHOLD or matcher.quick_ratio() < THRESHOLD:
        return 0.0
    return matcher.ratio()


def _answers(nb):
    return {grade_id(c): strip_solution_markers(c.source) for c in nb.cells if is_solution(c) and grade_id(c)}


def report(slug, notebooks, reference_cells=None):
    """Pairs of answers at least ``THRESHOLD`` alike: ``[Match]``, by part in notebook order,
    most alike first. ``notebooks``: ``{student_id: NotebookNode}``; ``reference_cells``:
    ``{solution grade_id: code}``, by default the chapter's reference solution."""
    if reference_cells is None:
        reference_cells = _answers(chapters.source(slug))
    students = {sid: _answers(nb) for sid, nb in sorted(notebooks.items())}
    order = {part: i for i, part in enumerate(reference_cells)}
    parts = sorted({p for answers in students.values() for p in answers} | set(reference_cells),
                   key=lambda p: (order.get(p, len(order)), p))
    matches = []
    for part in parts:
        entries = [(sid, _comparable(answers[part])) for sid, answers in students.items() if part in answers]
        entries = [(sid, tokens) for sid, tokens in entries if tokens is not None]
        reference = _comparable(reference_cells[part]) if part in reference_cells else None
        for i, (a, tokens) in enumerate(entries):
            others = entries[i + 1:] + ([(REFERENCE, reference)] if reference is not None else [])
            for b, other in others:
                score = _similarity(tokens, other)
                if score >= THRESHOLD:
                    matches.append(Match(part, a, b, round(score, 4)))
    return sorted(matches, key=lambda m: (order.get(m.part, len(order)), m.part, -m.similarity, m.a, m.b))


def write(matches, out_dir):
    """``out_dir/similarity.csv``: one row per match, and its header even when nothing matched."""
    path = Path(out_dir) / "similarity.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["part", "student_a", "student_b", "similarity"])
        for m in matches:
            writer.writerow([m.part, m.a, m.b, f"{m.similarity:.3f}"])
    return path
