"""What the course's notebooks are made of: nbgrader cell metadata and the course's own tags."""

SETUP_TAG = "setup"  # code cells a reference run needs besides the solutions (imports)


def nbgrader_meta(cell):
    return cell.get("metadata", {}).get("nbgrader", {})


def is_solution(cell):
    return bool(nbgrader_meta(cell).get("solution")) and cell.get("cell_type") == "code"


def is_test(cell):
    meta = nbgrader_meta(cell)
    return bool(meta.get("grade")) and not meta.get("solution")


def is_setup(cell):
    return SETUP_TAG in cell.get("metadata", {}).get("tags", [])


def grade_id(cell):
    return nbgrader_meta(cell).get("grade_id")



def strip_solution_markers(source):
    """A solution cell's code without nbgrader's BEGIN/END SOLUTION lines (what a student writes)."""
    keep = [line for line in source.splitlines()
            if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION")]
    return "\n".join(keep)
