#!/usr/bin/env bash
# Shared steps of scripts/start and scripts/test: check tools, install what is missing.
# Every step is idempotent: it does nothing when its result is already there.

# Fails with a message that says what to install.
need() {
  command -v "$1" >/dev/null 2>&1 || {
    echo "error: '$1' is not installed. $2" >&2
    exit 1
  }
}

# Installs the web client's npm packages unless package-lock.json is unchanged since
# the last install.
install_web_packages() {
  need node "Install Node.js 20 or newer (Debian: apt-get install nodejs npm)."
  need npm "Install npm (Debian: apt-get install npm)."
  local stamp=web/node_modules/.commonboard-installed
  if [ ! -f "$stamp" ] || [ web/package-lock.json -nt "$stamp" ] || [ web/package.json -nt "$stamp" ]; then
    echo "==> installing the web client's npm packages"
    (cd web && npm ci --no-audit --no-fund --loglevel=error)
    touch "$stamp"
  fi
}

# Builds the web client into web/dist.
build_web() {
  echo "==> building the web client"
  (cd web && npm run --silent build)
}

# Installs Debian's chromium for the browser tests if it is missing.
install_chromium() {
  if command -v chromium >/dev/null 2>&1; then
    return
  fi
  echo "==> installing chromium for the browser tests"
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    need sudo "Install chromium (Debian: apt-get install chromium) and run again."
    sudo=sudo
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
}

# Tools the scripts install for this checkout live in .tools/ (ignored by git): a
# Python virtual environment holding packaged builds of cargo plugins.
TOOLS_DIR="$PWD/.tools"
export PATH="$TOOLS_DIR/bin:$PATH"

# Installs a packaged (prebuilt) build of the cargo plugin `$1` at version `$2` into
# .tools/ from the Python package index, where it is published as
# astral-dev-toolchain-<plugin>: seconds instead of minutes of compiling. Returns 1
# when no packaged build can be had (no python3, no package index), and the caller
# builds it from source instead.
install_packaged_cargo_tool() {
  local tool=$1 version=$2
  command -v python3 >/dev/null 2>&1 || return 1
  if [ ! -x "$TOOLS_DIR/bin/pip" ]; then
    python3 -m venv "$TOOLS_DIR" >/dev/null 2>&1 || return 1
  fi
  timeout 300 "$TOOLS_DIR/bin/pip" install --quiet --disable-pip-version-check \
    "astral-dev-toolchain-$tool==$version" >/dev/null 2>&1 || return 1
  [ -x "$TOOLS_DIR/bin/$tool" ]
}

# Installs cargo-deny, the dependency audit, if it is missing: a packaged build when
# one can be had, else built from source once (a few minutes).
install_cargo_deny() {
  if command -v cargo-deny >/dev/null 2>&1; then
    return
  fi
  echo "==> installing cargo-deny (dependency audit)"
  install_packaged_cargo_tool cargo-deny 0.20.2 || cargo install --locked --quiet cargo-deny
}

# Audits the dependencies and says what was and was not checked:
# - Rust licenses, bans and sources (deny.toml), from Cargo.lock, offline: always; fails
#   the run on a finding.
# - RustSec advisories: when the advisory database (a git clone) can be fetched, or
#   against a copy fetched before (said so); else reported as not checked.
# - npm advisories of the web client: when the registry's audit service answers; fails
#   the run on a high or critical finding.
audit_dependencies() {
  cargo deny --log-level error check licenses bans sources
  echo "    checked: Rust licenses, banned crates, sources (deny.toml): ok"

  if timeout 120 cargo deny --log-level error fetch db >/dev/null 2>&1; then
    cargo deny --log-level error check advisories
    echo "    checked: RustSec advisories (database fetched now): ok"
  elif compgen -G "$HOME/.cargo/advisory-dbs/*/crates" >/dev/null; then
    cargo deny --log-level error --offline check advisories
    echo "    checked: RustSec advisories against a copy fetched earlier (fetching failed now): ok"
  else
    echo "    NOT checked: RustSec advisories (the advisory database could not be fetched from here)"
  fi

  local report
  report=$(cd web && timeout 120 npm audit --json --audit-level=high 2>/dev/null || true)
  node -e '
    let r; try { r = JSON.parse(process.argv[1]); } catch { r = null; }
    const v = r && r.metadata && r.metadata.vulnerabilities;
    if (!v) { console.log("    NOT checked: npm advisories (the registry audit service did not answer)"); process.exit(0); }
    const serious = (v.high || 0) + (v.critical || 0);
    console.log(`    checked: npm advisories: ${v.total} (${v.critical || 0} critical, ${v.high || 0} high, ${v.moderate || 0} moderate, ${v.low || 0} low)`);
    if (serious > 0) { console.error("npm audit found high or critical advisories: run `npm audit` in web/"); process.exit(1); }
  ' "$report"
}

# Installs cargo-fuzz (the libFuzzer driver the fuzz targets under fuzz/ use) unless it
# is there; the fuzz targets also need Rust's nightly toolchain.
install_cargo_fuzz() {
  need cargo "Install Rust with rustup (https://rustup.rs), then run this again."
  if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "error: the fuzz targets need Rust's nightly toolchain: rustup toolchain install nightly" >&2
    exit 1
  fi
  if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "==> installing cargo-fuzz"
    install_packaged_cargo_tool cargo-fuzz 0.13.2 || cargo install cargo-fuzz --locked --quiet
  fi
}

# Phases of a run, each timed: `phase "what"` ends the phase before (if any) and starts
# this one; `phase_summary` (scripts/test runs it on exit, failed or not) prints how
# long each took, so a slow step shows itself.
RUN_STARTED=$(date +%s)
PHASE_NAME=""
PHASE_STARTED=0
PHASE_TIMES=()
phase() {
  phase_end
  PHASE_NAME=$1
  PHASE_STARTED=$(date +%s)
  echo "==> $1"
}
phase_end() {
  if [ -n "$PHASE_NAME" ]; then
    PHASE_TIMES+=("$(printf '%5ss  %s' $(( $(date +%s) - PHASE_STARTED )) "$PHASE_NAME")")
    PHASE_NAME=""
  fi
}
phase_summary() {
  phase_end
  [ ${#PHASE_TIMES[@]} -gt 0 ] || return 0
  echo "==> time per phase"
  printf '  %s\n' "${PHASE_TIMES[@]}"
  printf '  %5ss  in all\n' $(( $(date +%s) - RUN_STARTED ))
}
