"""Reading a process's memory and the machine's load from /proc, with the standard library only, so a child
measuring itself (the PDF renderers) carries no import it would then measure."""

from __future__ import annotations

import os
from pathlib import Path


def rss_mb(pid: int) -> tuple[float, float]:
    """(current VmRSS, peak VmHWM) of a live process, in MB. VmHWM starts afresh at exec, so a child's peak
    is its own, not the RSS it inherited from a large parent between fork and exec."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def load_average() -> tuple[float, float, float]:
    """The machine's 1, 5 and 15 minute load averages (other engineers' tests share these cores)."""
    return os.getloadavg()
