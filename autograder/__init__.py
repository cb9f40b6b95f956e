"""The course's autograder: checks used by test cells, the reference solutions, and the
instructor's command line (``python -m autograder``)."""
from autograder.reference_solutions import reference

__all__ = ["reference"]
