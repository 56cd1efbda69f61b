"""The locks in requirements/ agree with pyproject.toml, so `make install` never installs a set
of versions that pyproject.toml would not allow, nor misses or keeps a dependency.

A dependency added to pyproject.toml without `make lock`, a range tightened past the pinned
version, a dependency removed but still locked, or a runtime lock that drifted from the dev
lock's versions: each fails here, before anything is installed from a stale lock.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
LOCKS = ROOT / "requirements"
PROJECT = canonicalize_name("enrollwire")
# What the lock is resolved for (Makefile's LOCK_PYTHON); markers are judged on this interpreter.
ENVIRONMENT = {"python_version": "3.11", "python_full_version": "3.11.7", "sys_platform": "linux"}

PIN = re.compile(r"^(?P<name>[A-Za-z0-9._-]+)==(?P<version>[^\s;\\]+)")
VIA = re.compile(r"^#\s+(?:via\s+)?(?P<parent>\S.*)$")


@dataclass
class Lock:
    pins: dict[NormalizedName, set[Version]] = field(default_factory=dict)
    hashed: set[NormalizedName] = field(default_factory=set)
    # Who asked for each package, as uv's `# via` annotations name them.
    parents: dict[NormalizedName, set[str]] = field(default_factory=dict)


def read_lock(name: str) -> Lock:
    lock = Lock()
    current: NormalizedName | None = None
    for line in (LOCKS / name).read_text().splitlines():
        stripped = line.strip()
        if pin := PIN.match(line):
            current = canonicalize_name(pin["name"])
            lock.pins.setdefault(current, set()).add(Version(pin["version"]))
            lock.parents.setdefault(current, set())
        elif stripped.startswith("--hash=sha256:") and current is not None:
            lock.hashed.add(current)
        elif current is not None and line.startswith("    #") and (via := VIA.match(stripped)):
            lock.parents[current].add(via["parent"].split(" (")[0].strip())
    return lock


def pyproject() -> dict[str, object]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)


def declared(extras: tuple[str, ...]) -> list[Requirement]:
    """The project's requirements with the named extras, self-references expanded, plus the build
    backend (installed from the lock too, so that installing the project resolves nothing)."""
    data = pyproject()
    project = data["project"]
    build = data["build-system"]
    assert isinstance(project, dict) and isinstance(build, dict)
    optional: dict[str, list[str]] = project.get("optional-dependencies", {})
    wanted = list(project["dependencies"]) + list(build["requires"])
    todo, seen = list(extras), set[str]()
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for spec in optional[extra]:
            requirement = Requirement(spec)
            if canonicalize_name(requirement.name) == PROJECT:
                todo.extend(requirement.extras)
            else:
                wanted.append(spec)
    return [r for r in map(Requirement, wanted) if r.marker is None or r.marker.evaluate(ENVIRONMENT)]


def all_extras() -> tuple[str, ...]:
    project = pyproject()["project"]
    assert isinstance(project, dict)
    return tuple(project.get("optional-dependencies", {}))


SETS = [("runtime.txt", ()), ("dev.txt", all_extras())]


@pytest.mark.parametrize(("lock_name", "extras"), SETS)
def test_every_declared_dependency_is_locked_within_its_range(
    lock_name: str, extras: tuple[str, ...]
) -> None:
    lock = read_lock(lock_name)
    missing, outside = [], []
    for requirement in declared(extras):
        versions = lock.pins.get(canonicalize_name(requirement.name))
        if not versions:
            missing.append(str(requirement))
        elif not any(requirement.specifier.contains(v, prereleases=True) for v in versions):
            outside.append(f"{requirement} (locked {', '.join(map(str, sorted(versions)))})")
    assert not missing, f"in pyproject.toml but not in requirements/{lock_name}: {missing}; run `make lock`"
    assert not outside, f"requirements/{lock_name} pins outside pyproject.toml's range: {outside}"


@pytest.mark.parametrize(("lock_name", "extras"), SETS)
def test_nothing_is_locked_that_pyproject_does_not_ask_for(lock_name: str, extras: tuple[str, ...]) -> None:
    lock = read_lock(lock_name)
    reachable = {canonicalize_name(r.name) for r in declared(extras)}
    grew = True
    while grew:
        grew = False
        for name, parents in lock.parents.items():
            if name not in reachable and {canonicalize_name(p) for p in parents} & reachable:
                reachable.add(name)
                grew = True
    stale = sorted(set(lock.pins) - reachable)
    assert not stale, f"requirements/{lock_name} locks what pyproject.toml no longer asks for: {stale}"


@pytest.mark.parametrize("lock_name", ["runtime.txt", "dev.txt", "bootstrap.txt"])
def test_every_pin_is_exact_and_hashed(lock_name: str) -> None:
    lock = read_lock(lock_name)
    assert lock.pins, f"requirements/{lock_name} pins nothing"
    assert set(lock.pins) == lock.hashed, f"pins without hashes: {sorted(set(lock.pins) - lock.hashed)}"


def test_the_image_runs_the_versions_the_tests_ran() -> None:
    runtime, dev = read_lock("runtime.txt"), read_lock("dev.txt")
    drifted = {n: (v, dev.pins.get(n)) for n, v in runtime.pins.items() if v != dev.pins.get(n)}
    assert not drifted, f"runtime.txt and dev.txt pin different versions: {drifted}"


def test_bootstrap_installs_the_locked_uv() -> None:
    uv = canonicalize_name("uv")
    assert read_lock("bootstrap.txt").pins == {uv: read_lock("dev.txt").pins[uv]}


def test_build_in_matches_the_build_system() -> None:
    build = pyproject()["build-system"]
    assert isinstance(build, dict)
    lines = (LOCKS / "build.in").read_text().splitlines()
    listed = [line for line in lines if line.strip() and not line.startswith("#")]
    assert listed == list(build["requires"])
