"""Validation of experiment specifications: every fault names its key path."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from exp_helpers import write_spec

from zoe.core.errors import InvalidSpec
from zoe.experiments.spec import load_spec

VALID = """
name = "t"
clusters = ["2x4c16g"]
policies = ["rigid-fifo", "flexible-fifo"]
loads = [1.0, 2.0]
seeds = [1, 2]

[[traces]]
name = "tiny"
file = "tiny.jsonl"
"""


def test_valid_spec_is_read_with_defaults(tmp_path: Path, tiny_trace: Path) -> None:
    spec = load_spec(write_spec(tmp_path, VALID))

    assert spec.name == "t"
    assert spec.policies == ("rigid-fifo", "flexible-fifo")
    assert spec.placements == ("first-fit",)
    assert spec.loads == (1.0, 2.0)
    assert spec.seeds == (1, 2)
    assert spec.runtime_model == "linear"
    assert spec.think_time == 0.0
    assert spec.out is None
    assert spec.traces[0].file == str(tiny_trace.resolve())
    assert spec.traces[0].format == "native"
    assert spec.clusters[0].shorthand == "2x4c16g"


def test_name_defaults_to_the_file_stem(tmp_path: Path, tiny_trace: Path) -> None:
    body = VALID.replace('name = "t"\n', "", 1)
    assert load_spec(write_spec(tmp_path, body, "my-grid.toml")).name == "my-grid"


def test_generated_trace_and_package_resource(tmp_path: Path) -> None:
    body = """
policies = ["rigid-fifo"]
clusters = ["2x4c16g"]
[[traces]]
name = "gen"
generator = "paper"
apps = 5
params = {mean_interarrival = 60.0}
"""
    trace = load_spec(write_spec(tmp_path, body)).traces[0]
    assert trace.kind == "generator"
    assert (trace.generator, trace.apps, dict(trace.params)) == (
        "paper",
        5,
        {"mean_interarrival": 60.0},
    )


def test_cluster_file_is_read_relative_to_the_spec(
    tmp_path: Path, tiny_trace: Path
) -> None:
    (tmp_path / "c.json").write_text(
        '{"nodes": [{"name": "a", "cores": 4, "memory": "8GiB"}]}', encoding="utf-8"
    )
    spec = load_spec(write_spec(tmp_path, VALID.replace('"2x4c16g"', '"c.json"')))
    cluster = spec.clusters[0]
    assert cluster.name == "c"
    assert cluster.document == {"nodes": [{"name": "a", "cores": 4, "memory": "8GiB"}]}


@pytest.mark.parametrize(
    ("old", "new", "path", "words"),
    [
        ('name = "t"', 'name = "t"\ncolour = "red"', "colour", "unknown key"),
        ('loads = [1.0, 2.0]', "loads = []", "loads", "is empty"),
        ('loads = [1.0, 2.0]', "loads = [1.0, 0]", "loads[1]", "greater than 0"),
        ('loads = [1.0, 2.0]', "loads = [1e-300]", "loads[0]", "from 0.001 to 1000"),
        ('loads = [1.0, 2.0]', "loads = [1e6]", "loads[0]", "from 0.001 to 1000"),
        ('loads = [1.0, 2.0]', "loads = [1.0, 1.0]", "loads[1]", "appears twice"),
        ('loads = [1.0, 2.0]', 'loads = "high"', "loads", "expected an array"),
        ("seeds = [1, 2]", "seeds = [1, -2]", "seeds[1]", "integer >= 0"),
        ("seeds = [1, 2]", "seeds = [1, 2.5]", "seeds[1]", "integer >= 0"),
        ('"rigid-fifo",', '"rigid-lifo",', "policies[0]", "unknown policy"),
        ('seeds = [1, 2]', 'seeds = [1]\nplacements = ["worst-fit"]', "placements[0]",
         "unknown placement"),
        ('clusters = ["2x4c16g"]', 'clusters = ["nodes.json"]', "clusters[0]",
         "no such file"),
        ('clusters = ["2x4c16g"]', "clusters = [4]", "clusters[0]",
         "expected a string"),
        ('file = "tiny.jsonl"', 'file = "missing.jsonl"', "traces[0].file",
         "no such file"),
        ('file = "tiny.jsonl"', 'file = "."', "traces[0].file",
         "is a folder; give the path of a file"),
        ('clusters = ["2x4c16g"]', 'clusters = ["2x4c"]', "clusters[0]",
         "(nor a cluster NxCcMg, e.g. 25x32c128g)"),
        ('file = "tiny.jsonl"', 'file = "tiny.jsonl"\nformat = "csv"',
         "traces[0].format", "valid formats: native, swf"),
        ('file = "tiny.jsonl"', 'file = "tiny.jsonl"\nlimit = 0', "traces[0].limit",
         "positive integer"),
        ('file = "tiny.jsonl"', 'file = "tiny.jsonl"\napps = 3', "traces[0].apps",
         "unknown key"),
        ('file = "tiny.jsonl"', 'generator = "paper"', "traces[0].apps", "positive"),
        ('file = "tiny.jsonl"', 'generator = "zipf"\napps = 3', "traces[0].generator",
         "valid models: paper"),
        ('file = "tiny.jsonl"', 'generator = "paper"\napps = 3\nparams = {speed = 2}',
         "traces[0].params", "speed"),
        ('file = "tiny.jsonl"', 'file = "tiny.jsonl"\ngenerator = "paper"', "traces[0]",
         "exactly one of"),
        ('file = "tiny.jsonl"', 'package = "surely_not_a_package_zoe"\nresource = "x"',
         "traces[0].package", "not installed"),
        ('file = "tiny.jsonl"', 'package = "zoe"\nresource = "nothing/here.csv"',
         "traces[0].resource", "has no file"),
        ('name = "tiny"', 'name = "a b"', "traces[0].name", "not a valid name"),
    ],
)  # fmt: skip
def test_each_fault_names_its_path(
    tmp_path: Path, tiny_trace: Path, old: str, new: str, path: str, words: str
) -> None:
    assert old in VALID
    spec_path = write_spec(tmp_path, VALID.replace(old, new, 1))

    with pytest.raises(InvalidSpec) as caught:
        load_spec(spec_path)

    assert caught.value.path == path
    assert words in caught.value.reason
    assert caught.value.source == str(spec_path)


def test_missing_policies_is_an_error(tmp_path: Path, tiny_trace: Path) -> None:
    body = VALID.replace('policies = ["rigid-fifo", "flexible-fifo"]\n', "")
    with pytest.raises(InvalidSpec) as caught:
        load_spec(write_spec(tmp_path, body))
    assert (caught.value.path, caught.value.reason) == (
        "policies",
        "missing; this key is required",
    )


def test_duplicate_trace_names(tmp_path: Path, tiny_trace: Path) -> None:
    body = VALID + '\n[[traces]]\nname = "tiny"\nfile = "tiny.jsonl"\n'
    with pytest.raises(InvalidSpec) as caught:
        load_spec(write_spec(tmp_path, body))
    assert caught.value.path == "traces[1]"


def test_bad_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidSpec, match="not valid TOML"):
        load_spec(write_spec(tmp_path, "policies = [\n"))
    with pytest.raises(InvalidSpec, match="cannot read the file"):
        load_spec(tmp_path / "absent.toml")


def test_negative_think_time_and_unknown_runtime_model(
    tmp_path: Path, tiny_trace: Path
) -> None:
    with pytest.raises(InvalidSpec) as caught:
        load_spec(write_spec(tmp_path, "think_time = -1\n" + VALID))
    assert caught.value.path == "think_time"
    with pytest.raises(InvalidSpec) as caught:
        load_spec(write_spec(tmp_path, 'runtime_model = "quadratic"\n' + VALID))
    assert caught.value.path == "runtime_model"


def test_a_think_time_above_the_limit_is_refused(
    tmp_path: Path, tiny_trace: Path
) -> None:
    with pytest.raises(InvalidSpec, match="above the limit of 1e\\+12 s") as caught:
        load_spec(write_spec(tmp_path, "think_time = 1e300\n" + VALID))
    assert caught.value.path == "think_time"


def test_bundled_specs_are_valid(repo_dir: Path) -> None:
    for name in ("quick", "paper"):
        spec = load_spec(repo_dir / "experiments" / f"{name}.toml")
        assert spec.name == name
    assert len(load_spec(repo_dir / "experiments" / "paper.toml").policies) == 9


def test_alibaba_spec_needs_spar(repo_dir: Path) -> None:
    path = repo_dir / "experiments" / "alibaba.toml"
    if importlib.util.find_spec("spar") is None:
        with pytest.raises(InvalidSpec) as caught:
            load_spec(path)
        assert caught.value.path == "traces[0].package"
        assert "zoe[alibaba]" in caught.value.reason
    else:
        spec = load_spec(path)
        assert spec.traces[0].package == "spar"
        assert spec.traces[0].limit == 2000
