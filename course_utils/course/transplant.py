"""Rebuilding a learner's notebook from the course's own copy: only the answer regions are the learner's.

As nbgrader's autograde does, every cell comes from the course's exercise notebook; in each exercise
cell, each stub (`# YOUR CODE HERE` / `raise NotImplementedError()`) is replaced by the lines the learner
wrote between the course's fixed lines around it. The learner's other cells are not run; the report
says which of them differed from the course's.
"""

from __future__ import annotations

import copy
import difflib
import re
from dataclasses import dataclass, field

from nbformat import NotebookNode

from course_utils.course.notebook_files import EXERCISE_STUB

CHECK_CALL = re.compile(r"""\bcheck\(\s*(["'])(?P<name>[A-Za-z_][A-Za-z0-9_]*)\1""")
SUSPICIOUS = {
    "course_utils": "imports from course_utils (the course's references live there)",
    "check(": "calls check (its fallback hands back the reference)",
    "REGISTRY": "touches the registry of checks",
    "get_exercise": "looks up a course exercise",
    "sys.modules": "reaches into loaded modules",
    "importlib": "imports modules by name",
    "__import__": "imports modules by name",
    "globals()": "rewrites the notebook's names",
    "__builtins__": "reaches into Python's builtins",
    "getattr(": "looks attributes up by name",
    "_getframe": "inspects the caller's frames",
    "inspect.": "inspects the running code",
    "gc.": "walks the garbage collector's objects",
    "setattr(": "sets attributes by name",
    "open(": "opens files",
    "torch.save": "writes files",
    "os.environ": "reads the environment",
    "subprocess": "starts processes",
    "exec(": "runs code from a string",
    "eval(": "runs code from a string",
}
"""Words that a plain answer does not need; an answer holding one is flagged for the teacher, not failed.
A heuristic: an answer written to hide what it does can avoid every one of them."""


@dataclass(kw_only=True)
class Answer:
    """One exercise's transplanted answer: the learner's lines, or None when no cell of theirs held it."""

    exercise: str
    lines: list[str] | None
    cell: int | None = None
    """The learner's cell (0-based) it came from."""
    unused_lines: list[str] = field(default_factory=list)
    """Lines of that cell, outside the answer, that differ from the course's (the course's were run)."""
    flags: list[str] = field(default_factory=list)


@dataclass(kw_only=True)
class Transplant:
    """What the rebuild took from the learner, and what of theirs it left out."""

    answers: list[Answer] = field(default_factory=list)
    ignored_cells: list[int] = field(default_factory=list)
    """The learner's code cells (0-based) that are not as in the course's copy and were not run."""
    course_cells: int = 0

    def flags(self) -> list[str]:
        return [f"{a.exercise}: {flag}" for a in self.answers for flag in a.flags]

    def notes(self) -> list[str]:
        """What a report says about the rebuild, one line each."""
        lines = [f"graded the course's own notebook ({self.course_cells} cells) with only your answers in it"]
        if self.ignored_cells:
            shown = ", ".join(str(i + 1) for i in self.ignored_cells[:12])
            more = f" and {len(self.ignored_cells) - 12} more" if len(self.ignored_cells) > 12 else ""
            lines.append(f"your code cells {shown}{more} differ from the course's or are extra; they were not run")
        for answer in self.answers:
            if answer.lines is None:
                lines.append(f"{answer.exercise}: no cell of yours holds its check line; graded as not attempted")
            elif answer.unused_lines:
                first = answer.unused_lines[0].strip()
                lines.append(f"{answer.exercise}: {len(answer.unused_lines)} line(s) of your cell outside the answer "
                             f"were replaced by the course's (first: {first[:60]!r})")
        return lines


def stub_positions(lines: list[str]) -> list[int]:
    """Indices of each stub's first line (`# YOUR CODE HERE` followed by `raise NotImplementedError()`)."""
    return [
        i for i in range(len(lines) - 1)
        if lines[i].strip() == EXERCISE_STUB[0] and lines[i + 1].strip() == EXERCISE_STUB[1]
    ]


def exercise_name(source: str) -> str | None:
    """The exercise a cell checks (`check("name", ...)`), if it calls exactly one."""
    names = {m.group("name") for m in CHECK_CALL.finditer(source)}
    return names.pop() if len(names) == 1 else None


def rebuild(learner: NotebookNode, course: NotebookNode) -> tuple[NotebookNode, Transplant]:
    """The course's notebook with the learner's answer regions transplanted, and what was taken and left."""
    rebuilt = copy.deepcopy(course)
    transplant = Transplant(course_cells=len(course.cells))
    learner_code = [(j, c) for j, c in enumerate(learner.cells) if c.get("cell_type") == "code"]
    by_name: dict[str, list[int]] = {}
    for j, cell in learner_code:
        name = exercise_name(_source(cell))
        if name:
            by_name.setdefault(name, []).append(j)
    by_id = {cell.get("id"): j for j, cell in learner_code if cell.get("id")}
    used: set[int] = set()
    for cell in rebuilt.cells:
        if cell.cell_type != "code":
            continue
        course_lines = cell.source.split("\n")
        stubs = stub_positions(course_lines)
        if not stubs:
            continue
        name = exercise_name(cell.source) or f"cell {cell.get('id', '?')}"
        candidates = by_name.get(name, [])
        j = candidates[0] if len(candidates) == 1 else by_id.get(cell.get("id"))
        if j is None or j in used:
            transplant.answers.append(Answer(exercise=name, lines=None))
            continue
        used.add(j)
        learner_lines = _source(learner.cells[j]).split("\n")
        regions, unused = _answer_regions(course_lines, stubs, learner_lines)
        cell.source = "\n".join(_splice(course_lines, stubs, regions))
        answer_lines = [line for region in regions for line in region]
        transplant.answers.append(Answer(exercise=name, lines=answer_lines, cell=j, unused_lines=unused,
                                         flags=_flags("\n".join(answer_lines))))
    course_sources = {_normalised(c.source) for c in course.cells if c.cell_type == "code"}
    transplant.ignored_cells = [
        j for j, cell in learner_code
        if j not in used and _normalised(_source(cell)) not in course_sources and _source(cell).strip()
    ]
    return rebuilt, transplant


def _answer_regions(course: list[str], stubs: list[int], learner: list[str]) -> tuple[list[list[str]], list[str]]:
    """For each stub, the learner's lines between the course's fixed lines around it; and the learner's
    lines outside every region that match no course line."""
    matcher = difflib.SequenceMatcher(None, course, learner, autojunk=False)
    course_to_learner: dict[int, int] = {}
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            if course[block.a + k].strip():  # blank lines are no anchors: they match anywhere
                course_to_learner[block.a + k] = block.b + k
    regions: list[list[str]] = []
    inside: set[int] = set()
    previous_end = 0
    for n, stub in enumerate(stubs):
        segment_start = stubs[n - 1] + 2 if n else 0
        segment_end = stubs[n + 1] if n + 1 < len(stubs) else len(course)
        before = [course_to_learner[i] for i in range(segment_start, stub) if i in course_to_learner]
        after = [course_to_learner[i] for i in range(stub + 2, segment_end) if i in course_to_learner]
        start = max(before) + 1 if before else previous_end
        start = max(start, previous_end)
        end = min(after) if after else _block_end(learner, start, _indent(course[stub]))
        if end < start:
            end = start
        inside.update(range(start, end))
        previous_end = end
        while end > start and not learner[end - 1].strip():  # the course's own lines bring their blank lines
            end -= 1
        regions.append(learner[start:end])
    matched = set(course_to_learner.values())
    unused = [line for b, line in enumerate(learner) if b not in inside and b not in matched and line.strip()]
    return regions, unused


def _block_end(lines: list[str], start: int, indent: int) -> int:
    """Where an answer with no fixed line after it ends: at the first line indented less than its stub."""
    for k in range(start, len(lines)):
        if lines[k].strip() and _indent(lines[k]) < indent:
            return k
    return len(lines)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _splice(course: list[str], stubs: list[int], regions: list[list[str]]) -> list[str]:
    out: list[str] = []
    previous = 0
    for stub, region in zip(stubs, regions, strict=True):
        out.extend(course[previous:stub])
        out.extend(region)
        previous = stub + 2
    out.extend(course[previous:])
    return out


def _flags(text: str) -> list[str]:
    return [why for word, why in SUSPICIOUS.items() if word in text]


def _source(cell) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _normalised(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip().split("\n"))
