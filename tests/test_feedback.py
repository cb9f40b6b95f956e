"""The feedback page: every part by its title, why it failed, the student's own code, and nothing
from the grading side (hidden tests, tracebacks, paths)."""
import html

import pytest

from autograder import chapters, feedback, submissions
from autograder.outcomes import Result

SLUG = "01-neuron"
HIDDEN = chapters.test_cells(SLUG)["test_relu"]
HIDDEN_LINE = next(line for line in HIDDEN.splitlines() if "reference(" in line)
LONG = "relu(x) differs from the expected values at index 3: " + "got 0.25 <b>&</b>, expected 0.5; " * 60


def _result(**fields):
    parts = chapters.parts(SLUG)
    given = {p.test: p.points for p in parts}
    given.update({"test_relu": 0.0, "test_softmax": 1.0})
    base = dict(student_id="alice", assignment=SLUG, score=sum(given.values()),
                max_score=sum(p.points for p in parts), parts=given,
                messages={"test_relu": LONG, "test_softmax": "softmax overflows for logits near 1000"})
    base.update(fields)
    return Result(**base)


def _page(result=None, code=()):
    return feedback.render(SLUG, result or _result(), chapters.parts(SLUG), list(code))


def test_opens_with_slug_and_score():
    page = _page()
    result = _result()
    assert f"<h1>{SLUG}</h1>" in page
    assert f"{result.score:g}/{result.max_score:g}" in page
    assert "without the sandbox" not in page
    assert 'class="status"' not in page  # graded: no status line


def test_failed_part_shows_title_points_and_whole_escaped_message():
    page = _page()
    for part in chapters.parts(SLUG):
        assert html.escape(part.title) in page  # titles, never grade ids
        assert f">{part.test}<" not in page
    assert "0 / 2</td>" in page and "1 / 4</td>" in page
    assert html.escape(LONG.strip()) in page  # never cut off
    assert "<b>&</b>" not in page
    assert "white-space: pre-wrap" in page and "overflow-wrap: anywhere" in page
    assert '<div class="why">' + html.escape("softmax overflows") in page


def test_part_without_message_that_lost_points_says_not_run():
    result = _result(messages={})
    result.parts["test_tanh"] = 0.0
    page = _page(result)
    assert page.count("not run") == 3  # relu, softmax, tanh
    assert _page(_result()).count("not run") == 0


def test_non_graded_status_and_no_sandbox_are_said():
    result = _result(status="timeout", message="a cell ran past the cell time limit (60 s) and was interrupted",
                     sandboxed=False)
    page = _page(result)
    assert "timeout: a cell ran past the cell time limit (60 s) and was interrupted" in page
    assert "graded without the sandbox" in page


def test_hidden_tests_tracebacks_and_paths_never_appear():
    python_tb = ("Traceback (most recent call last):\n"
                 '  File "/work/main/autograder/sandboxed/run.py", line 12, in <module>\n'
                 f"    {HIDDEN_LINE.strip()}\n"
                 "    ^^^^^^^^^^^^^^^^^^^^^^\n"
                 '  File "/home/grader/.venv/lib/python3.11/site-packages/autograder/checks.py", line 80\n'
                 "    raise AssertionError(message)\n"
                 "AssertionError: relu(x) is wrong for x of shape (3, 4)\n")
    ipython_tb = ("\x1b[0;31m-------------------------------------------------------\x1b[0m\n"
                  "AssertionError      Traceback (most recent call last)\n"
                  "Cell In[7], line 9\n"
                  "      8 r = checks.rng(101)\n"
                  f"----> 9 {HIDDEN_LINE.strip()}\n"
                  "\n"
                  "File /tmp/tmpab12/checks.py:80, in compare(f, g, cases)\n"
                  "AssertionError: softmax is wrong\n")
    nbconvert = ("An error occurred while executing the following cell:\n------------------\n"
                 f"{HIDDEN}\n------------------\n\n{python_tb}")
    result = _result(status="error", message=f"grading stopped; last output: {nbconvert}",
                     messages={"test_relu": python_tb, "test_softmax": ipython_tb,
                               "test_tanh": "could not read /root/x.npy nor C:\\Users\\me\\y.npy"})
    result.parts["test_tanh"] = 0.0
    page = _page(result)
    assert "BEGIN HIDDEN TESTS" in HIDDEN and "reference(" in HIDDEN_LINE
    assert "BEGIN HIDDEN TESTS" not in page and "reference(" not in page
    hidden = HIDDEN[HIDDEN.index("### BEGIN HIDDEN TESTS"):]
    for line in [line.strip() for line in hidden.splitlines() if line.strip()]:
        assert html.escape(line) not in page
    for line in [line for line in python_tb.splitlines() if line.startswith("  ")]:
        assert html.escape(line.strip()) not in page
    assert "Traceback" not in page and "Cell In[" not in page
    assert "AssertionError: relu(x) is wrong for x of shape (3, 4)" in page
    assert "AssertionError: softmax is wrong" in page
    for leak in ("/work/", "/home/", "/tmp/", "/root/", "site-packages", "C:\\Users", "\x1b"):
        assert leak not in page
    assert "could not read &lt;path&gt; nor &lt;path&gt;" in page


def test_hidden_test_source_never_appears_in_a_normal_page():
    sub = submissions.complete(SLUG)
    page = _page(code=feedback.student_cells(SLUG, sub))
    assert "BEGIN HIDDEN TESTS" not in page
    assert "reference(" not in page
    assert html.escape(HIDDEN_LINE.strip()) not in page


@pytest.mark.parametrize("text, scrubbed", [
    ("see /home/alice/work/x.py:12", "see <path>:12"),
    ("in '/work/main/solutions/01-neuron/01-neuron.ipynb'", "in '<path>'"),
    ("/tmp/a", "<path>"),
    ("lib/python3.11/site-packages/numpy/core.py", "<path>"),
    ("from /opt/conda/lib/x.py", "from <path>"),
    ("~/notes/x.txt", "<path>"),
    ("sigma(x) = 1/(1+exp(-x)), 3/4 of the entries, shape (n, d)/2", None),
    ("see https://numpy.org/doc/stable", None),
])
def test_scrub(text, scrubbed):
    assert feedback._scrub(text) == (text if scrubbed is None else scrubbed)


def test_student_code_appears_under_its_title_escaped():
    relu = "def relu(x):\n    # mine\n    return np.where(x < 0, 0.0, x)"
    sub = submissions.make_submission(SLUG, {"relu": relu, "sigmoid": submissions.REFERENCE})
    cells = feedback.student_cells(SLUG, sub)
    titles = [title for title, _ in cells]
    assert titles[:2] == ["Part 1: ReLU (2 points)", "Part 2: a sigmoid that never overflows (3 points)"]
    assert len(cells) == len(chapters.solution_cells(SLUG))
    assert cells[0][1] == relu
    page = _page(code=cells)
    assert "<h3>Part 1: ReLU (2 points)</h3>\n<pre>" + html.escape(relu) + "</pre>" in page
    assert "x &lt; 0" in page
    assert "raise NotImplementedError()" in page  # an unanswered part is shown as it was handed in


def test_page_is_self_contained():
    page = _page(_result(status="timeout", message="x"), code=[("t", "<script>alert(1)</script>")])
    lowered = page.lower()
    assert lowered.startswith("<!doctype html>") and "<style>" in lowered
    for external in ("<script", "<link", "src=", "http://", "https://", "@import", "url("):
        assert external not in lowered
