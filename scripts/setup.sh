#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build and test Returnhub, then builds the
# front end. Idempotent: each step checks first. Fails loudly, naming what is missing.
# Usage: scripts/setup.sh [--for-tests]
set -euo pipefail
cd "$(dirname "$0")/.."

for_tests=false
[[ "${1:-}" == "--for-tests" ]] && for_tests=true

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf '\033[31msetup: %s\033[0m\n' "$*" >&2; exit 1; }

# --- System packages -------------------------------------------------------------------------
packages=(pkg-config build-essential libwebkit2gtk-4.1-dev libayatana-appindicator3-dev
  librsvg2-dev libssl-dev libudev-dev libusb-1.0-0-dev libdbus-1-dev)
# Node.js may come from elsewhere than Debian (its npm package would then conflict): only
# install Debian's when the commands are missing.
command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)
$for_tests && packages+=(webkit2gtk-driver xvfb xauth dbus zbar-tools poppler-utils socat cups-client)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  say "installing Debian packages: ${missing[*]}"
  sudo_cmd=""
  [[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    || die "could not install: ${missing[*]}"
fi

# --- Rust ------------------------------------------------------------------------------------
command -v cargo >/dev/null || die "Rust is missing: install Rust 1.90 or newer with rustup, then re-run."
rust_minor=$(rustc --version | sed -E 's/^rustc 1\.([0-9]+).*/\1/')
((rust_minor >= 90)) || die "Rust $(rustc --version) is too old: 1.90 or newer is needed (rustup update)."
if $for_tests; then
  rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt \
    || die "clippy/rustfmt missing and could not be added"
fi

# --- Node and the front end ------------------------------------------------------------------
node_major=$(node --version | sed -E 's/^v([0-9]+).*/\1/')
((node_major >= 18)) || die "Node.js $(node --version) is too old: 18 or newer is needed."
if [[ ! -d ui/node_modules || ui/package-lock.json -nt ui/node_modules/.package-lock.json ]]; then
  say "installing front-end packages (npm ci)"
  (cd ui && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed"
fi
say "building the front end into ui/dist"
(cd ui && npm run --silent build) || die "the front-end build failed"

# --- Shopify's Admin schema, which the connector tests validate every GraphQL document against --
if $for_tests; then
  schema=crates/connectors/schema
  if [[ ! -d $schema/node_modules/@shopify/dev-mcp || $schema/package-lock.json -nt $schema/node_modules/.package-lock.json ]]; then
    say "installing Shopify's schema package (@shopify/dev-mcp)"
    # `npm install` with the lock file (npm ci rejects this lock over optional platform packages);
    # no install scripts run: only the schema files are used.
    (cd $schema && npm install --ignore-scripts --no-audit --no-fund --loglevel=error) \
      || die "installing @shopify/dev-mcp failed"
  fi
fi

# --- tauri-driver, for the end-to-end tests --------------------------------------------------
if $for_tests; then
  tools="${RETURNHUB_TOOLS:-$HOME/.cache/returnhub/tools}"
  if ! "$tools/bin/tauri-driver" --help >/dev/null 2>&1; then
    say "installing tauri-driver into $tools"
    cargo install --quiet --locked tauri-driver --version 2.1.0 --root "$tools" \
      || die "cargo install tauri-driver failed"
  fi
  [[ -x /usr/bin/WebKitWebDriver ]] || die "/usr/bin/WebKitWebDriver is missing (package webkit2gtk-driver)"
  # cargo-fuzz for the brief fuzz runs (scripts/fuzz --brief); it needs a nightly toolchain,
  # without which the tests replay the fuzz corpus on stable only.
  if cargo +nightly --version >/dev/null 2>&1 && ! "$tools/bin/cargo-fuzz" --version >/dev/null 2>&1; then
    say "installing cargo-fuzz into $tools"
    cargo install --quiet --locked cargo-fuzz --version 0.13.2 --root "$tools" \
      || die "cargo install cargo-fuzz failed"
  fi
fi
say "setup done"
