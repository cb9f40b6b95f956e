"""``demo``: a small generated class per released chapter, graded end to end, so an instructor
sees the whole flow (release -> submissions -> grade -> feedback -> report) in one command."""
from pathlib import Path

from autograder import chapters, submissions
from autograder.mistakes import mistakes_for


def demo_class(slug):
    """``{student_id: notebook}``: complete, blank, half done, and two with realistic mistakes."""
    answers = submissions.reference_answers(slug)
    parts = list(answers)
    mistakes = mistakes_for(slug)
    first_half = {p: submissions.REFERENCE for p in parts[: len(parts) // 2]}
    return {
        "ada-complete": submissions.complete(slug),
        "ben-blank": submissions.make_submission(slug),
        "cy-half-done": submissions.make_submission(slug, first_half),
        "dee-two-mistakes": submissions.with_mistakes(slug, mistakes[0:1] + mistakes[-1:]),
        "eli-three-mistakes": submissions.with_mistakes(slug, mistakes[2::5][:3]),
    }


def write_demo_class(slug, folder):
    for student, nb in demo_class(slug).items():
        submissions.write(nb, Path(folder) / student / f"{slug}.ipynb")
    return Path(folder)


def slugs():
    return chapters.released()
