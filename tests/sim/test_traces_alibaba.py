"""The alibaba2018 reader, on the batch_task sample and on small files.

Counts from the raw sample with awk: 67,634 rows, 16,749 distinct job ids, and
``awk -F, '{s+=$7} END{print s}'`` = 3,056,536 instances. Jobs checked by hand:

- j_3638088 (lines 49155-49158, arrival 2692): R4_1_3 12 s x7, R3_2 11 s x5,
  M1 0 s x1, M2 11 s x4, all 100 (1 core). Longest chain 2 -> 3 -> 4:
  11 + 11 + 12 = 34 s (1 -> 4 is 0 + 12);
- j_3028851 (arrival 2177): M1 13 s x5, then R4_1 13 s, R2_1 11 s, R3_1 19 s x3:
  13 + 19 = 32 s;
- j_3758568 (arrival 0): two independent ``task_...`` rows of 197 s and 210 s,
  1 instance each: 210 s;
- j_282191 (lines 381-382, arrival 15): R2_1 and M1, both 0 s: the 1 s minimum;
- j_597491, the last job (arrival 3600): M1 3 s, R2_1 3 s, M3_2 109 s: 115 s.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from zoe.core.errors import InvalidInput, InvalidTrace
from zoe.sim.traces import SkipLog, TraceEntry, read_trace

GIB = 1024**3


@pytest.fixture(scope="module")
def entries(shared_dir: Path) -> dict[str, TraceEntry]:
    path = shared_dir / "traces" / "alibaba-2018-sample" / "batch_task_sample.csv"
    read = list(read_trace(path, "alibaba2018"))
    by_id = {entry.id: entry for entry in read}
    assert len(by_id) == len(read)
    return by_id


def write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "batch_task.csv"
    path.write_text("".join(f"{text}\n" for text in lines))
    return path


def test_sample_counts(entries: dict[str, TraceEntry]) -> None:
    assert len(entries) == 16749
    assert sum(len(e.zapp.frameworks) for e in entries.values()) == 67634
    assert sum(e.zapp.service_count for e in entries.values()) == 3056536
    # one essential instance per task by default
    assert sum(e.zapp.essential_count for e in entries.values()) == 67634


def test_sample_order(entries: dict[str, TraceEntry]) -> None:
    times = [e.submit_time for e in entries.values()]
    assert times == sorted(times)
    ids = list(entries)
    assert (ids[0], ids[-1]) == ("j_1446403", "j_597491")  # first and last rows


def test_dag_job_by_hand(entries: dict[str, TraceEntry]) -> None:
    job = entries["j_3638088"]

    assert (job.submit_time, job.duration) == (2692.0, 34.0)
    frameworks = [(f.name, f.depends_on) for f in job.zapp.frameworks]
    assert frameworks == [("t1", []), ("t2", []), ("t3", ["t2"]), ("t4", ["t1", "t3"])]
    counts = [(g.total_count, g.essential_count) for _, g in job.zapp.groups()]
    assert counts == [(1, 1), (4, 1), (5, 1), (7, 1)]
    # R4_1_3: 100.0 hundredths = 1 core, 0.39 % of 128 GiB
    last = job.zapp.frameworks[-1].services[0]
    assert last.demand.millicores == 1000
    assert last.demand.memory == round(0.39 / 100 * 128 * GIB)


def test_more_jobs_by_hand(entries: dict[str, TraceEntry]) -> None:
    assert (entries["j_3028851"].submit_time, entries["j_3028851"].duration) == (
        2177.0,
        32.0,
    )
    independent = entries["j_3758568"]
    assert independent.duration == 210.0
    assert [f.name for f in independent.zapp.frameworks] == ["i0", "i1"]
    assert all(f.depends_on == [] for f in independent.zapp.frameworks)
    assert entries["j_282191"].duration == 1.0
    assert (entries["j_597491"].submit_time, entries["j_597491"].duration) == (
        3600.0,
        115.0,
    )


def test_options(tmp_path: Path) -> None:
    trace = write(tmp_path, "0,j1,M1,10,50.0,1.0,4", "0,j1,R2_1,5,250.0,2.0,3")

    (job,) = read_trace(trace, "alibaba2018", essential="all", machine_memory="100GiB")

    assert job.duration == 15.0
    assert job.zapp.essential_count == 7
    demands = [g.demand for _, g in job.zapp.groups()]
    assert [(d.millicores, d.memory) for d in demands] == [
        (500, GIB),  # 1 % of 100 GiB
        (2500, 2 * GIB),
    ]


def test_interleaved_jobs_of_one_arrival(tmp_path: Path) -> None:
    trace = write(
        tmp_path,
        "5,a,M1,10,100,1,1",
        "5,b,M1,20,100,1,1",
        "5,a,R2_1,10,100,1,1",
        "6,c,M1,1,100,1,1",
    )
    jobs = list(read_trace(trace, "alibaba2018"))
    assert [(j.id, j.submit_time, j.duration) for j in jobs] == [
        ("a", 5.0, 20.0),
        ("b", 5.0, 20.0),
        ("c", 6.0, 1.0),
    ]


def test_zero_duration_invalid_without_minimum(tmp_path: Path) -> None:
    trace = write(
        tmp_path, "0,j1,M1,5,100,1,1", "3,j2,M1,0,100,1,1", "3,j2,M2_1,0,100,1,1"
    )
    with pytest.raises(InvalidTrace, match="every task lasts 0 s") as caught:
        list(read_trace(trace, "alibaba2018", min_duration=0))
    assert caught.value.line == 2


@pytest.mark.parametrize(
    ("rows", "line", "message"),
    [
        (
            ["0,j1,M1,5,100,1,1", "0,j1,M2_3,5,100,1,1"],
            2,
            "which the job does not have",
        ),
        (["0,j1,M1_2,5,100,1,1", "0,j1,M2_1,5,100,1,1"], 1, "cycle"),
        (["0,j1,M1,5,100,1,1", "0,j1,R1,5,100,1,1"], 2, "task numbers must be unique"),
        (
            ["0,j1,M1,5,100,1,1", "1,j2,M1,5,100,1,1", "2,j1,M2,5,100,1,1"],
            3,
            "j1 comes back",
        ),
        (["4,j1,M1,5,100,1,1", "3,j2,M1,5,100,1,1"], 2, "before the previous row"),
        (["0,j1,M1,5,0,1,1"], 1, "plan_cpu"),
        (["0,j1,M1,5,100,1,2.5"], 1, "whole number"),
        (["1e308,j1,M1,5,100,1,1"], 1, r"arrival \(field 1\) is 1e308 s, above the"),
        (["0,j1,M1,1e299,100,1,1"], 1, r"duration \(field 4\) is 1e299 s, above"),
        (
            # two chains of 6e11 s: each row is within the limit, the job is not
            ["0,j1,M1,6e11,100,1,1", "0,j1,M2_1,6e11,100,1,1"],
            1,
            "longest chain of tasks lasts 1.2e\\+12 s, above the limit",
        ),
    ],
)
def test_bad_jobs(tmp_path: Path, rows: list[str], line: int, message: str) -> None:
    trace = write(tmp_path, *rows)
    with pytest.raises(InvalidTrace, match=message) as caught:
        list(read_trace(trace, "alibaba2018"))
    assert caught.value.line == line


def test_broken_copy_of_the_sample(shared_dir: Path, tmp_path: Path) -> None:
    path = shared_dir / "traces" / "alibaba-2018-sample" / "batch_task_sample.csv"
    lines = path.read_text().splitlines()[:100]
    # line 44 "0,j_3469259,R4_3,8,100.0,0.39,1": a letter in the duration
    lines[43] = lines[43].replace(",8,", ",8x,")
    # line 48 "0,j_3758568,task_...,197,100.0,0.16,1": truncated
    lines[47] = lines[47][:30]
    broken = tmp_path / "broken.csv"
    broken.write_text("\n".join(lines) + "\n")

    with pytest.raises(InvalidTrace, match="duration \\(field 4\\) is '8x'") as caught:
        list(read_trace(broken, "alibaba2018"))
    assert (caught.value.source, caught.value.line) == (str(broken), 44)

    skipped = SkipLog()
    jobs = list(read_trace(broken, "alibaba2018", skip_invalid=True, skipped=skipped))
    assert skipped.counts == {"not a number": 1, "wrong field count": 1}
    assert [s.line for s in skipped.examples] == [44, 48]
    by_id = {job.id: job for job in jobs}
    # j_3469259 lost task 4 (chain 1 -> 2 -> 3 is 0 + 1 + 8 s);
    # j_3758568 lost its 197 s task
    assert by_id["j_3469259"].duration == 9.0
    assert by_id["j_3758568"].duration == 210.0
    assert len(by_id["j_3758568"].zapp.frameworks) == 1


def test_min_duration_above_the_limit_is_refused(tmp_path: Path) -> None:
    trace = write(tmp_path, "0,j1,M1,5,100,1,1")
    with pytest.raises(InvalidInput, match=r"min_duration: 1e\+300 seconds is above"):
        read_trace(trace, "alibaba2018", min_duration="1e300")
