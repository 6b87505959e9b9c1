"""Dockerfile: multi-stage, pinned bases, non-root, contains host-runner, spin.toml and the
components at the paths spin.toml names; hadolint-clean; .dockerignore keeps what the build needs."""

import subprocess
from pathlib import PurePosixPath

import pytest

from conftest import REPO, image_has_tag_or_digest, spin_manifest, tool
from dockerfile import stages

DOCKERFILE = REPO / "Dockerfile"
WASM_DIR = "target/wasm32-wasip1/release"


@pytest.fixture(scope="module")
def parsed():
    return stages(DOCKERFILE)


def test_multi_stage(parsed):
    assert len(parsed) >= 2
    assert parsed[0]["name"], "the build stage needs a name"


def test_base_images_are_pinned(parsed):
    for stage in parsed:
        image = stage["image"]
        if any(s["name"] == image for s in parsed):
            continue  # FROM an earlier stage
        assert image_has_tag_or_digest(image), f"FROM {image}: tag it (not latest) or pin a digest"


def final(parsed):
    return parsed[-1]["instructions"]


def test_runs_as_non_root(parsed):
    users = [rest for instr, rest in final(parsed) if instr == "USER"]
    assert users, "the final stage sets no USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), f"USER {users[-1]}"


def test_final_stage_is_minimal(parsed):
    image = parsed[-1]["image"]
    assert image.startswith(("gcr.io/distroless/", "scratch", "cgr.dev/chainguard/")), image


def test_build_stage_builds_host_runner_and_components(parsed):
    runs = " ".join(rest for s in parsed[:-1] for instr, rest in s["instructions"] if instr == "RUN")
    assert "rustup target add wasm32-wasip1" in runs
    assert "cargo build --release -p host-runner" in runs
    assert "make components" in runs


def test_image_contents_and_settings(parsed):
    text = DOCKERFILE.read_text()
    instrs = final(parsed)
    copies = " ".join(rest for instr, rest in instrs if instr == "COPY")
    assert "/usr/local/bin/host-runner" in copies
    assert "/app/" in copies
    # spin.toml and the components land in /app (copied from /out/app of the build stage)
    assert "cp spin.toml /out/app/spin.toml" in text
    assert f"/out/app/{WASM_DIR}" in text
    env = " ".join(rest for instr, rest in instrs if instr == "ENV")
    assert ("WORKDIR", "/app") in instrs, "spin.toml is found in the working directory"
    assert "LISTEN=0.0.0.0:3000" in env
    assert ("EXPOSE", "3000") in instrs
    entry = [rest for instr, rest in instrs if instr == "ENTRYPOINT"]
    assert entry and "host-runner" in entry[-1]


def test_spin_toml_components_are_where_the_image_puts_them():
    components = spin_manifest().get("component", {})
    if not components:
        pytest.skip("spin.toml declares no components yet")
    for name, comp in components.items():
        source = comp.get("source")
        if isinstance(source, str):
            path = PurePosixPath(source)
            assert str(path.parent) == WASM_DIR and path.suffix == ".wasm", (
                f"component {name}: source {source} is not in {WASM_DIR}/, which the image copies"
            )


def test_hadolint():
    proc = subprocess.run(
        [tool("hadolint"), "--failure-threshold", "warning", str(DOCKERFILE)],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dockerignore_keeps_what_the_build_needs():
    patterns = [
        line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for must in ("**/target", ".git"):
        assert must in patterns, f".dockerignore should exclude {must}"
    needed = ["Cargo.toml", "spin.toml", "components", "host-runner", "migrations", "data", "wit", "tests", "Makefile", "scripts"]
    for path in needed:
        assert path not in patterns and f"{path}/" not in patterns, f".dockerignore excludes {path}, which the build needs"
