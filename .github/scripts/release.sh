#!/usr/bin/env bash
# Release helpers for .github/workflows/release.yml (and for a maintainer's shell):
#
#   release.sh prepare X.Y.Z [DATE]  on a branch for main: __version__ = X.Y.Z, CHANGELOG's [Unreleased] notes
#                                    become `## [X.Y.Z] - DATE` (today by default), action.yml is regenerated
#   release.sh check vX.Y.Z          the tag is vX.Y.Z, equals onnx_package.__version__ and action.yml's version,
#                                    and CHANGELOG has a dated section with notes for it
#   release.sh notes X.Y.Z           print that version's CHANGELOG section
#   release.sh moving-tags vX.Y.Z    print the moving tags (vX, vX.Y) that should now point at vX.Y.Z:
#                                    only those for which it is the highest release (an old patch never
#                                    moves v1 back)
#   release.sh move-tags vX.Y.Z      point those moving tags at vX.Y.Z's commit and force-push them to origin
#                                    (git must be able to push: the workflow runs `gh auth setup-git` first)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SEMVER='^v([0-9]+)\.([0-9]+)\.([0-9]+)$'
BOT=(-c "user.name=github-actions[bot]" -c "user.email=41898282+github-actions[bot]@users.noreply.github.com")

die() { echo "::error title=Release::$*" >&2; exit 1; }

package_version() {
    sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$ROOT/src/onnx_package/__init__.py"
}

action_version() {  # scripts/sync_action.py writes it on action.yml's first line
    sed -n '1s/^# onnx-package-action \(.*\)$/\1/p' "$ROOT/action.yml"
}

notes() {
    awk -v version="$1" '
        /^## \[/ { inside = index($0, "[" version "]") == 4; next }
        inside' "$ROOT/CHANGELOG.md" | sed -e '/./,$!d'
}

prepare() {
    local version="$1" date="${2:-$(date -u +%F)}"
    [[ "v$version" =~ $SEMVER ]] || die "version $version is not X.Y.Z"
    grep -q "^## \[$version\]" "$ROOT/CHANGELOG.md" && die "CHANGELOG.md already has ## [$version]: release a new version"
    [ -n "$(notes Unreleased | tr -d '[:space:]')" ] ||
        die "CHANGELOG.md has no notes under ## [Unreleased]: write what changed first"
    sed -i "s/^__version__ = \".*\"$/__version__ = \"$version\"/" "$ROOT/src/onnx_package/__init__.py"
    sed -i "s/^## \[Unreleased\]$/## [Unreleased]\n\n## [$version] - $date/" "$ROOT/CHANGELOG.md"
    "${PYTHON:-python3}" "$ROOT/scripts/sync_action.py"
}

check() {
    local tag="$1" version
    [[ "$tag" =~ $SEMVER ]] || die "tag $tag is not vX.Y.Z: push a tag like v1.2.3"
    version="$(package_version)"
    [ "$tag" = "v$version" ] || die "tag $tag but onnx_package.__version__ is $version: run .github/scripts/release.sh prepare ${tag#v} on main, then tag v${tag#v}"
    [ "$(action_version)" = "$version" ] || die "action.yml says $(action_version), not $version: run python scripts/sync_action.py"
    grep -Eq "^## \[${version//./\\.}\] - [0-9]{4}-[0-9]{2}-[0-9]{2}$" "$ROOT/CHANGELOG.md" ||
        die "CHANGELOG.md has no dated section ## [$version] - YYYY-MM-DD: run .github/scripts/release.sh prepare $version"
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

move_tags() {
    local tag="$1" commit moving tags
    commit="$(git -C "$ROOT" rev-parse --verify --quiet "$tag^{commit}")" || die "no tag $tag in this clone"
    tags="$(moving_tags "$tag")"
    for moving in $tags; do
        git -C "$ROOT" "${BOT[@]}" tag --force --annotate "$moving" --message "$moving -> $tag" "$commit" >/dev/null
        git -C "$ROOT" push --quiet --force origin "refs/tags/$moving"
        echo "$moving -> $tag ($commit)" >> "${GITHUB_STEP_SUMMARY:-/dev/stdout}"
    done
}

case "${1:-}" in
    prepare) prepare "$2" "${3:-}" ;;
    check) check "$2" ;;
    notes) notes "$2" ;;
    moving-tags) moving_tags "$2" ;;
    move-tags) move_tags "$2" ;;
    *) echo "usage: $0 prepare|check|notes|moving-tags|move-tags VERSION" >&2; exit 2 ;;
esac
