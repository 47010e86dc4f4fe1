"""The README and docs/ stay true to the code: every `orchestrate` command line they show is one
the CLI accepts, every `make` target they name is in the Makefile, and every file of the
repository they point to exists. Read from the Markdown itself, so a renamed flag, target or spec
fails here rather than in a new user's terminal."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from orchestrator.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"```[a-z]*\n(.*?)```", re.S)
INLINE = re.compile(r"`([^`\n]+)`")
# A file of this repository named in the docs (not docker/.env: the user's own copy of .env.example).
REPO_PATH = re.compile(r"\b(?:search_spaces|benchmarks|docker|docs|tests|analysis|trainer|orchestrator)"
                       r"/[\w./-]*\.(?:yaml|py|sh|md|json)\b")


def snippets(doc: Path) -> list[tuple[str, str]]:
    """(kind, text) of each command-shaped piece: the lines of fenced blocks (continuations
    joined) and inline code spans outside them."""
    text = doc.read_text()
    found = [("block", line) for block in FENCE.findall(text)
             for line in block.replace("\\\n", " ").splitlines()]
    found += [("inline", span) for span in INLINE.findall(FENCE.sub("", text))]
    return found


def commands(doc: Path, program: str) -> list[tuple[str, str]]:
    """The arguments of each `program ...` in ``doc``, up to a comment, pipe or redirection."""
    pattern = re.compile(rf"(?:^|[\s/(;&|]){program}\s+(.*)")
    found = []
    for kind, text in snippets(doc):
        match = pattern.search(text)
        if match:
            found.append((kind, re.split(r"\s+#|\s*(?:\|\||\||&&|;|>|\))", match.group(1))[0].strip()))
    return found


def parse_error(argv: list[str]) -> str | None:
    """argparse's complaint about ``argv``, or None when the CLI accepts it."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            build_parser().parse_args(argv)
    except SystemExit as exit_:
        if exit_.code:
            return err.getvalue().strip().splitlines()[-1]
    return None


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_orchestrate_command_shown_is_accepted_by_the_cli(doc):
    """A command in a fenced block is complete and must parse as written; an inline span may
    name a command without its arguments (`orchestrate analyze`), so there only a missing
    argument is forgiven, never an unknown command, flag or choice."""
    wrong = []
    for kind, args in commands(doc, "orchestrate"):
        if not args or not args[0].isalpha():
            continue                                    # prose such as "`orchestrate`'s ..."
        error = parse_error(shlex.split(args))
        if error and not (kind == "inline" and "arguments are required" in error):
            wrong.append(f"orchestrate {args}  ->  {error}")
    assert not wrong, f"{doc.name} shows commands the CLI refuses:\n" + "\n".join(wrong)


def test_the_docs_check_catches_a_wrong_flag():
    """The check above can fail: a flag the CLI lacks is refused, one it has is accepted."""
    assert parse_error(["sweep", "search_spaces/quickstart.yaml", "--no-such-flag"])
    assert parse_error(["sweep", "search_spaces/quickstart.yaml", "--resume"]) is None


def test_every_make_target_named_is_in_the_makefile():
    makefile = (REPO / "Makefile").read_text()
    targets = set(re.findall(r"^([\w-]+):", makefile, re.M))
    named = {(doc.name, args.split()[0]) for doc in DOCS for _, args in commands(doc, "make")
             if args and re.fullmatch(r"[\w-]+", args.split()[0])}
    assert named, "no `make` target found in the docs: the pattern is broken"
    missing = sorted(f"{name}: make {target}" for name, target in named if target not in targets)
    assert not missing, "targets the Makefile lacks:\n" + "\n".join(missing)


def test_every_repository_file_named_exists():
    named = {(doc.name, path) for doc in DOCS for path in REPO_PATH.findall(doc.read_text())}
    assert len(named) > 20, "few paths found in the docs: the pattern is broken"
    missing = sorted(f"{name}: {path}" for name, path in named if not (REPO / path).exists())
    assert not missing, "files the docs name but the repository lacks:\n" + "\n".join(missing)
