"""The feedback page a student gets back: score, every part, why a part failed, and their own code.

The page is one self-contained HTML file (inline CSS, no scripts, nothing fetched), so it opens
anywhere, offline. It is built only from the result's plain data, the part titles and the
student's own cells. Messages still pass through ``_scrub``, because a message can carry a
traceback, a quoted test cell or a path from the grading machine by accident.
"""
import functools
import html
import re

from autograder import chapters
from autograder.notebooks import grade_id, is_solution, strip_solution_markers
from autograder.outcomes import Result, Status

CSS = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       line-height: 1.45; color: #222; }
.score { font-size: 1.4rem; font-weight: bold; }
.status { background: #fff4e5; border-left: 4px solid #e68a00; padding: .5rem .8rem; }
.nosandbox { color: #555; font-style: italic; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #ddd; padding: .4rem .5rem; text-align: left; vertical-align: top; }
td.points { white-space: nowrap; }
tr.lost td.points { color: #b00020; font-weight: bold; }
.why, pre { white-space: pre-wrap; overflow-wrap: anywhere; }
.why { font-family: ui-monospace, monospace; font-size: .9rem; margin-top: .3rem; }
pre { background: #f6f8fa; border: 1px solid #ddd; padding: .6rem; font-size: .9rem; }
"""

NOT_RUN = "not run: no result was recorded for this part (grading stopped before its test, or the test cell is missing)"

# Absolute paths (two or more segments, or under a well-known root), home-relative paths,
# Windows paths and anything inside an installed package: none of them is the student's business.
_PATH = re.compile(
    r"""(?:[A-Za-z]:\\[^\s'"<>]*)"""
    r"""|(?:\S*site-packages\S*)"""
    r"""|(?:~/[^\s'"<>,;:()\[\]{}]*)"""
    r"""|(?:(?<![\w.~])/(?:home|work|tmp|root|usr|opt|var|srv|mnt|etc|run|proc|private|Users)\b[^\s'"<>,;:()\[\]{}]*)"""
    r"""|(?:(?<![\w.~/])(?:/[^\s/'"<>,;:()\[\]{}]+){2,}/?)""")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# Lines of a traceback's frames, in Python's and in IPython's layout (they show test source).
_FRAME = re.compile(r"^(?:\s|File |Cell In\[|Input In \[|<ipython-input|-{3,})")


@functools.lru_cache(maxsize=None)
def _hidden_lines(slug):
    """Every line of the chapter's hidden tests, stripped: a message quoting one loses that line
    (nbconvert's CellExecutionError, for one, quotes the whole failing cell)."""
    try:
        cells = chapters.test_cells(slug).values()
    except FileNotFoundError:  # no source notebook here: the other defences still apply
        return frozenset()
    lines, hidden = set(), False
    for line in "\n".join(cells).splitlines():
        if "BEGIN HIDDEN TESTS" in line:
            hidden = True
        if hidden and line.strip():
            lines.add(line.strip())
        if "END HIDDEN TESTS" in line:
            hidden = False
    return frozenset(lines)


def _scrub(text, hidden=frozenset()):
    """``text`` without tracebacks' frames (they quote test code), lines of ``hidden`` test code,
    colour codes and file paths."""
    kept, in_traceback = [], False
    for line in _ANSI.sub("", str(text or "")).splitlines():
        if line.strip() in hidden or "HIDDEN TESTS" in line:
            continue
        if "Traceback (most recent call last)" in line:
            in_traceback = True
            continue
        if in_traceback and (not line.strip() or _FRAME.match(line)):
            continue
        in_traceback = False
        kept.append(line)
    return _PATH.sub("<path>", "\n".join(kept)).strip()


def _e(text):
    return html.escape(str(text), quote=True)


def _points(value):
    return f"{float(value):g}"


def student_cells(slug, nb):
    """``[(title, source)]`` of the student's solution cells in a submitted notebook, each titled by
    the last heading of the latest markdown cell above it (the rule ``chapters.parts`` uses)."""
    known = {grade_id(c) for c in chapters.source(slug).cells if is_solution(c)}
    found, heading = [], ""
    for cell in nb.cells:
        if cell.get("cell_type") == "markdown":
            titles = re.findall(r"^#+\s+(.+)$", cell.get("source", ""), flags=re.M)
            heading = titles[-1].strip() if titles else heading
        elif is_solution(cell) and grade_id(cell) in known:  # a stray copied cell is not an answer
            found.append((heading or grade_id(cell), strip_solution_markers(cell.get("source", ""))))
    return found


def _part_row(part, result, hidden):
    given = float(result.parts.get(part.test, 0.0) or 0.0)
    lost = given < part.points
    why = ""
    if lost:
        message = _scrub(result.messages.get(part.test, ""), hidden)
        why = f'<div class="why">{_e(message or NOT_RUN)}</div>'
    return (f'<tr class="{"lost" if lost else "full"}"><td>{_e(part.title)}{why}</td>'
            f'<td class="points">{_points(given)} / {_points(part.points)}</td></tr>')


def render(slug, result, parts, student_code):
    """The feedback page for one graded notebook, as a string of HTML.

    ``parts``: the chapter's ``chapters.Part`` list; ``student_code``: ``[(title, source)]`` of the
    student's own cells (see ``student_cells``)."""
    if isinstance(result, dict):
        result = Result.from_dict(result)
    hidden = _hidden_lines(slug)
    head = [f"<h1>{_e(slug)}</h1>",
            f"<p>Student: {_e(result.student_id)}</p>",
            f'<p class="score">Score: {_points(result.score)}/{_points(result.max_score)}</p>']
    if result.status != Status.GRADED.value:
        status = f"{result.status}: {_scrub(result.message, hidden)}" if result.message else result.status
        head.append(f'<p class="status">{_e(status)}</p>')
    if not result.sandboxed:
        head.append('<p class="nosandbox">This notebook was graded without the sandbox.</p>')
    rows = "\n".join(_part_row(p, result, hidden) for p in parts)
    table = ("<h2>Parts</h2>\n<table><thead><tr><th>Part</th><th>Points</th></tr></thead>\n"
             f"<tbody>\n{rows}\n</tbody></table>")
    code = "\n".join(f"<h3>{_e(title)}</h3>\n<pre>{_e(source)}</pre>" for title, source in student_code)
    code = f"<h2>Your code</h2>\n{code or '<p>No answer cells were found in the notebook.</p>'}"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{_e(slug)}: feedback for {_e(result.student_id)}</title>"
            f"<style>{CSS}</style></head>\n<body>\n" + "\n".join(head) + f"\n{table}\n{code}\n</body></html>\n")
