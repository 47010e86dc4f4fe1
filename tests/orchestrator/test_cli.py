"""orchestrator.cli: the `orchestrate` command's parser and how it ends."""

import argparse
import subprocess
import sys
from pathlib import Path

from orchestrator.cli import build_parser

SPACES = Path(__file__).resolve().parents[2] / "search_spaces"


def subcommands(parser: argparse.ArgumentParser, prefix: str = "orchestrate"):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield f"{prefix} {name}", sub
                yield from subcommands(sub, f"{prefix} {name}")


def test_every_option_of_every_command_says_what_it_does():
    """`orchestrate ui --help` showed "--port PORT" and nothing else."""
    commands = dict(subcommands(build_parser()))
    assert {"orchestrate trial", "orchestrate sweep", "orchestrate ui", "orchestrate classifier train"} <= set(commands)
    for command, parser in commands.items():
        for action in parser._actions:
            if action.option_strings and action.dest != "help":
                assert action.help and len(action.help) > 10, f"{command} {action.option_strings[0]}"


def test_dry_run_into_a_closed_pipe_ends_quietly():
    """`orchestrate sweep SPEC --dry-run | head -1`: the reader has gone. The handler for that
    came after `except Exception`, which re-raised it: a BrokenPipeError traceback and exit 1."""
    proc = subprocess.Popen([sys.executable, "-m", "orchestrator.cli", "sweep", str(SPACES / "celeba_alphagan.yaml"),
                             "--dry-run"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()                                          # before the command writes its first line
    stderr = proc.stderr.read()
    assert proc.wait(timeout=120) == 0 and "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr
