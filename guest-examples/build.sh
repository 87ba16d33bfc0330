#!/usr/bin/env bash
# Builds every guest example into guest-examples/out/<name>.wasm.
#
#   ./build.sh                  build what is out of date (all guests)
#   ./build.sh chaos js-hello   only these guests
#   ./build.sh --force ...      rebuild even when the output looks current
#   ./build.sh --check ...      afterwards, list each output's imports and fail
#                               if one imports anything outside our package and
#                               the WASI subset the Rust standard library needs
#
# Installs what it needs on first use (the machines keep nothing between
# sessions): the wasm32-wasip2 Rust target, componentize-py in
# guest-examples/.venv, componentize-js in each JavaScript guest's node_modules
# (js-hello, ext-notes: `npm ci` from its package-lock.json).
# A guest is skipped when its output is newer than every one of its sources
# and the WIT package, so repeated runs (tests, CI) cost nothing.
# Exits non-zero when anything fails.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
wit="$here/../wit"
out="$here/out"
# Pinned: the versions these examples were verified with.
componentize_py_version="0.25.1"

rust_guests=(touch-lift chat-echo penrose traffic counter chaos escape ext-chaos ext-leaderboard ext-spatial ext-tutorial ext-caller ext-ticker)
# JavaScript guests and the WIT world each is built for (its build.mjs names it).
js_guests=(js-hello ext-notes)
all_guests=("${rust_guests[@]}" python-hello "${js_guests[@]}")

force=0
check=0
wanted=()
for arg in "$@"; do
    case "$arg" in
        --force) force=1 ;;
        --check) check=1 ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        -*) echo "build.sh: unknown option $arg" >&2; exit 2 ;;
        *)
            if [[ " ${all_guests[*]} " != *" $arg "* ]]; then
                echo "build.sh: unknown guest $arg (known: ${all_guests[*]})" >&2
                exit 2
            fi
            wanted+=("$arg") ;;
    esac
done
((${#wanted[@]})) || wanted=("${all_guests[@]}")

mkdir -p "$out"

is_wanted() { [[ " ${wanted[*]} " == *" $1 "* ]]; }

# Sources of a guest: its own folder (minus installed or generated files), the
# WIT package, and for Rust the shared helper crate and the workspace files.
sources() {
    local name="$1"
    local dirs=("$here/$name" "$wit")
    if [[ " ${rust_guests[*]} " == *" $name "* ]]; then
        dirs+=("$here/guest-util" "$here/Cargo.toml" "$here/Cargo.lock")
    fi
    find "${dirs[@]}" \( -name node_modules -o -name __pycache__ -o -name target \) -prune \
        -o -type f -print
}

# True when out/<name>.wasm exists and no source is newer.
current() {
    local name="$1" target="$out/$1.wasm"
    ((force)) && return 1
    [[ -f "$target" ]] || return 1
    [[ -z "$(sources "$name" | while read -r f; do [[ "$f" -nt "$target" ]] && { echo "$f"; break; }; done)" ]]
}

size_of() { stat -c %s "$1"; }

built=()
skipped=()

# --- Rust guests: one cargo invocation for all stale ones -------------------
stale_rust=()
for name in "${rust_guests[@]}"; do
    is_wanted "$name" || continue
    if current "$name"; then skipped+=("$name"); else stale_rust+=("$name"); fi
done
if ((${#stale_rust[@]})); then
    if ! rustup target list --installed | grep -qx wasm32-wasip2; then
        echo "== installing the wasm32-wasip2 Rust target"
        rustup target add wasm32-wasip2
    fi
    packages=()
    for name in "${stale_rust[@]}"; do packages+=(-p "$name"); done
    echo "== cargo build (${stale_rust[*]})"
    start=$SECONDS
    # The guests' own target dir, never the host workspace's: the two
    # workspaces must not invalidate each other's caches.
    (cd "$here" && CARGO_TARGET_DIR="$here/target" cargo build --release --target wasm32-wasip2 "${packages[@]}")
    for name in "${stale_rust[@]}"; do
        # Cargo names the artifact after the crate, with '-' turned into '_'.
        cp "$here/target/wasm32-wasip2/release/${name//-/_}.wasm" "$out/$name.wasm"
        built+=("$name ($(size_of "$out/$name.wasm") bytes)")
    done
    echo "   rust guests took $((SECONDS - start)) s"
fi

# --- Python guest (componentize-py) -----------------------------------------
if is_wanted python-hello; then
    if current python-hello; then
        skipped+=(python-hello)
    else
        venv="$here/.venv"
        if ! "$venv/bin/componentize-py" --version 2>/dev/null | grep -q "$componentize_py_version"; then
            echo "== installing componentize-py $componentize_py_version into $venv"
            [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
            "$venv/bin/pip" install --quiet "componentize-py==$componentize_py_version"
        fi
        echo "== componentize-py python-hello"
        start=$SECONDS
        # --stub-wasi: every WASI import becomes a trapping stub, so the
        # component imports only our package and needs no WASI from the host
        # (without it componentize-py imports filesystem, sockets, clocks...).
        # The app never prints, so no stub is ever reached.
        (cd "$here" && "$venv/bin/componentize-py" -d "$wit" -w region-script \
            componentize --stub-wasi -p python-hello app -o "$out/python-hello.wasm")
        built+=("python-hello ($(size_of "$out/python-hello.wasm") bytes, $((SECONDS - start)) s)")
    fi
fi

# --- JavaScript guests (componentize-js) ------------------------------------
for name in "${js_guests[@]}"; do
    is_wanted "$name" || continue
    if current "$name"; then
        skipped+=("$name")
        continue
    fi
    js="$here/$name"
    if [[ ! -d "$js/node_modules/@bytecodealliance/componentize-js" ]]; then
        echo "== installing componentize-js for $name"
        # npm ci installs exactly the lock file, which lists every
        # platform's optional packages; a lock out of sync with
        # package.json fails here loudly (regenerate it with
        # `npm install --package-lock-only`).
        (cd "$js" && npm ci --no-audit --no-fund)
    fi
    echo "== componentize-js $name"
    start=$SECONDS
    (cd "$js" && node build.mjs "$out/$name.wasm")
    built+=("$name ($(size_of "$out/$name.wasm") bytes, $((SECONDS - start)) s)")
done

# --- Optional import check ---------------------------------------------------
if ((check)); then
    jco="$here/js-hello/node_modules/.bin/jco"
    if [[ ! -x "$jco" ]]; then
        (cd "$here/js-hello" && npm ci --no-audit --no-fund)
    fi
    bad=0
    for name in "${wanted[@]}"; do
        imports="$("$jco" wit "$out/$name.wasm" | sed -n 's/^ *import \([^;]*\);.*/\1/p')"
        echo "== $name imports: $(echo "$imports" | sed 's/@.*//' | tr '\n' ' ')"
        # Our package, plus what Rust's std links on wasm32-wasip2 (stdio,
        # environment, exit). Anything else is a guest the host would refuse.
        unexpected="$(echo "$imports" | grep -Ev '^(opensim:dispatcher/|wasi:io/|wasi:cli/)' || true)"
        if [[ -n "$unexpected" ]]; then
            echo "   unexpected imports: $unexpected" >&2
            bad=1
        fi
    done
    ((bad == 0)) || exit 1
fi

((${#built[@]})) && printf 'built:   %s\n' "${built[@]}"
((${#skipped[@]})) && printf 'current: %s\n' "${skipped[@]}"
exit 0
