"""The instructor's command line: ``python -m autograder {release,grade,report,gradebook,demo}``."""
import argparse
import sys
from pathlib import Path

DEMO_DIR = Path(".build/demo")


def cmd_release(args):
    from autograder import chapters
    from autograder.release import release

    for path in release(args.slugs or chapters.slugs()):
        print(f"released {path}")


def cmd_grade(args):
    from autograder.grading import Limits, grade, summary_table

    from autograder.sandbox import SandboxUnavailable

    limits = Limits(cell_timeout=args.cell_timeout, time_limit=args.time_limit, memory_gb=args.memory_limit,
                    device=args.device, threads=args.threads, sandboxed=not args.no_sandbox)
    try:
        results = grade(args.submissions, args.assignment, args.out, workers=args.workers, limits=limits,
                        cluster=args.cluster)
    except SandboxUnavailable as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(summary_table(results))
    out = Path(args.out)
    print(f"\ngrades: {out / 'grades.csv'}\nfeedback: {out / 'feedback'}/<student>/\n"
          f"answers that look copied (not scored): {out / 'similarity.csv'}")
    if args.no_sandbox:
        print("warning: graded WITHOUT a sandbox (--no-sandbox): grades.csv says so in its 'sandboxed' column")
    return 0


def cmd_report(args):
    from autograder.report import course_report, report

    if len(args.folders) == 1:
        print(report(Path(args.folders[0]) / "grades.csv"))
    else:
        print(course_report(args.folders, args.out or "report"))


def cmd_gradebook(args):
    from autograder import gradebook

    paths = gradebook.write(args.graded, args.out)
    out = Path(args.out)
    print(f"gradebook: {out / 'gradebook.csv'}\nimport files: {out / 'canvas.csv'} (Canvas), {out / 'moodle.csv'} "
          f"(Moodle)\nper student: {out / 'students'}/<student>.html ({len(paths) - 3} students)")


def cmd_demo(args):
    from autograder import demo
    from autograder.grading import Limits, grade, summary_table
    from autograder.report import report

    for slug in args.slugs or demo.slugs():
        folder = demo.write_demo_class(slug, Path(args.out) / slug / "submissions")
        print(f"\n== {slug}: demo class in {folder}")
        results = grade(folder, slug, Path(args.out) / slug / "graded", workers=args.workers,
                        limits=Limits(device=args.device))
        print(summary_table(results))
        print()
        print(report(Path(args.out) / slug / "graded" / "grades.csv"))


def cmd_bench(args):
    from autograder.bench import bench, table

    if args.projection:
        from autograder.bench import projection
        print("\n".join(projection()))
        return
    rows, compute = bench(args.assignment, args.n, tuple(args.workers), nbgrader=not args.no_nbgrader)
    print(table(args.assignment, args.n, rows, compute))


def parser():
    p = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("release", help="generate exercises/ from solutions/ (nbgrader generate_assignment)")
    r.add_argument("slugs", nargs="*", help="chapters to release, e.g. 01-neuron (default: all)")
    r.set_defaults(run=cmd_release)

    g = sub.add_parser("grade", help="autograde a folder (or LMS zip) of submissions")
    g.add_argument("submissions", help="folder of <student_id>/<SLUG>.ipynb, or a zip exported by an LMS")
    g.add_argument("--assignment", required=True, help="the chapter slug, e.g. 01-neuron")
    g.add_argument("--out", default="graded", help="where grades.csv and feedback/ go (default: graded)")
    g.add_argument("--workers", type=int, default=1, help="students graded at once (default: 1)")
    g.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="device for the student's code and the reference (default: auto)")
    g.add_argument("--cell-timeout", type=int, default=120, help="seconds per cell of the student's, and per call of their code from a test cell (default: 120)")
    g.add_argument("--time-limit", type=float, default=600, help="seconds per notebook (default: 600)")
    g.add_argument("--memory-limit", type=float, default=6.0, help="GiB per notebook (default: 6; 0: none)")
    g.add_argument("--threads", type=int, default=0,
                   help="CPU threads per notebook (default: the machine's cores shared out between the workers)")
    g.add_argument("--cluster", metavar="tcp://HOST:PORT",
                   help="grade on this Dask cluster's workers (see the README) instead of on this machine")
    g.add_argument("--no-sandbox", action="store_true",
                   help="run students' code unconfined where bubblewrap is not available (grades.csv says so)")
    g.set_defaults(run=cmd_grade)

    rp = sub.add_parser("report", help="score distribution and per-part failure rates of graded folders")
    rp.add_argument("folders", nargs="+", help="the --out folder of a grade run (holds grades.csv); several: "
                    "the course-wide picture")
    rp.add_argument("--out", help="where the course-wide plot goes (default: report)")
    rp.set_defaults(run=cmd_report)

    gb = sub.add_parser("gradebook", help="one table for the course: a row per student, a column per chapter")
    gb.add_argument("graded", nargs="+", help="the --out folders of grade runs, one per chapter")
    gb.add_argument("--out", default="gradebook", help="where the gradebook files go (default: gradebook)")
    gb.set_defaults(run=cmd_gradebook)

    d = sub.add_parser("demo", help="generate and grade a demo class for every released chapter")
    d.add_argument("slugs", nargs="*", help="chapters (default: all released)")
    d.add_argument("--out", default=str(DEMO_DIR), help=f"output folder (default: {DEMO_DIR})")
    d.add_argument("--workers", type=int, default=2)
    d.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    d.set_defaults(run=cmd_demo)
    b = sub.add_parser("bench", help="time grading a generated class: plain nbgrader against grade --workers 1, 2")
    b.add_argument("--assignment", default="01-neuron", help="the chapter (default: 01-neuron)")
    b.add_argument("--n", type=int, default=30, help="submissions in the class (default: 30)")
    b.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts to time (default: 1 2)")
    b.add_argument("--no-nbgrader", action="store_true", help="skip plain nbgrader (it takes longest)")
    b.add_argument("--projection", action="store_true",
                   help="instead: every chapter's complete notebook, and how long 1,000 students take on 1, 10, 100 "
                        "machines like this one")
    b.set_defaults(run=cmd_bench)
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    return args.run(args) or 0


if __name__ == "__main__":
    sys.exit(main())
