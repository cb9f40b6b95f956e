"""Chapter 4 (04-cnn): wrong answers students really write."""
from autograder.mistakes import Mistake

MISTAKES = []
