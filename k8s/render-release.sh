#!/usr/bin/env bash
# Render one overlay with the images pinned to released references (normally digests),
# without editing the tracked kustomizations:
#
#   k8s/render-release.sh spinkube \
#     ghcr.io/acme/host-runner@sha256:... ghcr.io/acme/spincrud@sha256:... > spinkube.yaml
#
# Arguments: FLAVOUR (spinkube | host-runner), HOST_RUNNER_IMAGE, SPIN_IMAGE; each image is
# NAME@sha256:DIGEST or NAME:TAG. Uses `kubectl kustomize` ($KUBECTL, default kubectl).
set -euo pipefail

if [ "$#" -ne 3 ]; then
  echo "usage: $0 spinkube|host-runner HOST_RUNNER_IMAGE SPIN_IMAGE" >&2
  exit 2
fi
flavour=$1 host_runner_image=$2 spin_image=$3
here=$(cd "$(dirname "$0")" && pwd)
case "$flavour" in
  spinkube | host-runner) ;;
  *) echo "unknown flavour: $flavour" >&2; exit 2 ;;
esac

# image reference -> kustomize images: entry fields
image_entry() {
  local ref=$1 name
  if [[ "$ref" == *@sha256:* ]]; then
    name=${ref%@*}
    printf '    newName: %s\n    digest: %s\n' "$name" "${ref#*@}"
  elif [[ "${ref##*/}" == *:* ]]; then
    name=${ref%:*}
    printf '    newName: %s\n    newTag: %s\n' "$name" "${ref##*:}"
  else
    echo "image reference without tag or digest: $ref" >&2
    exit 2
  fi
}
host_runner_entry=$(image_entry "$host_runner_image")
spin_entry=$(image_entry "$spin_image")

work=$(mktemp -d "$here/.release.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp "$here/components/images/spinapp-images.yaml" "$work/"
cat >"$work/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../overlays/$flavour
configurations:
  - spinapp-images.yaml
images:
  - name: ghcr.io/spincrud/host-runner
$host_runner_entry
  - name: ghcr.io/spincrud/spincrud
$spin_entry
YAML
"${KUBECTL:-kubectl}" kustomize "$work"
