#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""The daemon's calls and #includes run downhill: no cycle among its
modules, and the request layer's lower files never reach up into the
handlers, the dispatcher or the event loop.

The graph comes from the source (scripts/layers, over #include lines and
calls of tp_* functions), never from a list kept here; the script itself
is checked on small trees that have a cycle.
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tplib import ROOT, check, eq, run_tests  # noqa: E402

LAYERS = os.path.join(ROOT, "scripts", "layers")


def layers(directory):
    p = subprocess.run([LAYERS, directory], capture_output=True, text=True, timeout=60)
    deps = {}
    for line in p.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[2] == "->":
            deps[parts[1]] = set() if parts[3:] == ["-"] else {d.strip(",") for d in parts[3:]}
    return p, deps


def write(directory, name, text):
    with open(os.path.join(directory, name), "w") as f:
        f.write(text)


def test_the_daemon_has_no_cycle():
    p, deps = layers(os.path.join(ROOT, "tokenpolicyd"))
    eq(p.returncode, 0, f"scripts/layers: {p.stdout} {p.stderr}")
    check("no cycle" in p.stdout, p.stdout)
    check({"server", "request", "handlers", "plan", "store"} <= set(deps), f"modules found: {sorted(deps)}")


def test_the_request_layer_runs_downhill():
    _, deps = layers(os.path.join(ROOT, "tokenpolicyd"))
    above = {
        # what each module must never depend on: everything above it
        "reply": {"rights", "plan", "control", "handlers", "query", "keys", "request", "server", "main"},
        "rights": {"plan", "control", "handlers", "query", "keys", "request", "server", "main"},
        "plan": {"lifecycle", "control", "handlers", "query", "keys", "request", "server", "main"},
        "control": {"handlers", "query", "keys", "request", "server", "main"},
        "handlers": {"request", "server", "main", "query", "keys", "delivery"},
        "query": {"request", "server", "main", "handlers", "keys", "delivery"},
        "keys": {"request", "server", "main", "handlers", "query"},
        "delivery": {"request", "server", "main", "handlers", "query", "keys"},
        "request": {"server", "main"},
        "lifecycle": {"plan", "control", "handlers", "query", "keys", "request", "server", "main"},
        "store": {"daemon", "lifecycle", "plan", "handlers", "request", "server"},
    }
    for module, forbidden in above.items():
        check(module in deps, f"{module} not found")
        eq(deps[module] & forbidden, set(), f"{module} reaches up")


def test_a_call_back_up_is_a_cycle():
    with tempfile.TemporaryDirectory(prefix="tptest-layers-") as d:
        write(d, "low.h", "int tp_low(void);\n")
        write(d, "low.c", '#include "low.h"\n#include "high.h"\nint tp_low(void)\n{\n        return tp_high();\n}\n')
        write(d, "high.h", "int tp_high(void);\n")
        write(d, "high.c", '#include "high.h"\nint tp_high(void)\n{\n        return 1;\n}\n')
        p, deps = layers(d)
        eq(p.returncode, 0, p.stdout)
        eq(deps.get("low"), {"high"}, p.stdout)
        # high now calls back up, without including low.h: still a cycle
        write(d, "high.c", 'int tp_low(void);\nint tp_high(void)\n{\n        return tp_low();\n}\n')
        p, _ = layers(d)
        eq(p.returncode, 1, p.stdout)
        check("cycle: high <-> low" in p.stdout, p.stdout)
        check("high.c calls tp_low()" in p.stdout, p.stdout)


def test_a_header_that_declares_another_files_api_is_that_file():
    with tempfile.TemporaryDirectory(prefix="tptest-layers-") as d:
        # shared.h declares what top.c defines; bottom.c includes it: bottom
        # then depends on top, which calls bottom
        write(d, "shared.h", "void tp_top(void);\nvoid tp_bottom(void);\n")
        write(d, "top.c", '#include "shared.h"\nvoid tp_top(void)\n{\n        tp_bottom();\n}\n')
        write(d, "bottom.c", '#include "shared.h"\nvoid tp_bottom(void)\n{\n}\n')
        p, _ = layers(d)
        eq(p.returncode, 1, p.stdout)
        check("bottom.c includes shared.h" in p.stdout, p.stdout)


TESTS = [(n, f) for n, f in list(globals().items()) if n.startswith("test_") and callable(f)]

if __name__ == "__main__":
    sys.exit(run_tests(TESTS))
