"""Where the course's folders are. ``DLCOURSE_ROOT`` overrides the repository root."""
import os
from pathlib import Path


def course_root():
    return Path(os.environ.get("DLCOURSE_ROOT") or Path(__file__).resolve().parents[1])


def solutions_dir():
    return course_root() / "solutions"


def exercises_dir():
    return course_root() / "exercises"


def notebook(folder, slug):
    """``<folder>/<slug>/<slug>.ipynb``: one notebook per chapter, named by its slug."""
    return Path(folder) / slug / f"{slug}.ipynb"

