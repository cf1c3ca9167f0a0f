#!/usr/bin/env bash
# Fetch the data the prepare scripts read by default. Idempotent: files already in place are kept.
#
#   bash download.sh          # JSQuAD from the JGLUE release -> jsquad/train-v1.3.json, jsquad/valid-v1.3.json
#   bash download.sh quiz     # AI王 retriever data -> quiz/abc_01-12.json.gz, quiz/aio_01_dev.json.gz
#   bash download.sh all      # both
#
# Environment (all optional):
#   JGLUE_VERSION=1.3.0       JGLUE release tag without the "v" (1.1.0 gives jsquad-v1.1 files)
#   JGLUE_ARCHIVE=PATH|URL    a JGLUE release archive (.tar.gz) to use instead of GitHub's, e.g. one
#                             fetched on another machine; a folder holding train-v*.json/valid-v*.json works too
#   QUIZ_SOURCE=DIR|URL       folder or base URL holding abc_01-12.json.gz and aio_01_dev.json.gz
#   DATA_ROOT=.               where jsquad/, quiz/ and downloads/ (the archive cache) go
set -euo pipefail

JGLUE_VERSION=${JGLUE_VERSION:-1.3.0}
JGLUE_ARCHIVE=${JGLUE_ARCHIVE:-https://github.com/yahoojapan/JGLUE/archive/refs/tags/v${JGLUE_VERSION}.tar.gz}
QUIZ_SOURCE=${QUIZ_SOURCE:-https://jaqket.s3.ap-northeast-1.amazonaws.com/data/aio_02/retriever}
QUIZ_FILES=(abc_01-12.json.gz aio_01_dev.json.gz)
DATA_ROOT=${DATA_ROOT:-.}
SHORT=${JGLUE_VERSION%.*}  # 1.3.0 -> 1.3: the dataset folder and file names use major.minor

staging=""
trap 'if [[ -n $staging ]]; then rm -rf "$staging"; fi' EXIT

die() { echo "download.sh: error: $*" >&2; exit 1; }
say() { echo "download.sh: $*" >&2; }

# fetch SOURCE DEST: copy a local file or download a URL (file:// too), atomically (temp file + rename).
fetch() {
  local src=$1 dest=$2
  mkdir -p "$(dirname "$dest")"
  if [[ -f $src ]]; then
    cp "$src" "$dest.part"
  else
    command -v curl >/dev/null || die "curl is needed to download $src; install it or set a local file (see the top of download.sh)"
    say "fetching $src"
    curl -fL --retry 2 --connect-timeout 20 -sS -o "$dest.part" "$src" || {
      rm -f "$dest.part"; rmdir "$(dirname "$dest")" 2>/dev/null || true
      die "cannot fetch $src (offline, or the address is blocked). Fetch it on a machine with network access and point" \
          "download.sh at the copy: JGLUE_ARCHIVE=/path/to/v${JGLUE_VERSION}.tar.gz or QUIZ_SOURCE=/path/to/folder"
    }
  fi
  mv "$dest.part" "$dest"
}

jsquad() {
  local out="$DATA_ROOT/jsquad" names=("train-v$SHORT.json" "valid-v$SHORT.json")
  if [[ -s $out/${names[0]} && -s $out/${names[1]} ]]; then
    say "JSQuAD v$SHORT already in $out/ (delete it to fetch again)"; return
  fi
  staging=$(mktemp -d "${TMPDIR:-/tmp}/jsquad.XXXXXX")
  if [[ -d $JGLUE_ARCHIVE ]]; then
    for name in "${names[@]}"; do
      [[ -f $JGLUE_ARCHIVE/$name ]] || die "$JGLUE_ARCHIVE/$name: not found (JGLUE_ARCHIVE is a folder without it)"
      cp "$JGLUE_ARCHIVE/$name" "$staging/"
    done
  else
    local archive=$JGLUE_ARCHIVE
    if [[ ! -f $archive ]]; then
      archive="$DATA_ROOT/downloads/JGLUE-v$JGLUE_VERSION.tar.gz"
      [[ -s $archive ]] || fetch "$JGLUE_ARCHIVE" "$archive"
    fi
    tar -xzf "$archive" -C "$staging" --wildcards "*/datasets/jsquad-v$SHORT/*.json" 2>/dev/null ||
      die "$archive: no datasets/jsquad-v$SHORT/*.json inside (a JGLUE v$JGLUE_VERSION .tar.gz?); delete it if the download was cut short"
    find "$staging" -path "*/datasets/jsquad-v$SHORT/*.json" -exec mv {} "$staging/" \;
  fi
  for name in "${names[@]}"; do
    [[ -s $staging/$name ]] || die "$name is missing from $JGLUE_ARCHIVE"
  done
  mkdir -p "$out"
  for name in "${names[@]}"; do mv "$staging/$name" "$out/$name"; done
  say "JSQuAD v$SHORT -> $out/${names[0]}, $out/${names[1]}"
}

quiz() {
  local out="$DATA_ROOT/quiz"
  for name in "${QUIZ_FILES[@]}"; do
    if [[ -s $out/$name ]]; then say "$out/$name already there"; continue; fi
    fetch "$QUIZ_SOURCE/$name" "$out/$name"
    gzip -t "$out/$name" 2>/dev/null || { rm -f "$out/$name"; die "$QUIZ_SOURCE/$name is not a complete gzip file"; }
    say "-> $out/$name"
  done
}

case "${1:-jsquad}" in
  jsquad) jsquad ;;
  quiz) quiz ;;
  all) jsquad; quiz ;;
  *) die "unknown target '$1'; use: bash download.sh [jsquad|quiz|all]" ;;
esac
