"""Attack notebooks for the autograder (see ``corpus``)."""
