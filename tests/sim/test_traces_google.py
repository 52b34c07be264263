"""The google2011 reader, on the task_events sample and on small files.

Expected values read from the sample by hand (timestamps in microseconds):

- job 1: tasks 0 and 1 submitted at 0 with CPU 0.125 and memory 0.07446; first
  SCHEDULE at 10 s, last FINISH at 50 s: duration 40 s;
- job 2: tasks 0, 1, 2 submitted at 0 with CPU 0.03125, memory 0.08691; first
  SCHEDULE 12 s, last FINISH 65 s (task 2 failed at 21 s, never finished): 53 s;
- job 3: one task, CPU 0.0625, memory 0.09277; SCHEDULE 25 s, FINISH 70 s: 45 s;
- job 4: tasks 0-2 submitted at 0, task 3 at 10 s, CPU 0.1875, memory 0.09839;
  first SCHEDULE 10 s (task 3), last FINISH 90 s: 80 s.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from zoe.core.errors import InvalidTrace
from zoe.sim.traces import SkipLog, read_trace

GIB = 1024**3
MACHINE_MEMORY = 128 * GIB


def event(time_s: float, job: int, task: int, kind: int, cpu: str, mem: str) -> str:
    return f"{int(time_s * 1e6)},,{job},{task},,{kind},user,3,9,{cpu},{mem},0.1,0"


def write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "task_events.csv"
    path.write_text("".join(f"{text}\n" for text in lines))
    return path


@pytest.fixture
def sample(shared_dir: Path) -> Path:
    return shared_dir / "traces" / "google-2011-sample" / "task-events-sample-1.csv"


def demand(entry: object) -> tuple[int, int]:
    ((_, group),) = entry.zapp.groups()  # type: ignore[attr-defined]
    return group.demand.millicores, group.demand.memory


def test_sample_jobs(sample: Path) -> None:
    entries = list(read_trace(sample, "google2011"))

    assert [e.id for e in entries] == ["1", "2", "3", "4"]
    assert [e.submit_time for e in entries] == [0.0, 0.0, 0.0, 0.0]
    assert [e.duration for e in entries] == [40.0, 53.0, 45.0, 80.0]
    assert [e.zapp.service_count for e in entries] == [2, 3, 1, 4]
    assert [e.zapp.essential_count for e in entries] == [2, 3, 1, 4]
    # 32 cores per machine: 0.125 -> 4 cores, 0.03125 -> 1, 0.0625 -> 2, 0.1875 -> 6
    assert [demand(e)[0] for e in entries] == [4000, 1000, 2000, 6000]
    assert demand(entries[0])[1] == round(0.07446 * MACHINE_MEMORY)
    assert demand(entries[3])[1] == round(0.09839 * MACHINE_MEMORY)


def test_machine_options(sample: Path) -> None:
    entries = list(
        read_trace(sample, "google2011", machine_cores="16", machine_memory="64GiB")
    )
    assert demand(entries[0]) == (2000, round(0.07446 * 64 * GIB))


def test_submit_relative_to_first_event_and_groups_by_request(tmp_path: Path) -> None:
    trace = write(
        tmp_path,
        "#header",
        event(100, 7, 0, 0, "0.5", "0.25"),
        event(100, 7, 1, 0, "0.25", "0.25"),
        event(100, 7, 2, 0, "0.5", "0.25"),
        event(102, 8, 0, 0, "", "0"),
        event(103, 7, 0, 1, "0.5", "0.25"),
        event(104, 8, 0, 1, "", ""),
        event(110, 8, 0, 4, "", ""),
        event(120, 7, 1, 4, "0.5", "0.25"),
    )

    job7, job8 = read_trace(trace, "google2011", essential="1", machine_cores=4)

    assert (job7.id, job7.submit_time, job7.duration) == ("7", 0.0, 17.0)
    assert (job8.id, job8.submit_time, job8.duration) == ("8", 2.0, 6.0)
    # tasks 0 and 2 ask 0.5 x 4 = 2 cores, task 1 asks 1 core: two groups
    groups = [
        (g.total_count, g.essential_count, g.demand) for _, g in job7.zapp.groups()
    ]
    assert [(total, ess, d.millicores) for total, ess, d in groups] == [
        (2, 1, 2000),
        (1, 0, 1000),
    ]
    # zero requests get the minimum: 0.01 cores and 16 MiB
    assert demand(job8) == (10, 16 * 1024**2)


def test_jobs_without_an_end_are_dropped_and_counted(tmp_path: Path) -> None:
    trace = write(
        tmp_path,
        event(0, 1, 0, 0, "0.1", "0.1"),
        event(1, 2, 0, 1, "0.1", "0.1"),  # no SUBMIT in the file
        event(2, 3, 0, 0, "0.1", "0.1"),  # never scheduled
        event(3, 1, 0, 1, "0.1", "0.1"),
        event(4, 4, 0, 0, "0.1", "0.1"),
        event(5, 4, 0, 1, "0.1", "0.1"),
        event(6, 4, 0, 5, "0.1", "0.1"),  # killed: no FINISH
        event(9, 1, 0, 4, "0.1", "0.1"),
    )
    skipped = SkipLog()

    entries = list(read_trace(trace, "google2011", skipped=skipped))

    assert [e.id for e in entries] == ["1"]
    assert skipped.counts == {
        "job without SUBMIT": 1,
        "job never scheduled": 1,
        "job without FINISH": 1,
    }
    assert [s.line for s in skipped.examples] == [2, 3, 5]


# line 11 of the sample: "10000000,,4,3,1,0,Xalks/empsl1000/0tursl=,3,9,0.1875,..."
@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (",0.4306,0", "", "expected 13 comma-separated fields, found 11"),
        (",,4,3,", ",,4,x,", r"task index \(field 4\) is 'x'"),
        (",0.1875,", ",0.1a75,", r"CPU request \(field 10\) is '0.1a75'"),
    ],
)
def test_broken_copy_of_the_sample(
    sample: Path, tmp_path: Path, old: str, new: str, message: str
) -> None:
    lines = sample.read_text().splitlines()
    assert old in lines[10]
    lines[10] = lines[10].replace(old, new, 1)
    broken = tmp_path / "broken.csv"
    broken.write_text("\n".join(lines) + "\n")

    with pytest.raises(InvalidTrace, match=message) as caught:
        list(read_trace(broken, "google2011"))
    assert (caught.value.source, caught.value.line) == (str(broken), 11)

    skipped = SkipLog()
    entries = list(read_trace(broken, "google2011", skip_invalid=True, skipped=skipped))
    assert skipped.total == 1
    # job 4 lost the SUBMIT of its task 3, so it has 3 services
    assert [e.zapp.service_count for e in entries] == [2, 3, 1, 3]


def test_a_header_line_is_skipped_but_a_bad_first_row_is_invalid(
    tmp_path: Path,
) -> None:
    rows = [
        event(0, 1, 0, 0, "0.25", "0.5"),
        event(1, 1, 0, 1, "", ""),
        event(3, 1, 0, 4, "", ""),
    ]
    names = "time,missing,job,task,machine,type,user,class,priority,cpu,ram,disk,diff"
    with_header = write(tmp_path, names, *rows)
    # job 1: submitted at 0, scheduled at 1, finished at 3: 2 s
    assert [(e.id, e.duration) for e in read_trace(with_header, "google2011")] == [
        ("1", 2.0)
    ]

    broken = write(tmp_path, "O" + rows[0][1:], *rows[1:])  # letter O for 0
    with pytest.raises(InvalidTrace) as caught:
        list(read_trace(broken, "google2011"))
    assert caught.value.line == 1
    assert "timestamp (field 1) is 'O'" in caught.value.reason


def test_a_timestamp_above_the_limit_is_invalid_and_skippable(tmp_path: Path) -> None:
    # 2e18 microseconds is 2e12 s, twice the limit of 1e12 s
    rows = [
        event(0, 1, 0, 0, "0.25", "0.5"),
        event(1, 1, 0, 1, "", ""),
        "2000000000000000000,,1,0,,4,user,3,9,,,0.1,0",
        event(3, 2, 0, 0, "0.25", "0.5"),
        event(4, 2, 0, 1, "", ""),
        event(6, 2, 0, 4, "", ""),
    ]
    trace = write(tmp_path, *rows)

    with pytest.raises(InvalidTrace) as caught:
        list(read_trace(trace, "google2011"))
    assert caught.value.line == 3
    assert caught.value.reason == (
        "timestamp (field 1) is 2000000000000000000 microseconds, above the limit "
        "of 1e+12 s (about 31,688 years)"
    )

    skipped = SkipLog()
    entries = list(read_trace(trace, "google2011", skip_invalid=True, skipped=skipped))
    # job 1 lost its FINISH: dropped; job 2 runs from 4 s to 6 s
    assert [(e.id, e.duration) for e in entries] == [("2", 2.0)]
    assert skipped.counts == {"bad value": 1, "job without FINISH": 1}


@pytest.mark.parametrize(
    ("text", "hint", "line"),
    [
        # job_events: time, missing, job id, event type, user, class, name, logical
        ("0,,1,0,user,3,name,logical", "the job_events table", 1),
        # machine_events: time, machine id, event type, platform, cpu, memory
        ("0,10,0,platform,0.5,0.2493", "the machine_events or task_constraints", 1),
        # an Alibaba 2018 batch_task row in the sample's layout
        ("0,j_1,M1,5,100,0.5,1", "an Alibaba 2018 batch_task file", 1),
        # no comma-separated field is a number: the first line passes for a header
        ("1 0 -1 10 2 -1 -1 2 -1 -1 1 -1 -1 -1 -1 -1 -1 -1", "a Standard Workload", 2),
        ('{"id": "e1", "submit": 0, "duration": 1}', "a native trace", 2),
    ],
)
def test_a_file_of_another_table_is_named(
    tmp_path: Path, text: str, hint: str, line: int
) -> None:
    trace = write(tmp_path, text, text)

    with pytest.raises(InvalidTrace) as caught:
        list(read_trace(trace, "google2011"))

    assert caught.value.line == line
    assert caught.value.reason.startswith("expected 13 comma-separated fields")
    assert f"this looks like {hint}" in caught.value.reason
    assert caught.value.reason.endswith("give a file of the task_events table")


def test_the_machine_events_and_swf_samples_are_named(shared_dir: Path) -> None:
    machines = shared_dir / "traces" / "google-2011-sample"
    with pytest.raises(InvalidTrace) as caught:
        list(read_trace(machines / "machine-events-sample-1.csv", "google2011"))
    assert caught.value.line == 2  # line 1 is a comment
    assert "found 6: this looks like the machine_events" in caught.value.reason

    swf = shared_dir / "traces" / "lublin-swf" / "lublin_256.swf"
    with pytest.raises(InvalidTrace) as caught:
        list(read_trace(swf, "google2011"))
    # line 1, a ';' comment, passes for a header; line 2 is another comment
    assert caught.value.line == 2
    assert "this looks like a Standard Workload Format file" in caught.value.reason
