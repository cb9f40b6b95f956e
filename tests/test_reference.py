import numpy as np
import pytest

from autograder import reference
from autograder.notebooks import strip_solution_markers


def test_reference_runs_the_solution_notebook():
    sigmoid = reference("01-neuron", "sigmoid")
    assert np.allclose(sigmoid(np.array([0.0, -1000.0])), [0.5, 0.0])


def test_reference_functions_share_their_notebook_namespace():
    # tanh is written with the reference's own sigmoid
    assert np.isclose(reference("01-neuron", "tanh")(np.array([0.3])), np.tanh(0.3)).all()


def test_missing_names_and_chapters_are_clear_errors():
    with pytest.raises(KeyError, match="defines no 'nonexistent'"):
        reference("01-neuron", "nonexistent")
    with pytest.raises(FileNotFoundError, match="no source notebook for '99-nope'"):
        reference("99-nope", "f")


def test_strip_solution_markers_keeps_the_code():
    src = "def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION"
    assert strip_solution_markers(src) == "def f(x):\n    return x"
