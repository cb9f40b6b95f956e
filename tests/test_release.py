"""exercises/ is nbgrader's release of solutions/, and is kept up to date."""
import nbformat
import pytest

from autograder import chapters, paths
from autograder.notebooks import is_solution, is_test
from autograder.release import release


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    out = tmp_path_factory.mktemp("release")
    release(out_dir=out)
    return out


def test_every_chapter_with_a_solution_is_released():
    assert chapters.slugs() == chapters.released()


@pytest.mark.parametrize("slug", chapters.slugs())
def test_committed_release_matches_a_fresh_one(fresh, slug):
    committed = paths.notebook(paths.exercises_dir(), slug).read_text()
    assert committed == paths.notebook(fresh, slug).read_text(), (
        f"exercises/{slug} is out of date: run `make release` (python -m autograder release) and commit it")


@pytest.mark.parametrize("slug", chapters.slugs())
def test_release_holds_no_solution_and_no_hidden_test(slug):
    nb = nbformat.read(paths.notebook(paths.exercises_dir(), slug), as_version=4)
    for cell in nb.cells:
        assert "BEGIN SOLUTION" not in cell.source and "HIDDEN TESTS" not in cell.source
        assert "reference(" not in cell.source or not is_test(cell)
        if is_solution(cell):
            assert "raise NotImplementedError()" in cell.source
    assert sum(is_test(c) for c in nb.cells) >= 5
