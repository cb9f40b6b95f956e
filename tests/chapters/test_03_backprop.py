"""Chapter 3 (03-backprop): see suite.py for what each check means."""
import pytest

import suite
from autograder.mistakes import mistakes_for

SLUG = "03-backprop"


def test_size():
    suite.check_size(SLUG)


@pytest.mark.slow
def test_book_page_executes_in_a_kernel():
    suite.check_page_executes(SLUG)


def test_reference_solution_passes_every_test():
    suite.check_reference_passes(SLUG)


def test_released_notebook_fails_every_test_with_not_implemented():
    suite.check_release_fails(SLUG)


def test_every_part_has_a_known_mistake():
    suite.check_every_part_has_a_mistake(SLUG)


@pytest.mark.parametrize("mistake", mistakes_for(SLUG), ids=lambda m: f"{m.part}: {m.what}")
def test_mistake_loses_exactly_its_part_with_the_intended_message(mistake):
    suite.check_mistake(SLUG, mistake)


@pytest.mark.slow
def test_demo_class_grades_end_to_end_to_the_expected_scores(tmp_path):
    suite.check_demo_class(SLUG, tmp_path)
