"""The GitHub Actions workflow and the repo's shell scripts lint clean (actionlint runs
shellcheck on `run:` blocks), and the pipeline does what the deploy docs promise."""

import os
import subprocess

import yaml

from conftest import REPO, VENV_BIN, tool

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.y*ml"))
SCRIPTS = [REPO / "scripts" / "test-k8s.sh", REPO / "k8s" / "render-release.sh"]


def test_actionlint():
    assert WORKFLOWS, "no workflow in .github/workflows"
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(
        [tool("actionlint"), "-shellcheck", tool("shellcheck"), *map(str, WORKFLOWS)],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_shellcheck_scripts():
    proc = subprocess.run(
        [tool("shellcheck"), *map(str, SCRIPTS)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_pipeline_tests_builds_pushes_and_renders():
    text = "\n".join(w.read_text() for w in WORKFLOWS)
    for needle in (
        "make test",
        "docker/build-push-action",
        "ghcr.io",
        "spin registry push",
        "k8s/render-release.sh",
    ):
        assert needle in text, f"the workflow does not run {needle}"


def test_only_publishing_jobs_may_write_packages():
    for wf in WORKFLOWS:
        doc = yaml.safe_load(wf.read_text())
        assert doc.get("permissions") == {"contents": "read"}, f"{wf.name}: default permissions"
        for name, job in doc["jobs"].items():
            perms = job.get("permissions", {})
            if perms.get("packages") == "write":
                assert "github.event_name == 'push'" in job.get("if", ""), f"{wf.name}:{name} may push from PRs"
