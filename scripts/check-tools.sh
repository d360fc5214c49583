#!/usr/bin/env bash
# Checks the machine-level prerequisites that pip cannot install; one line each when missing.
missing=0
need() {  # need <command> <how to install>
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "missing: $1 — install it with: $2" >&2
    missing=1
  fi
}
need python3 "apt-get install python3 python3-venv"
need java "apt-get install openjdk-17-jre-headless"
need gcloud "install the Google Cloud CLI: https://cloud.google.com/sdk/docs/install"
if command -v gcloud >/dev/null 2>&1; then
  sdk_root=$(dirname "$(dirname "$(readlink -f "$(command -v gcloud)")")")
  if [ ! -d "$sdk_root/platform/cloud-firestore-emulator" ]; then
    echo "missing: the Firestore emulator — install it with: apt-get install google-cloud-cli-firestore-emulator (or: gcloud components install cloud-firestore-emulator)" >&2
    missing=1
  fi
fi
# Not needed by make dev, only by the browser tests of make test (tests/browser): said, not fatal.
if ! command -v chromium >/dev/null 2>&1; then
  echo "missing: chromium (for the browser tests in make test) — install it with: apt-get install chromium" >&2
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "missing: node and npm (for the Firebase SDK tests in make test) — install Node.js 20 or newer, with npm" >&2
fi
exit $missing
