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

# Finding none means the listing broke (or every target was deleted): under CI=true that is
# a failure, not a pass.
if ((${#targets[@]} == 0)); then
	if [[ ${CI:-} == true ]]; then
		echo "fuzz: no Fuzz targets found, and CI=true requires them to run"
		exit 1
	fi
	echo "SKIP fuzz: no Fuzz targets found"
	exit 0
fi
# fuzz runs one target once and tells apart a failing input (exit 1) from the fuzzer running
# out of time while it minimizes a new interesting input, which go test also reports as a
# failure ("context deadline exceeded") although nothing failed (exit 75: try again).
fuzz() {
	local pkg=$1 name=$2 log
	log=$(mktemp)
	if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg" 2>&1 | tee "$log"; then
		rm -f "$log"
		return 0
	fi
	if grep -q 'context deadline exceeded' "$log" && ! grep -q 'Failing input written to' "$log"; then
		rm -f "$log"
		return 75
	fi
	rm -f "$log"
	return 1
}

for target in "${targets[@]}"; do
	read -r pkg name <<<"$target"
	for attempt in 1 2 3; do
		echo "fuzz: $pkg $name for $fuzztime"
		status=0
		fuzz "$pkg" "$name" || status=$?
		case $status in
		0) break ;;
		75) echo "fuzz: $name: time ran out while minimizing a new input (no failing input); again" ;;
		*) exit 1 ;;
		esac
		if ((attempt == 3)); then
			echo "fuzz: $name: time ran out three times"
			exit 1
		fi
	done
done
echo "fuzz: ${#targets[@]} targets passed"
