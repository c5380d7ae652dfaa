"""Updates runtime/link-order.txt from a perf recording (scripts/link-order.sh).

    link_order.py LINK_MAP BINARY ORDER_FILE PERF_DATA...

LINK_MAP is the linker's map of BINARY, the berth that was recorded (lld
-Map, runtime/build.rs's BERTH_LINK_MAP), ORDER_FILE the current order,
rewritten in place, and the PERF_DATA files hold its CPU samples (cpu-clock)
and its user page faults (exceptions:page_fault_user). A function is hot if a
sample landed in it or an instruction fetch faulted in it. The new order is
`berth_entry` (the ELF entry, where every start begins), then the hot
functions by sample count, then the file's earlier entries that the binary
still has (a function sampled in one round may be missed in the next).
"""

import bisect
import collections
import os
import re
import subprocess
import sys

ENTRY_SYMBOL = "berth_entry"
FAULT = re.compile(r"address=0x([0-9a-f]+) ip=0x([0-9a-f]+) error_code=0x([0-9a-f]+)")
IFETCH = 0x10  # page fault error code: instruction fetch


class Functions:
    """The binary's code, by address: its input sections, from the linker's
    map (the release binary is stripped, and a build with symbols would have
    other symbol names: the profile is part of Rust's symbol hashes).

    Each Rust function is its own section (`.text.<mangled name>`); a C
    library object is one `.text` section, named here by its first symbol.
    Either name in the order file moves the whole section.
    """

    def __init__(self, map_file):
        secs = []
        pending = None  # a `.text` section waiting for its first symbol
        in_text = False
        with open(map_file) as f:
            for line in f:
                fields = line.split(None, 4)
                if len(fields) < 5 or not all(_is_hex(x) for x in fields[:3]):
                    continue
                vma, size, rest = int(fields[0], 16), int(fields[2], 16), fields[4].strip()
                if not line.startswith(" " * 20) and rest.startswith("."):
                    in_text = rest == ".text"  # an output section
                    continue
                if not in_text:
                    continue
                if ":(" in rest:
                    section = rest[rest.rindex(":(") + 2:-1]
                    name = _function_of(section)
                    pending = None
                    if name:
                        secs.append((vma, size, name))
                    elif size:
                        pending = (vma, size)
                elif pending:
                    secs.append((pending[0], pending[1], rest))
                    pending = None
        secs.sort()
        self.syms = secs
        self.names = {n for _, _, n in secs}
        self.starts = [s[0] for s in secs]

    def at(self, addr):
        i = bisect.bisect_right(self.starts, addr) - 1
        if i >= 0 and addr < self.syms[i][0] + max(self.syms[i][1], 1):
            return self.syms[i][2]
        return None


def _is_hex(text):
    return all(c in "0123456789abcdef" for c in text)


def _function_of(section):
    """The symbol of a per-function section (`.text.<name>`), else None."""
    for prefix in (".text.unlikely.", ".text.hot.", ".text.startup.", ".text."):
        if section.startswith(prefix):
            return section[len(prefix):]
    return None


MMAP2 = re.compile(r"PERF_RECORD_MMAP2 (\d+)/\d+: \[0x([0-9a-f]+)\(0x[0-9a-f]+\) @ 0x([0-9a-f]+) "
                   r"[0-9a-f]+:[0-9a-f]+ (\d+) ")
FORK = re.compile(r"PERF_RECORD_FORK\((\d+):\d+\):\((\d+):\d+\)")


class Binary:
    """Where the recorded binary's code is in a process: its inode, and the
    offset between file offsets and addresses in its executable segment."""

    def __init__(self, path):
        self.inode = os.stat(path).st_ino
        out = subprocess.run(["readelf", "-lW", path], capture_output=True, text=True,
                             check=True).stdout
        load = next(l.split() for l in out.splitlines()
                    if l.split()[:1] == ["LOAD"] and "E" in l.split()[-2:-1][0])
        self.delta = int(load[2], 16) - int(load[1], 16)  # address - file offset


def hot_functions(funcs, binary, perf_data):
    """Counts CPU samples and instruction-fetch faults per function. A
    process's load address comes from the mapping of the binary (perf's
    MMAP2 records), a child's from its parent (FORK records)."""
    cmd = ["perf", "script", "-i", perf_data, "--show-mmap-events", "--show-task-events",
           "-F", "sw:pid,event,ip", "-F", "trace:pid,event,trace"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    base_of = {}
    hits = collections.Counter()
    for line in out.splitlines():
        m = MMAP2.search(line)
        if m:
            pid, start, pgoff, inode = (int(m.group(1)), int(m.group(2), 16),
                                        int(m.group(3), 16), int(m.group(4)))
            if inode == binary.inode:
                base_of[pid] = start - pgoff - binary.delta
            continue
        m = FORK.search(line)
        if m:
            child, parent = int(m.group(1)), int(m.group(2))
            if parent in base_of:
                base_of[child] = base_of[parent]
            continue
        fields = line.split()
        if len(fields) < 3 or not fields[0].isdigit() or int(fields[0]) not in base_of:
            continue
        m = FAULT.search(line)
        if m:
            ip, code = int(m.group(2), 16), int(m.group(3), 16)
            if not code & IFETCH:
                continue
        elif "cpu-clock" in line:
            ip = int(fields[-1], 16)
        else:
            continue
        name = funcs.at(ip - base_of[int(fields[0])])
        if name:
            hits[name] += 1
    return hits


def main():
    link_map, binary_path, order_file, *perf_data = sys.argv[1:]
    funcs = Functions(link_map)
    binary = Binary(binary_path)
    hits = collections.Counter()
    for data in perf_data:
        hits.update(hot_functions(funcs, binary, data))
    try:
        earlier = [l.strip() for l in open(order_file) if l.strip()]
    except FileNotFoundError:
        earlier = []
    order = [ENTRY_SYMBOL] + [n for n, _ in hits.most_common() if n != ENTRY_SYMBOL]
    seen = set(order)
    kept = [n for n in earlier if n in funcs.names and n not in seen]
    with open(order_file, "w") as f:
        f.write("\n".join(order + kept) + "\n")
    print(f"link_order: {len(hits)} hot functions, {len(kept)} kept from the "
          f"earlier order, {len(earlier) - len(kept)} earlier entries dropped "
          f"or hot again", file=sys.stderr)


if __name__ == "__main__":
    main()
