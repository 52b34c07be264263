"""`zoe zapp validate` and `zoe zapp schema`, run through the real command."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from zoe.cli.main import app

runner = CliRunner()

BROKEN = {
    "name": "broken",
    "version": 4,
    "frameworks": [
        {
            "name": "f",
            "services": [
                {
                    "name": "a",
                    "image": "busybox",
                    "essential_count": 1,
                    "total_count": 1,
                    "resources": {"cores": -1, "memory": "1GiB"},
                    "colour": "red",
                }
            ],
        }
    ],
}


def write(tmp_path: Path, name: str, content: object) -> Path:
    path = tmp_path / name
    text = content if isinstance(content, str) else json.dumps(content)
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_examples_exit_0_with_one_line_each(repo_dir: Path) -> None:
    files = [
        repo_dir / "examples" / n for n in ("spark.json", "notebook.json", "mpi.json")
    ]

    result = runner.invoke(app, ["zapp", "validate", *map(str, files)])

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"{files[0]}: valid: spark-notebook (version 4, interactive): 1 framework, "
        "3 service groups, 14 services (4 essential)",
        f"{files[1]}: valid: jupyter-notebook (version 4, interactive): 1 framework, "
        "1 service group, 1 service (1 essential)",
        f"{files[2]}: valid: mpi-helloworld (version 4, batch): 1 framework, "
        "2 service groups, 5 services (5 essential)",
    ]
    assert result.stderr == ""


def test_imported_file_prints_its_notes(shared_dir: Path) -> None:
    path = shared_dir / "zapps" / "upstream-v2" / "nginx.json"

    result = runner.invoke(app, ["zapp", "validate", str(path)])

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"{path}: valid: nginx (version 2, imported, interactive): 1 framework, "
        "1 service group, 1 service (1 essential)",
        f"{path}: note: services[0].required_resources.cores: not given; "
        "1 core assumed",
    ]


def test_broken_file_exits_2_with_one_line_per_fault(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.json", BROKEN)

    result = runner.invoke(app, ["zapp", "validate", str(path)])

    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 2
    assert lines[0] == (
        f"{path}: frameworks[0].services[0].resources.cores: cores must be greater "
        "than zero, got -1"
    )
    assert lines[1].startswith(
        f"{path}: frameworks[0].services[0].colour: unknown field; valid fields "
        "here are: name, image,"
    )
    assert result.stdout == ""


def test_valid_and_broken_files_together_exit_2(tmp_path: Path, repo_dir: Path) -> None:
    good = repo_dir / "examples" / "mpi.json"
    bad = write(tmp_path, "broken.json", BROKEN)

    result = runner.invoke(app, ["zapp", "validate", str(good), str(bad)])

    assert result.exit_code == 2
    assert result.stdout.startswith(f"{good}: valid: mpi-helloworld")
    assert result.stderr.startswith(f"{bad}: frameworks[0]")


def test_invalid_json_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.json", '{"name": "x",\n  "version": }\n')

    result = runner.invoke(app, ["zapp", "validate", str(path)])

    assert result.exit_code == 2
    assert result.stderr == (
        f"{path}: invalid JSON at line 2, column 14: Expecting value\n"
    )


def test_non_finite_numbers_are_not_json(tmp_path: Path) -> None:
    path = write(tmp_path, "nan.json", '{"version": 4, "size": NaN}')

    result = runner.invoke(app, ["zapp", "validate", str(path)])

    assert result.exit_code == 2
    assert result.stderr == (
        f"{path}: invalid JSON: NaN is not a JSON number; write a finite number\n"
    )


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.json"

    result = runner.invoke(app, ["zapp", "validate", str(path)])

    assert result.exit_code == 2
    assert result.stderr == f"{path}: cannot read the file: No such file or directory\n"


def test_a_folder_is_not_a_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["zapp", "validate", str(tmp_path)])

    assert result.exit_code == 2
    assert result.stderr == f"{tmp_path}: cannot read the file: Is a directory\n"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("[1, 2]", "not a ZApp: expected a JSON object, got list"),
        ('{"name": "x"}', "not a ZApp: it has no 'version' field"),
        ('{"version": 1, "zapps": []}', "not a ZApp: this is a ZApp shop manifest"),
    ],
)
def test_not_a_zapp(tmp_path: Path, content: str, reason: str) -> None:
    path = write(tmp_path, "other.json", content)

    result = runner.invoke(app, ["zapp", "validate", str(path)])

    assert result.exit_code == 2
    assert result.stderr.startswith(f"{path}: {reason}")
    assert len(result.stderr.splitlines()) == 1


def test_unsupported_version(tmp_path: Path) -> None:
    path = write(tmp_path, "v9.json", {"name": "x", "version": 9})

    result = runner.invoke(app, ["zapp", "validate", str(path)])

    assert result.exit_code == 2
    assert result.stderr == (
        f"{path}: version: unsupported version 9; supported versions: 1, 2, 3, 4\n"
    )


def test_schema_prints_the_shipped_schema(repo_dir: Path) -> None:
    result = runner.invoke(app, ["zapp", "schema"])

    assert result.exit_code == 0
    shipped = (repo_dir / "zoe" / "core" / "zapp_schema.json").read_text("utf-8")
    assert result.stdout == shipped


def test_console_script_exits_2_without_a_traceback(tmp_path: Path) -> None:
    zoe = shutil.which("zoe", path=str(Path(sys.executable).parent))
    if zoe is None:
        pytest.fail(f"the zoe console script is not installed beside {sys.executable}")
    broken = write(tmp_path, "broken.json", BROKEN)
    bad_json = write(tmp_path, "bad.json", "{")

    done = subprocess.run(
        [zoe, "zapp", "validate", str(broken), str(bad_json), str(tmp_path / "no")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert [line.split(": ")[0] for line in done.stderr.splitlines()] == [
        str(broken),
        str(broken),
        str(bad_json),
        str(tmp_path / "no"),
    ]
