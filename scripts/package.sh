#!/usr/bin/env bash
# Builds every function of template.yaml as `sam build` does (BuildMethod
# rust-cargolambda: cargo-lambda, release profile, arm64, a `bootstrap` for
# provided.al2023), zipped as Lambda takes it, and prints each zip's size.
# Fails if a zip is over the goal (8 MB; FINOPS_ZIP_GOAL_BYTES overrides).
#
#   scripts/package.sh            # all functions -> target/lambda/<name>/bootstrap.zip
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
scripts/setup.sh package
export PATH="$ROOT/.venv-package/bin:$PATH"   # cargo-lambda, and python3 -m ziglang for the linker

goal=${FINOPS_ZIP_GOAL_BYTES:-8388608}
# The template is the list: every function's BuildProperties.Binary.
mapfile -t bins < <(sed -n 's/^ *Binary: *\([a-z0-9-]*\) *$/\1/p' template.yaml)
[ "${#bins[@]}" -gt 0 ] || { echo "package: no BuildProperties.Binary in template.yaml" >&2; exit 1; }

# One build per function, of the function's own package (`--package`), as
# `sam build` makes them: cargo then resolves features for that package alone,
# so a feature only one function enables (http-api's `mcp`, the kill
# switch's) stays out of the others. `--bin` alone selects every workspace
# member and unifies their features.
for b in "${bins[@]}"; do
  cargo lambda build --release --arm64 --output-format zip --locked --package "$b" --bin "$b" >&2
done

over=0
printf '%-22s %12s %10s\n' function zip_bytes zip_MB
for b in "${bins[@]}"; do
  zip=target/lambda/$b/bootstrap.zip
  [ -f "$zip" ] || { echo "package: $zip was not built" >&2; exit 1; }
  size=$(stat -c %s "$zip")
  printf '%-22s %12d %10.2f\n' "$b" "$size" "$(echo "$size / 1048576" | bc -l)"
  [ "$size" -le "$goal" ] || { echo "package: $b is over the goal of $goal bytes" >&2; over=1; }
done
exit "$over"
