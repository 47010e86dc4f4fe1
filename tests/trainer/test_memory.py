"""trainer.memory: free memory from /proc/meminfo, byte counts in words."""

import sys

import pytest

from trainer.memory import available_bytes, in_binary_units


def test_byte_counts_in_binary_units():
    assert in_binary_units(512) == "512 bytes"
    assert in_binary_units(2048) == "2.0 KiB"
    assert in_binary_units(125_440_000_000) == "116.8 GiB"
    assert in_binary_units(4 * 10**12 * 400) == "1.4 PiB"
    assert in_binary_units(2**62) == "4.0 EiB"


def test_free_memory_is_linux_memavailable_and_unknown_elsewhere(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24000000 kB\nMemFree:          100000 kB\nMemAvailable:   1234567 kB\n")
    assert available_bytes(meminfo) == 1234567 * 1024               # not MemFree: the page cache can be given
    assert available_bytes(tmp_path / "missing") is None
    meminfo.write_text("MemTotal: 24000000 kB\n")
    assert available_bytes(meminfo) is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/meminfo is Linux's")
def test_this_machine_has_some_free_memory():
    assert 2**20 < available_bytes() < 2**50
