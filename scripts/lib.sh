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
    cargo install cargo-fuzz --locked --quiet
  fi
}
