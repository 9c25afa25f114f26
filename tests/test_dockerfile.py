"""The Dockerfile is checked by parsing and linting: no container engine runs in CI.

The image must hold every local package the app imports and every path a
compose service's command names, and beat's schedule must be writable by the
user the image runs as.
"""

import ast
import shlex
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
# Packages the app ships; tests/ and benchmarks/ stay out of the image.
APP_PACKAGES = ("config", "annotation", "training", "scaling", "api")


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    instructions, pending = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = pending + stripped
        pending = ""
        keyword, _, arguments = full.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
    return instructions


class Image:
    """What the Dockerfile puts where, read from its instructions."""

    def __init__(self, text: str):
        self.instructions = dockerfile_instructions(text)
        self.workdir = PurePosixPath("/")
        self.copied: dict[str, PurePosixPath] = {}  # build-context path → path in the image
        self.created: set[PurePosixPath] = set()
        self.owned_by: dict[PurePosixPath, str] = {}
        self.user = "root"
        self.cmd: list[str] = []
        for keyword, arguments in self.instructions:
            if keyword == "WORKDIR":
                self.workdir = self.workdir / arguments
                self.created.add(self.workdir)
            elif keyword == "COPY":
                self._copy([word for word in shlex.split(arguments) if not word.startswith("--")])
            elif keyword == "RUN":
                self._run(arguments)
            elif keyword == "USER":
                self.user = arguments
            elif keyword == "CMD":
                self.cmd = yaml.safe_load(arguments)

    def _copy(self, words: list[str]) -> None:
        *sources, destination = words
        target = self.workdir / destination
        into_directory = destination.endswith("/") or len(sources) > 1
        for source in sources:
            self.copied[source.rstrip("/")] = target / PurePosixPath(source).name if into_directory else target

    def _run(self, command: str) -> None:
        for step in command.split("&&"):
            words = shlex.split(step)
            # An inline `NAME=value command` sets the environment of that one command.
            while words and "=" in words[0] and not words[0].startswith("-"):
                words = words[1:]
            if not words:
                continue
            arguments = [word for word in words[1:] if not word.startswith("-")]
            if words[0] == "mkdir":
                self.created.update(PurePosixPath(path) for path in arguments)
            elif words[0] == "chown" and arguments:
                owner, *paths = arguments
                self.owned_by.update({PurePosixPath(path): owner for path in paths})

    def has(self, path: PurePosixPath) -> bool:
        """A file or folder copied in (or inside one copied in), or a folder made by RUN/WORKDIR."""
        if path in self.created:
            return True
        return any(path == copied or copied in path.parents for copied in self.copied.values())

    def writable(self, directory: PurePosixPath) -> bool:
        return self.owned_by.get(directory) == self.user


@pytest.fixture(scope="module")
def image() -> Image:
    return Image((ROOT / "Dockerfile").read_text())


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def local_top_level_imports() -> set[str]:
    """Names of this repository's top-level modules and packages that the app imports."""
    local = {path.stem for path in ROOT.iterdir() if path.suffix == ".py" or (path / "__init__.py").exists()}
    files = [ROOT / "manage.py"] + [path for package in APP_PACKAGES for path in (ROOT / package).rglob("*.py")]
    imported = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    return imported & local


def test_every_local_app_and_imported_package_is_copied_to_its_place(image, settings):
    local_apps = {app.split(".")[0] for app in settings.INSTALLED_APPS if (ROOT / app.split(".")[0]).is_dir()}
    needed = local_apps | local_top_level_imports() | {"config", "manage.py"}
    assert not {"tests", "benchmarks"} & needed, "the app imports test or benchmark code"
    for name in sorted(needed):
        assert image.copied.get(name) == image.workdir / name, f"the Dockerfile does not COPY {name}"


def test_template_and_static_folders_are_copied(image, settings):
    folders = [*settings.TEMPLATES[0]["DIRS"], *settings.STATICFILES_DIRS]
    for folder in folders:
        relative = Path(folder).relative_to(settings.BASE_DIR).as_posix()
        assert image.copied.get(relative) == image.workdir / relative, f"the Dockerfile does not COPY {relative}"


def test_the_image_does_not_run_as_root(image):
    assert image.user not in {"root", "0", "0:0"}


def app_commands(compose: dict, image: Image) -> dict[str, list[str]]:
    commands = {name: service["command"] for name, service in compose["services"].items() if "build" in service}
    commands["Dockerfile CMD"] = image.cmd
    return commands


def module_in_image(image: Image, dotted: str) -> bool:
    parts = dotted.split(".")
    as_module = image.workdir.joinpath(*parts[:-1], parts[-1] + ".py")
    as_package = image.workdir.joinpath(*parts, "__init__.py")
    return image.has(as_module) or image.has(as_package)


def test_each_app_command_names_modules_and_files_the_image_has(compose, image):
    commands = app_commands(compose, image)
    assert {"web", "migrate", "worker-cpu", "worker-gpu", "beat"} <= set(commands)
    for name, command in commands.items():
        program = command[0]
        if program == "python":
            assert image.has(image.workdir / command[1]), f"{name}: {command[1]} is not in the image"
        elif program == "gunicorn":
            assert module_in_image(image, command[1].split(":")[0]), f"{name}: no module {command[1]}"
        elif program == "celery":
            app = command[command.index("-A") + 1]
            assert module_in_image(image, f"{app}.celery"), f"{name}: no Celery app {app}"
        else:
            pytest.fail(f"{name}: unknown program {program!r}")


def test_beat_writes_its_schedule_where_the_image_user_may_write(compose, image):
    beat = compose["services"]["beat"]
    schedule = PurePosixPath(beat["command"][beat["command"].index("--schedule") + 1])
    folder = schedule.parent
    assert image.has(folder), f"{folder} is not made in the image"
    assert image.writable(folder), f"{folder} is not owned by the image's user {image.user}"
    mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in beat.get("volumes", [])}
    if str(folder) in mounts:
        # A named volume starts as a copy of the image's folder, owner included; a bind mount would not.
        assert mounts[str(folder)] in compose["volumes"], f"{folder} is a bind mount, owned by the host"


def test_the_dockerfile_linter_reports_nothing():
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run(
        [str(hadolint), "--no-color", "--failure-threshold", "info", str(ROOT / "Dockerfile")],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
