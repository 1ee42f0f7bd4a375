"""The `course` command: build, grade (and the learner's other tools)."""

from __future__ import annotations

import argparse
import glob
import json
import sys
from collections.abc import Callable
from pathlib import Path

from course_utils.course.contents import syllabus
from course_utils.course.notebook_files import NotebookProblem


def _cmd_build(args: argparse.Namespace) -> int:
    from course_utils.course.build import (
        execute_solution,
        repo_root,
        solution_paths,
        sync_exercise_notebook,
    )

    root = repo_root()
    paths = solution_paths(root, args.names)
    if args.execute and not args.check:
        for path in paths:
            print(f"executing {path.relative_to(root)} ...", flush=True)
            seconds = execute_solution(path, timeout=args.timeout)
            print(f"  done in {seconds:.1f} s")
    failed = False
    for path in paths:
        step = sync_exercise_notebook(path, root, force=args.force, check_only=args.check)
        line = f"notebooks/{step.name}: {step.action}"
        print(line + (f" ({step.detail})" if step.detail else ""))
        failed |= step.action in {"out of date", "refused"}
    if args.check and not args.names:
        expected = {p.name for p in paths}
        from course_utils.course.notebook_files import is_backup

        for extra in sorted((root / "notebooks").glob("*.ipynb")):
            if extra.name not in expected and not is_backup(extra):
                print(f"notebooks/{extra.name}: has no solutions/{extra.name}")
                failed = True
    if failed:
        print("notebooks/ is out of date with solutions/" if args.check else "some notebooks were not written")
    return 1 if failed else 0


def _cmd_grade(args: argparse.Namespace) -> int:
    from course_utils.course.grading import format_report, grade

    given = args.notebooks
    class_run = args.out is not None or args.feedback is not None or len(given) > 1 or Path(given[0]).is_dir() or (
        glob.has_magic(given[0]) and not Path(given[0]).exists())
    if class_run:
        return _grade_class(args)
    report = grade(Path(given[0]), timeout=args.timeout, notebook_timeout=args.notebook_timeout)
    print(json.dumps(report.to_dict(), indent=2) if args.json else format_report(report))
    return 0 if report.all_passed else 1


def _grade_class(args: argparse.Namespace) -> int:
    from course_utils.course.gradebook import (
        find_submissions,
        format_class,
        grade_class,
        write_feedback,
        write_gradebook,
    )

    if args.jobs < 1:
        raise NotebookProblem(f"--jobs {args.jobs}: grade at least one notebook at a time")
    given = args.notebooks
    submissions = find_submissions(given)
    print(f"grading {len(submissions)} notebooks from {', '.join(given)}, {args.jobs} at a time", file=sys.stderr)
    rows = grade_class(submissions, jobs=args.jobs, timeout=args.timeout, notebook_timeout=args.notebook_timeout)
    csv_path, json_path = write_gradebook(rows, Path(args.out or "."))
    print(json_path.read_text(encoding="utf-8") if args.json else format_class(rows, csv_path, json_path))
    if args.feedback:
        written = write_feedback(rows, Path(args.feedback))
        print(f"feedback: {len(written)} Markdown files in {args.feedback}")
    return 0


def _cmd_progress(args: argparse.Namespace) -> int:
    from course_utils.course.build import repo_root
    from course_utils.course.progress import course_progress, format_progress

    folder = Path(args.folder) if args.folder else repo_root() / "notebooks"
    progress = course_progress(folder, timeout=args.timeout)
    print(json.dumps(progress.to_dict(), indent=2) if args.json else format_progress(progress))
    return progress.exit_code()


def _cmd_reset(args: argparse.Namespace) -> int:
    from course_utils.course.reset import format_reset, reset_notebook

    print(format_reset(reset_notebook(Path(args.notebook), exercise=args.exercise)))
    return 0


def _cmd_doctor(args: argparse.Namespace) -> int:
    from course_utils.course.doctor import format_doctor, run_doctor

    findings = run_doctor()
    print(format_doctor(findings))
    return 1 if any(f.status == "fail" for f in findings) else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="course",
        description="Tools for the superposition and sparse dictionary learning course.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    build = commands.add_parser(
        "build",
        help="execute solutions/ and regenerate notebooks/ from them",
        description="Execute solutions/ (refreshing their outputs) and regenerate the exercise "
        "notebooks in notebooks/. Refuses to overwrite a learner's edited notebook unless --force.",
    )
    build.add_argument("names", nargs="*", help="only these notebooks (e.g. 02 or 02_antipodal_pair)")
    build.add_argument("--check", action="store_true", help="only report whether notebooks/ is up to date")
    build.add_argument("--force", action="store_true", help="overwrite edited notebooks (keeps a timestamped backup)")
    build.add_argument("--no-execute", dest="execute", action="store_false", help="do not re-execute solutions/")
    build.add_argument("--timeout", type=float, default=300, help="seconds allowed per cell (default 300)")
    build.set_defaults(func=_cmd_build)

    grade = commands.add_parser(
        "grade",
        help="grade a notebook, or a class of notebooks into a gradebook",
        description="Grade each NOTEBOOK from the course's own copy with only its answers put in; every verdict "
        "is decided outside the notebook's kernel (docs/GRADING.md). Files are only read. One notebook: a table, "
        "exit status 0 only when every exercise passes. Several files, folders (searched recursively) or globs: "
        "each graded in isolation, --jobs at a time, into gradebook.csv and gradebook.json (exit status 0 once "
        "written). A student's name is the folder of a file that keeps the course's name, else the file's name.",
    )
    grade.add_argument("notebooks", nargs="+", metavar="NOTEBOOK",
                       help="notebook files, folders or globs, e.g. notebooks/02_antipodal_pair.ipynb or 'submissions/*'")
    grade.add_argument("--json", action="store_true", help="print the report (or the gradebook) as JSON")
    grade.add_argument("--timeout", type=float, default=120, help="seconds allowed per cell (default 120)")
    grade.add_argument("--notebook-timeout", type=float, default=600, metavar="SECONDS",
                       help="seconds allowed per notebook, so that one hanging submission cannot stall a class (default 600)")
    grade.add_argument("--jobs", type=int, default=2, help="notebooks graded at a time (default 2)")
    grade.add_argument("--out", metavar="DIR", help="write gradebook.csv and gradebook.json in DIR (default: here)")
    grade.add_argument("--feedback", metavar="DIR", help="write each student a Markdown feedback file in DIR")
    grade.set_defaults(func=_cmd_grade)

    progress = commands.add_parser(
        "progress",
        help="grade every notebook: one table for the whole course",
        description="Grade each course notebook in notebooks/ (as `course grade` does) and print, per notebook, the "
        "exercises passed, failed, not attempted and not reached, and the totals. Your files are only read. "
        "Exit status 0 when every exercise passes, 1 when some are left, 2 when a notebook cannot be graded.",
    )
    progress.add_argument("folder", nargs="?", help="the folder of your notebooks (default: notebooks/ of the course)")
    progress.add_argument("--json", action="store_true", help="print the table as JSON")
    progress.add_argument("--timeout", type=float, default=120, help="seconds allowed per cell (default 120)")
    progress.set_defaults(func=_cmd_progress)

    reset = commands.add_parser(
        "reset",
        help="a fresh exercise notebook (your file is backed up first)",
        description="Copy NOTEBOOK to a timestamped backup next to it, then write the fresh exercise "
        "notebook from solutions/. With --exercise, only that exercise's cell is reset; every other cell stays as it is.",
    )
    reset.add_argument("notebook", help="path of the notebook, e.g. notebooks/03_toy_models.ipynb")
    reset.add_argument("--exercise", metavar="NAME", help="reset only this exercise's cell (the name its check line uses)")
    reset.set_defaults(func=_cmd_reset)

    doctor = commands.add_parser(
        "doctor",
        help="check Python, packages, kernel, JupyterLab extensions and model weights",
        description="Check the environment the course needs; one line per item with a fix. "
        "Exit status 1 when something needed is missing.",
    )
    doctor.set_defaults(func=_cmd_doctor)
    syllabus().add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `course` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.func
    try:
        return handler(args)
    except NotebookProblem as problem:
        print(f"course {args.command}: {problem}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"course {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
