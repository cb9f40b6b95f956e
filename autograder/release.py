"""``release``: generate ``exercises/`` from ``solutions/`` with nbgrader's generate_assignment."""
import json
import shutil
import tempfile
from pathlib import Path

from autograder import chapters, paths
from autograder.nbgrader_setup import nbgrader_config


def generate(slug, root, db_path):
    """Run nbgrader generate_assignment for ``slug`` in course directory ``root``."""
    from nbgrader.apps import NbGraderAPI

    api = NbGraderAPI(config=nbgrader_config(root, db_path))
    result = api.generate_assignment(slug, force=True, create=True)
    if not result["success"]:
        raise RuntimeError(f"nbgrader could not release {slug}:\n{result['error']}\n{result['log']}")


def release(slugs=None, out_dir=None):
    """Release the chapters (all by default) into ``out_dir`` (default: the repo's exercises/).

    nbgrader writes into ``<root>/exercises``; a scratch course directory that links to
    solutions/ keeps its gradebook out of the repository.
    """
    slugs = list(slugs or chapters.slugs())
    out_dir = Path(out_dir or paths.exercises_dir())
    with tempfile.TemporaryDirectory(prefix="dlcourse-release-") as tmp:
        root = Path(tmp)
        (root / "solutions").symlink_to(paths.solutions_dir())
        for slug in slugs:
            generate(slug, root, root / "gradebook.db")
            target = out_dir / slug
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(root / "exercises" / slug, target)
            _normalise(paths.notebook(out_dir, slug))
    return [paths.notebook(out_dir, s) for s in slugs]


def _normalise(path):
    """Rewrite a released notebook in the course's stable JSON layout (one space indent, sorted
    keys, trailing newline) so that a fresh release is byte-for-byte comparable."""
    nb = json.loads(path.read_text())
    path.write_text(json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
