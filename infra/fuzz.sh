#!/usr/bin/env bash
# Runs every Fuzz target in the module for a short while (default 5s each, or $1), so that
# new targets are picked up without editing a list. go test -fuzz takes one target of one
# package at a time, hence the loop. A failure leaves its input under the package's
# testdata/fuzz/, where plain `go test` replays it from then on.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
fuzztime=${1:-5s}

# `go test -list` prints each package's matching names, then one "ok <package>" line.
listing=$(go test -list '^Fuzz' ./...)
targets=()
names=()
while read -r first second _; do
	case $first in
	Fuzz*) names+=("$first") ;;
	ok)
		for name in "${names[@]}"; do targets+=("$second $name"); done
		names=()
		;;
	*) names=() ;;
	esac
done <<<"$listing"

if ((${#targets[@]} == 0)); then
	echo "fuzz: no Fuzz targets found"
	exit 0
fi
for target in "${targets[@]}"; do
	read -r pkg name <<<"$target"
	echo "fuzz: $pkg $name for $fuzztime"
	go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg"
done
echo "fuzz: ${#targets[@]} targets passed"
