#!/usr/bin/env bash
# Builds spincrud's Spin components (wasm32-wasip1, release, size-oriented) in one command.
#
#   scripts/build-components.sh              # all seven components
#   scripts/build-components.sh cats ops     # only these (what each `spin build` step runs)
#   scripts/build-components.sh --core-only  # only check that spincrud-core builds for wasm32
#   scripts/build-components.sh --floors     # the benchmark's floor components (bench/floor)
#
# Artifacts: target/wasm32-wasip1/release/spincrud_<component>.wasm (the `source`s of spin.toml),
# and for `docs` the static site it serves, target/docs-ui (scripts/build-docs-ui.sh; npm).
#
# Toolchain (see DEVELOPERS.md):
# - rustup with the wasm32-wasip1 target installed: plain `cargo build --target wasm32-wasip1`;
# - otherwise, on Debian/Ubuntu: Debian's rustc-web toolchain builds the wasm32-wasip1 standard
#   library from source (-Zbuild-std) and links against Debian's wasi-libc with lld. The apt
#   packages are installed when missing (as root, or through sudo).
# A second run with nothing changed is a cargo no-op (a few seconds).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

ALL_COMPONENTS=(cats passengers configs data users ops docs)
# The benchmark's floors (bench/floor/spin.toml), built the same way but only when asked.
FLOOR_COMPONENTS=(floor-ok floor-padded floor-store)
TARGET=wasm32-wasip1
MAX_BYTES=$((1024 * 1024))
APT_PACKAGES=(rustc-web cargo-web rust-web-src wasi-libc lld)

core_only=false
components=()
for arg in "$@"; do
    case "$arg" in
        --core-only) core_only=true ;;
        --floors) components+=("${FLOOR_COMPONENTS[@]}") ;;
        -h | --help) sed -n '2,16p' scripts/build-components.sh; exit 0 ;;
        -*) echo "build-components: unknown option '$arg'" >&2; exit 2 ;;
        *) components+=("$arg") ;;
    esac
done
if [ ${#components[@]} -eq 0 ]; then
    components=("${ALL_COMPONENTS[@]}")
fi
packages=()
if $core_only; then
    # The core on its own, for wasm32-wasip1: proves it stays target-neutral (no artifact).
    components=()
    packages=(-p spincrud-core)
fi
# (`${a[@]+"${a[@]}"}`: an empty array under `set -u` in bash < 4.4, e.g. macOS's bash 3.2.)
for c in ${components[@]+"${components[@]}"}; do
    if [[ ! " ${ALL_COMPONENTS[*]} ${FLOOR_COMPONENTS[*]} " == *" $c "* ]]; then
        echo "build-components: unknown component '$c' (known: ${ALL_COMPONENTS[*]} ${FLOOR_COMPONENTS[*]})" >&2
        exit 2
    fi
    packages+=(-p "spincrud-$c")
done

# Size-oriented release settings for the components only (the workspace's [profile.release]
# serves host-runner too). Passed on the command line so that `spin build`, CI and this script
# all build the same bytes.
profile=(
    --config 'profile.release.opt-level="s"'
    --config 'profile.release.lto=true'
    --config 'profile.release.codegen-units=1'
    --config 'profile.release.strip=true'
    --config 'profile.release.panic="abort"'
    # A 256 KiB stack instead of wasm-ld's 1 MiB: the stack is part of the memory an instance
    # starts with, which Spin's pooling allocator (2 MiB kept resident) zeroes after every
    # request. serde_json's nesting limit (128) bounds the deepest recursion.
    --config "target.$TARGET.rustflags=[\"-Clink-arg=-zstack-size=262144\"]"
)

have_rustup_target() {
    command -v rustup >/dev/null 2>&1 &&
        rustup target list --installed 2>/dev/null | grep -qx "$TARGET"
}

missing_apt_packages() {
    local p
    for p in "${APT_PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
            echo "$p"
        fi
    done
}

install_fallback_toolchain() {
    local missing
    missing=$(missing_apt_packages | tr '\n' ' ')
    [ -z "$missing" ] && return 0
    echo "build-components: installing Debian's wasm toolchain: $missing" >&2
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo=(sudo)
        else
            cat >&2 <<EOF
build-components: the wasm32-wasip1 target is not installed and the fallback toolchain is missing.
Either install the target with rustup:
    rustup target add $TARGET
or install Debian's toolchain (as root):
    apt-get update && apt-get install -y ${APT_PACKAGES[*]}
EOF
            exit 1
        fi
    fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
    # shellcheck disable=SC2086 # word splitting of the package list is intended
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >&2
}

# Cargo unifies a package's features over everything one command builds: the `data` component,
# whose core carries the bundled dataset (feature bundled-dataset), is built on its own, so that
# the others do not carry it too.
batches=()
rest=()
for p in ${packages[@]+"${packages[@]}"}; do
    case "$p" in
        -p) ;;
        spincrud-data) batches+=("-p spincrud-data") ;;
        *) rest+=("-p $p") ;;
    esac
done
[ ${#rest[@]} -gt 0 ] && batches+=("${rest[*]}")

build() {
    if have_rustup_target; then
        cargo build --release --target "$TARGET" "${profile[@]}" "$@"
    else
        # RUSTC_BOOTSTRAP=1 lets Debian's stable cargo/rustc use -Zbuild-std.
        RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 /usr/bin/cargo build --release --target "$TARGET" \
            -Zbuild-std=std,panic_abort \
            --config "target.$TARGET.linker=\"wasm-ld\"" \
            --config "target.$TARGET.rustflags=[\"-Clink-self-contained=no\",\"-L/usr/lib/wasm32-wasi\"]" \
            "${profile[@]}" "$@"
    fi
}

start=$(date +%s)
if have_rustup_target; then
    echo "build-components: rustup's $TARGET target" >&2
elif command -v dpkg-query >/dev/null 2>&1; then
    echo "build-components: no rustup $TARGET target; Debian's toolchain with -Zbuild-std" >&2
    install_fallback_toolchain
else
    cat >&2 <<EOF
build-components: the $TARGET target is not installed. Install it with:
    rustup target add $TARGET
EOF
    exit 1
fi
for batch in ${batches[@]+"${batches[@]}"}; do
    # shellcheck disable=SC2086 # a batch is a list of -p arguments, split on purpose
    build $batch
done
end=$(date +%s)

if $core_only; then
    echo "build-components: spincrud-core builds for $TARGET ($((end - start)) s)" >&2
    exit 0
fi

# The docs component's `files` mount: spin.toml (and host-runner's wasm engine) need it too.
if [[ " ${components[*]} " == *" docs "* ]]; then
    scripts/build-docs-ui.sh
fi

target_dir=${CARGO_TARGET_DIR:-target}
status=0
echo "build-components: built in $((end - start)) s" >&2
for c in "${components[@]}"; do
    wasm="$target_dir/$TARGET/release/spincrud_${c//-/_}.wasm"
    if [ ! -f "$wasm" ]; then
        echo "build-components: missing $wasm" >&2
        status=1
        continue
    fi
    bytes=$(wc -c <"$wasm")
    note=""
    if [ "$bytes" -gt "$MAX_BYTES" ]; then
        note="  OVER the 1 MiB budget"
        status=1
    fi
    printf '%-56s %9d bytes (%4d KiB)%s\n' "$wasm" "$bytes" "$(((bytes + 1023) / 1024))" "$note"
done
exit $status
