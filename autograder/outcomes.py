"""What grading one student produced, as plain data, and the grades file: one home for both.

A ``Result`` is plain data (it travels between processes as a dict); ``Status`` orders what can
go wrong, most serious first, so the status a student sees is the worst thing that happened,
not the first in alphabetical order. grades.csv and failures.csv (why each part was failed, for
the course-wide report) are written and read here and nowhere else.
"""
import csv
import enum
from dataclasses import asdict, dataclass, field


class Status(enum.Enum):
    """Outcomes of grading one notebook, most serious first (the order is the precedence)."""
    ERROR = "error"                         # the grader itself failed on this submission
    MISSING = "missing"                     # no notebook in the student's folder
    INVALID = "invalid-notebook"            # not JSON, or not a notebook
    TIME_LIMIT = "time-limit"               # the whole notebook ran past its time limit
    MEMORY_LIMIT = "memory-limit"           # the sandbox ran out of its memory
    KERNEL_DIED = "kernel-died"             # the student's code ended its own kernel
    TIMEOUT = "timeout"                     # a cell ran past the cell time limit and was interrupted
    CELLS_DELETED = "cells-deleted"         # test cells missing from the submission
    GRADED = "graded"

    @staticmethod
    def worst(statuses):
        order = list(Status)
        return min(statuses, key=order.index, default=Status.GRADED)


@dataclass
class Problem:
    status: Status
    message: str


@dataclass
class Result:
    student_id: str
    assignment: str
    status: str = Status.GRADED.value
    score: float = 0.0
    max_score: float = 0.0
    parts: dict = field(default_factory=dict)     # test cell grade_id -> points given
    message: str = ""                             # what happened, in the student's terms
    messages: dict = field(default_factory=dict)  # test cell grade_id -> why it failed
    seconds: float = 0.0
    sandboxed: bool = True                        # False: graded with --no-sandbox

    def record(self, problems):
        """Set status and message from the problems met (the worst status wins; every message kept)."""
        if problems:
            self.status = Status.worst(p.status for p in problems).value
            self.message = "; ".join(dict.fromkeys(p.message for p in problems))

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, data):
        return cls(**data)


FIXED_COLUMNS = ("student_id", "assignment", "score", "max_score", "status", "sandboxed", "message")


def write_csv(results, part_names, path):
    """grades.csv: one row per student, a column per part, sorted by student id."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student_id", "assignment", "score", "max_score", *part_names, "status", "sandboxed",
                         "message"])
        for r in sorted(results, key=lambda r: r.student_id):
            writer.writerow([r.student_id, r.assignment, f"{r.score:g}", f"{r.max_score:g}",
                             *(f"{r.parts.get(n, 0.0):g}" for n in part_names), r.status,
                             "yes" if r.sandboxed else "no", r.message])


def read_csv(path):
    """``(rows, part names)`` of a grades.csv; each row a dict of strings."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    parts = [c for c in (rows[0].keys() if rows else []) if c not in FIXED_COLUMNS]
    return rows, parts


def write_failures(results, path):
    """failures.csv: a row per failed part (student_id, part, message), for ``report``."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student_id", "part", "message"])
        for r in sorted(results, key=lambda r: r.student_id):
            for part, message in r.messages.items():
                writer.writerow([r.student_id, part, message])


def read_failures(path):
    """The rows of a failures.csv, as dicts; none when the file is missing (an older grade run)."""
    try:
        with open(path, newline="") as f:
            return list(csv.DictReader(f))
    except FileNotFoundError:
        return []
