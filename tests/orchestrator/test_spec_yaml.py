"""Reading a spec file: one line for a file that is not there (with the spec it likely meant),
and for a key given twice."""

from pathlib import Path

import pytest

from orchestrator.cli import main
from orchestrator.errors import SpecError
from orchestrator.spec_yaml import SHIPPED_SPECS, read_yaml

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("given, meant", [
    ("quickstart", "search_spaces/quickstart.yaml"),                 # a shipped spec by its name
    ("celeba_alphagan.yml", "search_spaces/celeba_alphagan.yaml"),
    ("search_spaces/celeba_alphagn.yaml", "search_spaces/celeba_alphagan.yaml"),    # a typo
])
def test_a_missing_spec_names_the_one_meant(given, meant, monkeypatch):
    monkeypatch.chdir(REPO)
    with pytest.raises(SpecError) as err:
        read_yaml(given)
    assert str(err.value) == f"{given}: no such spec file; did you mean {meant}?"
    assert (REPO / meant).is_file() and SHIPPED_SPECS == REPO / "search_spaces"


def test_outside_the_repository_the_hint_is_absolute_and_a_typo_in_its_folder_is_found(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my_sweep.yaml").write_text("name: mine\n")
    with pytest.raises(SpecError, match=f"did you mean {SHIPPED_SPECS / 'smoke.yaml'}\\?$"):
        read_yaml("smoke")
    with pytest.raises(SpecError, match="did you mean my_sweep.yaml\\?$"):
        read_yaml("my_swep.yaml")
    with pytest.raises(SpecError, match="^nothing_like_it.yaml: no such spec file$"):
        read_yaml("nothing_like_it.yaml")


@pytest.mark.parametrize("command", [["sweep", "quickstart", "--dry-run"], ["trial", "quickstart"],
                                     ["analyze", "quickstart.yaml"]])
def test_each_command_gives_the_hint_in_one_line(command, monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    assert main(command) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].endswith("did you mean search_spaces/quickstart.yaml?"), lines


@pytest.mark.parametrize("text, where", [
    ("trial:\n  max_iter: 20\n  model: alphagan\n  max_iter: 40\n", "line 4: invalid YAML: key 'max_iter' appears "
     "twice (lines 2 and 4), and the second would silently replace the first: keep one"),
    ("grid:\n  lr_generator: [0.0001]\ngrid:\n  latent_dim: [8]\n", "key 'grid' appears twice (lines 1 and 3)"),
])
def test_a_key_given_twice_is_refused_where_yaml_kept_the_last(tmp_path, text, where):
    """PyYAML keeps the last of two equal keys: a second `grid:` dropped the first grid's axes and a
    second `max_iter:` replaced the first, silently."""
    path = tmp_path / "twice.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as err:
        read_yaml(path)
    assert str(err.value) == f"{path}: {where}" if where.startswith("line") else where in str(err.value)


def test_a_merge_key_may_still_be_overridden(tmp_path):
    path = tmp_path / "merged.yaml"
    path.write_text("base: &base {model: alphagan, max_iter: 20}\ntrial:\n  <<: *base\n  max_iter: 40\n")
    assert read_yaml(path)["trial"] == {"model": "alphagan", "max_iter": 40}


@pytest.mark.parametrize("make, said", [
    (lambda p: p.mkdir(), "is a folder, not a spec file: pass a spec file such as "),
    (lambda p: (p.mkdir(), (p / "mine.yaml").write_text("name: mine\n")),
     "is a folder, not a spec file: pass one of its spec files, e.g. "),
    (lambda p: p.write_bytes(b"\xff\xfe\x00binary"), "not a YAML spec (byte 0 is not UTF-8 text); pass a .yaml file"),
])
def test_a_folder_or_a_binary_file_given_as_the_spec_is_one_line(tmp_path, make, said, capsys):
    """A folder said 'no such spec file', and a binary file (a checkpoint, /bin/ls) was a
    UnicodeDecodeError traceback."""
    path = tmp_path / "given"
    make(path)
    assert main(["sweep", str(path), "--dry-run"]) == 2
    line, = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"orchestrate sweep: error: {path}: {said}"), line
