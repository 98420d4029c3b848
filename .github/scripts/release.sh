#!/usr/bin/env bash
# Release helpers for .github/workflows/release.yml (and for a maintainer's shell):
#
#   release.sh check vX.Y.Z        the tag is vX.Y.Z, equals onnx_package.__version__, and CHANGELOG has notes
#   release.sh notes X.Y.Z         print that version's CHANGELOG section
#   release.sh moving-tags vX.Y.Z  print the moving tags (vX, vX.Y) that should now point at vX.Y.Z:
#                                  only those for which it is the highest release (an old patch never
#                                  moves v1 back)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SEMVER='^v([0-9]+)\.([0-9]+)\.([0-9]+)$'

die() { echo "::error title=Release::$*" >&2; exit 1; }

package_version() {
    sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$ROOT/src/onnx_package/__init__.py"
}

notes() {
    awk -v version="$1" '
        /^## \[/ { inside = index($0, "[" version "]") == 4; next }
        inside' "$ROOT/CHANGELOG.md" | sed -e '/./,$!d'
}

check() {
    local tag="$1" version
    [[ "$tag" =~ $SEMVER ]] || die "tag $tag is not vX.Y.Z: push a tag like v1.2.3"
    version="$(package_version)"
    [ "$tag" = "v$version" ] || die "tag $tag but onnx_package.__version__ is $version: bump src/onnx_package/__init__.py and CHANGELOG.md, then tag v$version"
    [ -n "$(notes "$version" | tr -d '[:space:]')" ] || die "CHANGELOG.md has no notes under ## [$version]: add them before tagging"
}

highest() {  # highest vX.Y.Z tag matching the glob
    git -C "$ROOT" tag --list "$1" | grep -E "$SEMVER" | sort -V | tail -n 1
}

moving_tags() {
    local tag="$1"
    [[ "$tag" =~ $SEMVER ]] || die "tag $tag is not vX.Y.Z"
    local major="v${BASH_REMATCH[1]}" minor="v${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"
    [ "$(highest "$major.*.*")" = "$tag" ] && echo "$major"
    [ "$(highest "$minor.*")" = "$tag" ] && echo "$minor"
    return 0
}

case "${1:-}" in
    check) check "$2" ;;
    notes) notes "$2" ;;
    moving-tags) moving_tags "$2" ;;
    *) echo "usage: $0 check|notes|moving-tags VERSION" >&2; exit 2 ;;
esac
