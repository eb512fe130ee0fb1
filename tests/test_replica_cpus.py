"""Which CPU each replica is kept on (``deploy/replicas.cpu_plan``) and how a replica keeps itself there
(``deploy/serve.pin_cpus``, from ``CALC_CPUS``). ``tests/test_deploy.py`` checks the running replicas' threads."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from deploy.replicas import ROOT, cpu_plan
from deploy.serve import parse_cpus


def test_plan_pins_one_replica_per_cpu_by_default_and_never_unasked_otherwise():
    assert cpu_plan(2, allowed={0, 1}) == [0, 1]
    assert cpu_plan(4, allowed={2, 3, 6, 7}) == [2, 3, 6, 7]  # a container's cpuset: its own CPUs, in order
    # not one per CPU: the CPUs may not be this deployment's own to split (a CPU quota shows every host CPU)
    assert cpu_plan(2, allowed=set(range(16))) == [None, None]
    assert cpu_plan(3, allowed={0, 1}) == [None, None, None]
    assert cpu_plan(1, allowed={0, 1}) == [None]


def test_plan_pin_true_round_robin_and_false_none():
    assert cpu_plan(1, True, {4, 5}) == [4]
    assert cpu_plan(5, True, {0, 2}) == [0, 2, 0, 2, 0]
    assert cpu_plan(2, False, {0, 1}) == [None, None]


def test_parse_cpus_taskset_list_format():
    assert parse_cpus("3") == {3}
    assert parse_cpus("0,2") == {0, 2}
    assert parse_cpus("0-3, 8") == {0, 1, 2, 3, 8}
    for bad in ("", "a", "3-1", "-1", "0-5000", "1,,2"):
        with pytest.raises(ValueError):
            parse_cpus(bad)


def _child(spec: str | None) -> tuple[dict, str]:
    """A fresh interpreter that calls ``pin_cpus(spec)`` first, then starts a thread: (what it reports, stderr)."""
    code = ("import json, os, sys, threading; sys.path.insert(0, sys.argv[1]); from deploy.serve import pin_cpus;"
            "got = pin_cpus(None if sys.argv[2] == '-' else sys.argv[2]); seen = {};"
            "t = threading.Thread(target=lambda: seen.update(thread=sorted(os.sched_getaffinity(0)))); t.start(); t.join();"
            "print(json.dumps({'got': sorted(got) if got else None, 'main': sorted(os.sched_getaffinity(0)), **seen}))")
    r = subprocess.run([sys.executable, "-c", code, str(ROOT), spec or "-"], capture_output=True, text=True,
                       timeout=60, check=True)
    return json.loads(r.stdout), r.stderr


def test_pin_keeps_the_process_and_its_later_threads_on_the_cpus():
    allowed = sorted(os.sched_getaffinity(0))
    last = allowed[-1]
    out, err = _child(str(last))
    assert out == {"got": [last], "main": [last], "thread": [last]}, (out, err)
    assert err == ""


def test_pin_ignores_what_it_cannot_apply_and_says_so():
    allowed = sorted(os.sched_getaffinity(0))
    out, err = _child(None)  # not set: left as it was, silently
    assert out == {"got": None, "main": allowed, "thread": allowed} and err == ""
    for spec in ("4095", "x"):  # a CPU this process may not use (none has 4,096 here); not a CPU list
        out, err = _child(spec)
        assert out == {"got": None, "main": allowed, "thread": allowed}, (spec, out)
        assert err.startswith(f"CALC_CPUS={spec!r} ignored:") and err.count("\n") == 1, err
