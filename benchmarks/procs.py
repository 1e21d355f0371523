"""The processes of a raybase deployment, read from /proc (Linux): CPU time and memory.

A deployment is a process and its descendants: the `raybase up` or harness driver, Ray's GCS,
raylet, dashboard, monitors and agents, its workers (the Serve controller, proxy and replicas,
the durable-object hosts) and HAProxy. Ray renames its workers (`ray::Host`), so they are found
by ancestry, not by command line.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

PROC = Path("/proc")
TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100  # CPU time unit of stat


def parse_stat(text: str) -> tuple[int, float]:
    """(parent pid, CPU seconds user + system) from a /proc/<pid>/stat line."""
    rest = text[text.rindex(")") + 2:].split()  # the name in parentheses may hold spaces
    return int(rest[1]), (int(rest[11]) + int(rest[12])) / TICK


def descendants(root: int, parents: dict[int, int]) -> set[int]:
    """root and every process below it, given each process's parent."""
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, ()))
    return found


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:  # the process ended meanwhile, or is not ours to read
        return None


def stats() -> dict[int, tuple[int, float]]:
    """Every process's (parent pid, CPU seconds)."""
    out = {}
    for d in PROC.iterdir():
        if d.name.isdigit() and (text := _read(d / "stat")) is not None:
            out[int(d.name)] = parse_stat(text)
    return out


def tree(root: int, exclude: Iterable[int] = ()) -> dict[int, float]:
    """CPU seconds of root's processes, without the subtrees of `exclude`."""
    table = stats()
    parents = {pid: ppid for pid, (ppid, _) in table.items()}
    skip = set().union(*(descendants(pid, parents) for pid in exclude))
    return {pid: table[pid][1] for pid in descendants(root, parents) - skip if pid in table}


def machine_cpu() -> dict[int, float]:
    """Busy CPU seconds of the whole machine (all but idle and iowait), under key -1."""
    fields = [int(x) for x in (PROC / "stat").read_text().split("\n", 1)[0].split()[1:9]]
    return {-1: (sum(fields) - fields[3] - fields[4]) / TICK}


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two samples; a process born in between counts whole."""
    return sum(max(0.0, t - before.get(pid, 0.0)) for pid, t in after.items())


def pss_kib(smaps_rollup: str) -> dict[str, int]:
    """Pss, Rss and private (USS) kiB from /proc/<pid>/smaps_rollup."""
    values = {}
    for line in smaps_rollup.splitlines():
        key, _, rest = line.partition(":")
        if rest.strip().endswith("kB"):
            values[key] = int(rest.split()[0])
    return {"pss": values.get("Pss", 0), "rss": values.get("Rss", 0),
            "uss": values.get("Private_Clean", 0) + values.get("Private_Dirty", 0)}


def label(argv: list[str]) -> str:
    """A short name for a process: `ray::Host`, `raylet`, `dashboard.py`, `raybase up`."""
    if not argv:
        return "?"
    if argv[0].startswith("ray::"):
        return argv[0].split()[0]
    for arg in argv[:3]:
        name = os.path.basename(arg)
        if name == "raybase":
            return " ".join(["raybase", *argv[argv.index(arg) + 1:][:1]])
        if name.endswith(".py"):
            return name
    return os.path.basename(argv[0])


def memory(pids: Iterable[int]) -> list[dict[str, object]]:
    """pid, label and Pss/Rss/USS kiB of each process still alive, largest Pss first."""
    rows = []
    for pid in pids:
        cmd = _read(PROC / str(pid) / "cmdline")
        smaps = _read(PROC / str(pid) / "smaps_rollup")
        if cmd is None or smaps is None:
            continue
        argv = [a for a in cmd.split("\0") if a]
        rows.append({"pid": pid, "process": label(argv), **pss_kib(smaps)})
    return sorted(rows, key=lambda r: -int(r["pss"]))  # type: ignore[call-overload]
