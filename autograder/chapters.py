"""The chapters, their source notebooks and their graded parts: read from solutions/ once, here.

Everything else asks this module: which chapters exist and are released, the source notebook of
a chapter, its setup and test cells, and each part's name and points."""
import functools
import re
from dataclasses import dataclass

import nbformat

from autograder import paths
from autograder.notebooks import grade_id, is_setup, is_solution, is_test, nbgrader_meta


@dataclass(frozen=True)
class Part:
    test: str       # grade_id of the test cell that scores it
    points: float
    title: str      # the heading the student sees above it, e.g. "Part 1: ReLU (2 points)"


def slugs():
    """Every chapter with a source notebook in solutions/, in order."""
    return sorted(p.parent.name for p in paths.solutions_dir().glob("*/*.ipynb") if p.stem == p.parent.name)


def released():
    """The chapters that have a released notebook in exercises/, in order."""
    return sorted(p.parent.name for p in paths.exercises_dir().glob("*/*.ipynb") if p.stem == p.parent.name)


@functools.lru_cache(maxsize=None)
def source(slug):
    """The chapter's source notebook (solutions and every test, hidden parts included)."""
    path = paths.notebook(paths.solutions_dir(), slug)
    if not path.exists():
        raise FileNotFoundError(f"no source notebook for {slug!r}: {path} is missing")
    return nbformat.read(path, as_version=4)


def setup_cells(slug):
    return [c.source for c in source(slug).cells if c.cell_type == "code" and is_setup(c)]


def solution_cells(slug):
    return [c.source for c in source(slug).cells if is_solution(c)]


def test_cells(slug):
    """``{grade_id: source}`` of the test cells, in notebook order."""
    return {grade_id(c): c.source for c in source(slug).cells if is_test(c)}


def parts(slug):
    """The graded parts, in notebook order, each titled by the last heading above its test cell."""
    found, heading = [], ""
    for cell in source(slug).cells:
        if cell.cell_type == "markdown":
            titles = re.findall(r"^#+\s+(.+)$", cell.source, flags=re.M)
            heading = titles[-1].strip() if titles else heading
        elif is_test(cell):
            found.append(Part(grade_id(cell), float(nbgrader_meta(cell).get("points", 0)), heading or grade_id(cell)))
    return found


def points(slug):
    """``{test grade_id: points}``."""
    return {p.test: p.points for p in parts(slug)}
