# shellcheck shell=bash
# Helpers shared by bin/run and bin/test. Source it, don't run it:
#
#     . "$(dirname "${BASH_SOURCE[0]}")/_lib.sh"
#
# Sourcing it moves the shell to the repository root (REPO_ROOT), so every path
# below is relative to that. It never changes shell options: callers set
# `set -euo pipefail` themselves.

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    echo "bin/_lib.sh holds helpers for bin/run and bin/test; it is sourced, not run." >&2
    exit 1
fi

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
VENV_DIR="$REPO_ROOT/.venv"
export REPO_ROOT VENV_DIR
cd "$REPO_ROOT" || exit 1

PYTHON_MISSING_MESSAGE="Stream Portal needs Python 3.12 or newer. Install it (e.g. \`apt-get install python3.12\` or \`pyenv install 3.13\`) and run this again."

# True when "$1" runs and is Python >= 3.12. Every candidate is actually run,
# because pyenv puts shims such as python3.13 on PATH that exist but refuse to
# run unless PYENV_VERSION names them; such a shim is skipped silently.
_python_is_new_enough() {
    "$1" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1
}

# Print the real interpreter behind "$1" (a shim execs it, so sys.executable is
# the binary itself, which keeps working whatever PYENV_VERSION says later).
_python_real_path() {
    "$1" -c 'import sys; print(sys.executable)' 2>/dev/null
}

# find_python: print the path of a Python >= 3.12, or explain and exit 1.
# Order: PATH (python3.13, python3.12, python3, python), then pyenv's installed
# versions, newest first.
find_python() {
    local name cand root dir
    for name in python3.13 python3.12 python3 python; do
        cand="$(command -v "$name" 2>/dev/null)" || continue
        if _python_is_new_enough "$cand"; then
            _python_real_path "$cand"
            return 0
        fi
    done

    # pyenv's versions directly, bypassing its shims. `pyenv root` is asked
    # when pyenv is on PATH; ~/.pyenv covers an installation not on PATH.
    local -a roots=()
    if command -v pyenv >/dev/null 2>&1; then
        root="$(pyenv root 2>/dev/null)" && [ -n "$root" ] && roots+=("$root")
    fi
    [ -n "${PYENV_ROOT:-}" ] && roots+=("$PYENV_ROOT")
    roots+=("$HOME/.pyenv")

    local -a found=()
    for root in "${roots[@]}"; do
        for dir in "$root"/versions/3.1[2-9]*; do
            [ -x "$dir/bin/python3" ] && found+=("$dir/bin/python3")
        done
    done
    if [ "${#found[@]}" -gt 0 ]; then
        # Sort on the version directory's name, newest first (3.13.0 before 3.12.1).
        while IFS= read -r cand; do
            if _python_is_new_enough "$cand"; then
                printf '%s\n' "$cand"
                return 0
            fi
        done < <(printf '%s\n' "${found[@]}" | awk -F/ '{print $(NF-2) "\t" $0}' | sort -t "$(printf '\t')" -k1,1Vr | cut -f2-)
    fi

    echo "$PYTHON_MISSING_MESSAGE" >&2
    exit 1
}

# as_root CMD...: run a command as root: directly when this is root, through sudo otherwise (without
# a password prompt when sudo allows that, or with one when someone is at the terminal). When
# neither works, print the command to run as root and exit 1.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1 && { sudo -n true 2>/dev/null || [ -t 0 ]; }; then
        sudo "$@"
    else
        {
            echo "This step needs root, and this is not root and cannot use sudo. Run as root, then run this again:"
            printf '   '
            printf ' %q' "$@"
            printf '\n'
        } >&2
        exit 1
    fi
}

# prepare_python: make sure a Python >= 3.12 with its venv module is installed. On Debian or Ubuntu
# the missing package (python3.X-venv, or python3 itself when the distribution's is new enough) is
# installed with apt, as root; elsewhere it says what to install and exits 1.
prepare_python() {
    if [ -x "$VENV_DIR/bin/python" ] && _python_is_new_enough "$VENV_DIR/bin/python"; then
        return 0
    fi
    local py candidate
    local -a packages=()
    if py="$(find_python 2>/dev/null)"; then
        "$py" -c 'import ensurepip, venv' >/dev/null 2>&1 && return 0
        case "$py" in
            /usr/bin/*) packages=("python$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')-venv") ;;
            *)
                echo "$py has no venv/ensurepip module, so no virtualenv can be made with it; reinstall it with them." >&2
                exit 1
                ;;
        esac
    else
        if ! command -v apt-get >/dev/null 2>&1; then
            echo "$PYTHON_MISSING_MESSAGE" >&2
            exit 1
        fi
        echo ">> No Python >= 3.12 found; looking at the distribution's python3"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q -o Dpkg::Use-Pty=0
        candidate="$(apt-cache policy python3 | awk '/Candidate:/ {print $2}')"
        if [ -n "$candidate" ] && [ "$candidate" != "(none)" ] && dpkg --compare-versions "$candidate" ge 3.12; then
            packages=(python3 python3-venv)
        else
            echo "The distribution's python3 is ${candidate:-unavailable}, older than 3.12." >&2
            echo "$PYTHON_MISSING_MESSAGE" >&2
            exit 1
        fi
    fi
    echo ">> Installing ${packages[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -o Dpkg::Use-Pty=0 \
        "${packages[@]}"
}

# sha256 of a file, computed with the given Python (no coreutils assumptions).
_sha256_of() {
    "$1" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$2"
}

# ensure_venv [extras]: make sure .venv exists (Python >= 3.12) with the project
# installed editable, with the given extras ("dev") or without any. Then put the
# venv first on PATH so `python`, `celery`, `ruff`, `pytest` are the venv's.
#
# The pip step is skipped when .venv/.stamp-<extras> holds the sha256 of
# pyproject.toml, so a rerun costs a fraction of a second. Without extras, a
# matching stamp of any extras set is enough (they all include the base deps).
ensure_venv() {
    local extras="${1:-}"
    local stamp_name="${extras:-base}"
    local venv_py="$VENV_DIR/bin/python"

    if [ -e "$VENV_DIR" ] && ! _python_is_new_enough "$venv_py"; then
        echo ">> .venv is missing its Python or has one older than 3.12: recreating it"
        rm -rf "$VENV_DIR"
    fi

    if [ ! -e "$venv_py" ]; then
        local py
        py="$(find_python)"
        echo ">> Creating .venv with $py ($("$py" -c 'import platform; print(platform.python_version())'))"
        if ! "$py" -m venv "$VENV_DIR"; then
            rm -rf "$VENV_DIR"
            echo "Could not create a virtualenv with $py." >&2
            echo "On Debian/Ubuntu install the venv module, e.g. \`apt-get install python3-venv\` (or python3.X-venv), and run this again." >&2
            exit 1
        fi
        "$venv_py" -m pip install --quiet --disable-pip-version-check --upgrade pip
    fi

    local want have stamp
    want="$(_sha256_of "$venv_py" pyproject.toml)"
    local -a stamps=("$VENV_DIR/.stamp-$stamp_name")
    if [ -z "$extras" ]; then
        stamps=("$VENV_DIR"/.stamp-*)
    fi
    local up_to_date=0
    for stamp in "${stamps[@]}"; do
        [ -f "$stamp" ] || continue
        have="$(cat "$stamp")"
        if [ "$have" = "$want" ]; then
            up_to_date=1
            break
        fi
    done

    if [ "$up_to_date" -eq 0 ]; then
        local target="."
        [ -n "$extras" ] && target=".[$extras]"
        echo ">> Installing the project into .venv: pip install -e \"$target\""
        "$venv_py" -m pip install --quiet --disable-pip-version-check -e "$target"
        # Written only after pip succeeded, so a failed install is retried next time.
        printf '%s\n' "$want" >"$VENV_DIR/.stamp-$stamp_name"
    fi

    # The equivalent of `source .venv/bin/activate`, without its prompt fiddling.
    export VIRTUAL_ENV="$VENV_DIR"
    export PATH="$VENV_DIR/bin:$PATH"
    unset PYTHONHOME
}
