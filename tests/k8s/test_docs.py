"""The README's "Deploy" section gives the commands the files support."""

import re

from conftest import REPO

DOC = REPO / "README.md"


def test_deploy_doc_has_the_commands():
    text = DOC.read_text()
    for command in (
        "kubectl apply -k k8s/overlays/spinkube",
        "kubectl apply -k k8s/overlays/host-runner",
        "spin registry push ghcr.io/",
        "docker build -t ghcr.io/",
        "helm install spin-operator",
        "cert-manager",
        "spin-operator.crds.yaml",
        "spin-operator.runtime-class.yaml",
        "kubectl -n spincrud rollout status deployment/spincrud",
        "kubectl -n spincrud delete job spincrud-migrate",
        "docker compose up",
        "docker compose up --build -d --scale host-runner=3",
        "docker compose exec nginx nginx -s reload",
        "k8s/components/spinkube-drain",
        "scripts/test-k8s.sh",
    ):
        assert command in text, f"README.md lacks `{command}`"


def test_deploy_doc_paths_exist():
    text = DOC.read_text()
    for path in set(re.findall(r"`((?:k8s|scripts|tests)/[A-Za-z0-9_./-]+)`", text)):
        path = path.split(" ")[0].rstrip(".")
        if "<" in path or ".venv" in path:
            continue
        assert (REPO / path).exists(), f"README.md names {path}, which does not exist"
