"""nbgrader's configuration for this course, in one place.

The course's folders map onto nbgrader's: ``solutions/`` is nbgrader's *source* directory and
``exercises/`` its *release* directory; the assignment id is the chapter's slug.
"""
import os
import sys

from traitlets.config import Config

COURSE_ID = "dlcourse"
CELL_TIMEOUT_S = 120       # per cell, when grading
MAX_OUTPUT_LINES = 200     # per cell output kept in the graded notebook and the feedback
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"


def put_scripts_on_path():
    """nbgrader runs the ``alembic`` command for its gradebook: make the interpreter's own
    scripts folder (the venv's bin/) findable even when the venv is not activated."""
    bindir = os.path.dirname(sys.executable)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


def nbgrader_config(root, db_path, cell_timeout=CELL_TIMEOUT_S):
    """A traitlets Config for nbgrader, with ``root`` as the course directory."""
    put_scripts_on_path()
    c = Config()
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.course_id = COURSE_ID
    c.CourseDirectory.source_directory = "solutions"
    c.CourseDirectory.release_directory = "exercises"
    c.CourseDirectory.db_url = f"sqlite:///{db_path}"
    c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", ".*"]
    c.ClearSolutions.code_stub = {"python": CODE_STUB}
    c.Execute.timeout = cell_timeout
    c.Execute.interrupt_on_timeout = True
    c.LimitOutput.max_lines = MAX_OUTPUT_LINES
    c.LimitOutput.max_traceback = 50
    return c
