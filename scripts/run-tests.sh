#!/usr/bin/env bash
# Run test programs (Criterion binaries or tests/cli/*.sh scripts) and summarise.
# Exit status is non-zero if any of them failed.
set -u
failed=()
for t in "$@"; do
    case "$t" in
    *.sh) bash "$t" ;;
    *) "$t" --jobs "${VLKIT_TEST_JOBS:-2}" ;;
    esac
    rc=$?
    if [ $rc -ne 0 ]; then failed+=("$t (exit $rc)"); fi
done
if [ ${#failed[@]} -ne 0 ]; then
    echo "FAILED:" >&2
    printf '  %s\n' "${failed[@]}" >&2
    exit 1
fi
echo "all $# test programs passed"
