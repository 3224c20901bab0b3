"""RAM and cgroup readings, on fake cgroup trees built in a temporary directory."""

from __future__ import annotations

from pathlib import Path

from dreamflow_cli.plan.memory import CgroupMemory, MemoryReadings, available_bytes, cgroup_memory, memory_readings

GB = 1_000_000_000


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")


def test_v2_limit_minus_usage(tmp_path):
    write(tmp_path / "a/b/memory.max", str(GB))
    write(tmp_path / "a/b/memory.current", str(300_000_000))
    found = cgroup_memory("0::/a/b\n", root=tmp_path)
    assert found == CgroupMemory(limit=GB, usage=300_000_000, path=str(tmp_path / "a/b"))
    assert found.available == 700_000_000


def test_v2_without_a_limit(tmp_path):
    write(tmp_path / "a/memory.max", "max")
    write(tmp_path / "a/memory.current", "123")
    assert cgroup_memory("0::/a\n", root=tmp_path) is None


def test_v2_a_tighter_parent_wins(tmp_path):
    write(tmp_path / "slice/memory.max", str(500_000_000))
    write(tmp_path / "slice/memory.current", str(400_000_000))
    write(tmp_path / "slice/leaf/memory.max", str(GB))
    write(tmp_path / "slice/leaf/memory.current", str(300_000_000))
    found = cgroup_memory("0::/slice/leaf\n", root=tmp_path)
    assert found.available == 100_000_000 and found.path == str(tmp_path / "slice")


def test_v1_limit_and_unlimited(tmp_path):
    write(tmp_path / "memory/job/memory.limit_in_bytes", str(200_000_000))
    write(tmp_path / "memory/job/memory.usage_in_bytes", str(50_000_000))
    proc = "5:devices:/\n4:memory:/job\n0::/\n"
    (tmp_path / "unified").mkdir()  # a hybrid host: the v2 line carries no memory controller
    assert cgroup_memory(proc, root=tmp_path).available == 150_000_000
    write(tmp_path / "memory/job/memory.limit_in_bytes", "9223372036854771712")
    assert cgroup_memory(proc, root=tmp_path) is None


def test_inside_a_container_the_host_path_is_not_mounted(tmp_path):
    # /proc/self/cgroup names the host's path; the container sees its own cgroup at the mount.
    write(tmp_path / "memory/memory.limit_in_bytes", str(2 * GB))
    write(tmp_path / "memory/memory.usage_in_bytes", str(GB // 2))
    found = cgroup_memory("4:memory:/docker/0123abcd\n", root=tmp_path)
    assert found is not None and found.available == 1_500_000_000


def test_no_memory_controller_at_all(tmp_path):
    assert cgroup_memory("3:cpuset:/\n1:cpu:/\n", root=tmp_path) is None
    assert cgroup_memory("garbage\n", root=tmp_path) is None


def test_readings_take_the_smaller_room():
    plain = MemoryReadings(total=16 * GB, available=10 * GB)
    assert plain.usable == 10 * GB and plain.usable_total == 16 * GB
    limited = MemoryReadings(total=16 * GB, available=10 * GB,
                             cgroup=CgroupMemory(limit=2 * GB, usage=GB // 2, path="/x"))
    assert limited.usable == 1_500_000_000 and limited.usable_total == 2 * GB
    roomy_cgroup = MemoryReadings(total=16 * GB, available=GB,
                                  cgroup=CgroupMemory(limit=8 * GB, usage=0, path="/x"))
    assert roomy_cgroup.usable == GB


def test_real_readings_are_sane():
    r = memory_readings()
    assert r.total > 0 and 0 < r.available <= r.total
    assert r.swap_total >= 0 and 0 <= r.swap_free <= max(r.swap_total, r.swap_free)
    assert 0 < r.usable <= r.available
    assert 0 < available_bytes() <= r.total
