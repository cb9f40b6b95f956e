"""Realistic wrong answers, per chapter: each replaces one solution cell and must lose exactly
that part's points with the intended message. The tests prove it; the demo class uses them.
And correct answers written otherwise than the reference, which must get full marks."""
from dataclasses import dataclass


@dataclass(frozen=True)
class Mistake:
    part: str      # grade_id of the solution cell it replaces
    test: str      # grade_id of the test cell that must fail
    what: str      # the mistake, in a few words
    code: str      # the student's whole solution cell
    message: str   # text the failing test's message must contain


@dataclass(frozen=True)
class Alternative:
    """A correct answer written otherwise than the reference: it must pass every test."""
    part: str      # grade_id of the solution cell it replaces
    what: str      # how it differs, in a few words
    code: str      # the student's whole solution cell


def alternatives_for(slug):
    from autograder.mistakes import cnn, diffusion, limits, llm, rnn, transformers

    return {"04-cnn": cnn.ALTERNATIVES, "05-rnn": rnn.ALTERNATIVES,
            "06-transformers": transformers.ALTERNATIVES, "07-llm": llm.ALTERNATIVES,
            "08-diffusion": diffusion.ALTERNATIVES, "09-limits": limits.ALTERNATIVES}.get(slug, [])


def mistakes_for(slug):
    from autograder.mistakes import backprop, cnn, diffusion, layers, limits, llm, neuron, rnn, transformers

    return {"01-neuron": neuron.MISTAKES, "02-layers": layers.MISTAKES,
            "03-backprop": backprop.MISTAKES, "04-cnn": cnn.MISTAKES,
            "05-rnn": rnn.MISTAKES, "06-transformers": transformers.MISTAKES,
            "07-llm": llm.MISTAKES, "08-diffusion": diffusion.MISTAKES, "09-limits": limits.MISTAKES}.get(slug, [])
