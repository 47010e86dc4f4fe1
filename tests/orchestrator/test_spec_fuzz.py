"""A property-based test of `orchestrate sweep --dry-run` on mutants of the shipped specs (a field
dropped, a value of the wrong type or out of range, an unknown key, broken YAML): each mutant
either passes, or exits 2 with exactly one line on stderr and no traceback."""

import contextlib
import io
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.cli import main

SPECS = sorted((Path(__file__).resolve().parents[2] / "search_spaces").glob("*.yaml"))
EXAMPLES = 400

ANY_VALUE = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                      st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
                      st.lists(st.integers(-3, 3), max_size=3), st.dictionaries(st.text(max_size=4),
                                                                              st.integers(), max_size=2))
OUT_OF_RANGE = st.sampled_from([-1, 0, -0.5, 0.5, 1e300, -1e-9, float("nan"), float("inf"), 10**12, True])


def paths(node, prefix=()):
    """Every key path of a nested mapping (into the lists of a grid too)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*prefix, key)
            yield from paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield (*prefix, index)
            yield from paths(value, (*prefix, index))


def set_at(content, path, value):
    node = content
    for key in path[:-1]:
        node = node[key]
    if value is DROP:
        del node[path[-1]]
    else:
        node[path[-1]] = value


DROP = object()


@st.composite
def mutants(draw):
    spec = draw(st.sampled_from(SPECS))
    text = spec.read_text()
    kind = draw(st.sampled_from(["drop", "wrong type", "out of range", "unknown key", "bad yaml"]))
    if kind == "bad yaml":
        cut = draw(st.integers(0, len(text)))
        junk = draw(st.sampled_from(["[", "{", ": :", "\t", "- - -", "'", "&a *b", "%"]))
        return kind, text[:cut] + junk + text[cut:]
    content = yaml.safe_load(text)
    where = draw(st.sampled_from(list(paths(content))))
    if kind == "drop":
        if isinstance(where[-1], int):
            where = where[:-1]                               # drop the whole list, not one value
        set_at(content, where, DROP)
    elif kind == "wrong type":
        set_at(content, where, draw(ANY_VALUE))
    elif kind == "out of range":
        set_at(content, where, draw(OUT_OF_RANGE))
    else:
        parent = where[:-1]
        node = content
        for key in parent:
            node = node[key]
        if isinstance(node, dict):
            node[draw(st.text(min_size=1, max_size=10))] = draw(ANY_VALUE)
        else:
            content[draw(st.text(min_size=1, max_size=10))] = draw(ANY_VALUE)
    return kind, yaml.safe_dump(content, allow_unicode=True)


def dry_run(path: Path) -> tuple[int, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(["sweep", str(path), "--dry-run"])      # an exception escaping it fails the test
    return code, stderr.getvalue()


def test_every_mutant_of_a_shipped_spec_passes_or_is_one_line(tmp_path):
    tried: dict[str, int] = {}
    refused = 0

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(mutants())
    def check(mutant):
        nonlocal refused
        kind, text = mutant
        tried[kind] = tried.get(kind, 0) + 1
        path = tmp_path / "mutant.yaml"
        path.write_text(text)
        code, stderr = dry_run(path)
        lines = [line for line in stderr.splitlines() if line.strip()]
        if code == 0:
            return
        refused += 1
        assert code == 2, (kind, text, stderr)
        assert len(lines) == 1 and lines[0].startswith("orchestrate sweep: error: "), (kind, text, stderr)
        assert "Traceback" not in stderr

    check()
    total = sum(tried.values())
    print(f"spec fuzz: {total} mutants ({', '.join(f'{v} {k}' for k, v in sorted(tried.items()))}); "
          f"{refused} refused in one line, {total - refused} passed")
    assert total >= EXAMPLES // 2
