#!/usr/bin/env bash
# Install the Debian packages the app needs, only those missing.
#   fonts-noto-cjk        Chinese fonts embedded in the PDF dossiers
#   libharfbuzz-subset0   fast font subsetting (without it a Chinese PDF takes ~15x longer)
#   graphviz              `dot`, which draws the workflow diagrams as SVG on the server
#   fonts-dejavu-core     DejaVu Sans Mono, the compact face the dossiers print hashes in
#   fontconfig            `fc-list`, which finds the installed face a batch's sections share
# With --test also: chromium (browser tests) and poppler-utils (pdftoppm, for looking at PDFs).
set -euo pipefail

packages=(fonts-noto-cjk fonts-dejavu-core fontconfig libharfbuzz-subset0 graphviz)
if [[ "${1:-}" == "--test" ]]; then
  packages+=(chromium poppler-utils)
fi

missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "Installing Debian packages: ${missing[*]}"
sudo=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "Need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
