"""Every rendered object is valid: core kinds against the Kubernetes OpenAPI schemas
(kubernetes-validate, strict: unknown fields are errors), SpinApp/SpinAppExecutor against
the SpinKube CRDs in tests/k8s/crds (unknown fields are errors too: the API server would
silently prune them)."""

import copy

import jsonschema
import kubernetes_validate
import pytest

from conftest import crds, key, render

# Oldest and newest Kubernetes versions we claim (preStop `sleep` needs 1.30+).
K8S_VERSIONS = ["1.30.0", "1.37.0"]
CUSTOM_GROUPS = {"core.spinkube.dev"}


def is_custom(obj):
    return obj["apiVersion"].split("/")[0] in CUSTOM_GROUPS


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("target", ["spinkube", "host-runner"])
def test_core_objects_match_kubernetes_openapi(target, version):
    errors = []
    for obj in render(target):
        if is_custom(obj):
            continue
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            path = "/".join(str(p) for p in e.path)
            errors.append(f"{key(obj)} at {path or '<root>'}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError:
            errors.append(f"{key(obj)}: no schema for {obj['apiVersion']} in Kubernetes {version}")
    assert not errors, "\n".join(errors)


def strict_schema(schema):
    """A CRD structural schema as JSON Schema that rejects fields it does not declare."""
    schema = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if (
                "properties" in node
                and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
            ):
                node["additionalProperties"] = False
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(schema)
    # metadata is validated by the API server, not by the CRD schema
    schema["properties"]["metadata"] = {"type": "object"}
    return schema


def test_crds_are_loaded():
    kinds = {kind for (_, _, kind) in crds()}
    assert {"SpinApp", "SpinAppExecutor"} <= kinds


@pytest.mark.parametrize("target", ["spinkube", "host-runner"])
def test_custom_objects_match_crds(target):
    errors = []
    for obj in render(target):
        if not is_custom(obj):
            continue
        group, version = obj["apiVersion"].split("/")
        schema = crds().get((group, version, obj["kind"]))
        if schema is None:
            errors.append(f"{key(obj)}: no CRD serves {obj['apiVersion']} {obj['kind']}")
            continue
        validator = jsonschema.Draft7Validator(strict_schema(schema))
        for e in validator.iter_errors(obj):
            path = "/".join(str(p) for p in e.path)
            errors.append(f"{key(obj)} at {path or '<root>'}: {e.message}")
    assert not errors, "\n".join(errors)


def test_strict_crd_validation_catches_typos():
    """The CRD check is not vacuous: a misspelt field and a wrong type are errors."""
    schema = next(s for (g, v, k), s in crds().items() if k == "SpinApp")
    validator = jsonschema.Draft7Validator(strict_schema(schema))
    good = {"apiVersion": "core.spinkube.dev/v1alpha1", "kind": "SpinApp",
            "metadata": {"name": "x"}, "spec": {"image": "r/x:1", "executor": "e", "replicas": 2}}
    assert not list(validator.iter_errors(good))
    typo = copy.deepcopy(good)
    typo["spec"]["check"] = {}
    assert list(validator.iter_errors(typo))
    wrong = copy.deepcopy(good)
    wrong["spec"]["replicas"] = "two"
    assert list(validator.iter_errors(wrong))
