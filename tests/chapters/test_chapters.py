"""Every released chapter, one parametrised suite (see suite.py for what each check means): a new
chapter needs no test file of its own, only its notebooks and its known mistakes. A chapter with
checks of its own keeps a small file beside this one.

The reference and the known mistakes run as the autograder would run them, with
DLCOURSE_DEVICE=cpu and, on a machine with a GPU, again with cuda, under the same tolerance table
(autograder/checks.py). Each page executes once per run, in the offline book build
(tests/test_book.py), not again here."""
import pytest
import torch

import suite
from autograder import chapters
from autograder.mistakes import alternatives_for, mistakes_for

SLUGS = chapters.released()
MISTAKES = [pytest.param(slug, m, id=f"{slug} {m.part}: {m.what}") for slug in SLUGS for m in mistakes_for(slug)]
ALTERNATIVES = [pytest.param(slug, a, id=f"{slug} {a.part}: {a.what}") for slug in SLUGS
                for a in alternatives_for(slug)]
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                                 reason="needs a GPU"))]


@pytest.fixture(params=DEVICES)
def grading_device(request, monkeypatch):
    """Run the notebook's cells as the autograder would on this device."""
    monkeypatch.setenv("DLCOURSE_DEVICE", request.param)
    return request.param


@pytest.mark.parametrize("slug", SLUGS)
def test_size(slug):
    suite.check_size(slug)


@pytest.mark.parametrize("slug", SLUGS)
def test_reference_solution_passes_every_test(slug, grading_device):
    suite.check_reference_passes(slug)


@pytest.mark.parametrize("slug", SLUGS)
def test_released_notebook_fails_every_test_with_not_implemented(slug):
    suite.check_release_fails(slug)


@pytest.mark.parametrize("slug", SLUGS)
def test_every_part_has_a_known_mistake(slug):
    suite.check_every_part_has_a_mistake(slug)


@pytest.mark.parametrize("slug, mistake", MISTAKES)
def test_mistake_loses_exactly_its_part_with_the_intended_message(slug, mistake, grading_device):
    suite.check_mistake(slug, mistake)


@pytest.mark.parametrize("slug, alternative", ALTERNATIVES)
def test_other_correct_answer_gets_full_marks(slug, alternative, grading_device):
    suite.check_alternative(slug, alternative)


@pytest.mark.slow
@pytest.mark.parametrize("slug", SLUGS)
def test_complete_and_blank_notebooks_grade_end_to_end(slug, tmp_path):
    suite.check_complete_and_blank(slug, tmp_path)


# Grading a mixed class end to end costs a minute or more per chapter: once, on the smallest
# chapter, is enough to check half-done notebooks, mistakes and their feedback pages; every
# chapter's own cells already meet the sandbox in the test above.
MIXED_CLASS_CHAPTER = "01-neuron"


@pytest.mark.slow
def test_demo_class_grades_end_to_end_to_the_expected_scores(tmp_path):
    suite.check_demo_class(MIXED_CLASS_CHAPTER, tmp_path)
