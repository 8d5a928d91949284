#!/usr/bin/env bash
# Every code block in docs/ that is marked `<!-- example: FILE -->` must be exactly FILE, a
# compiled and executed example, so the documentation cannot drift from code that works.
set -euo pipefail
root=${1:-$(dirname "$0")/..}
status=0
checked=0
for page in "$root"/docs/*.md "$root"/README.md; do
  [ -f "$page" ] || continue
  while IFS= read -r file; do
    block=$(awk -v marker="<!-- example: $file -->" '
      $0 == marker { found = 1; next }
      found == 1 && /^```/ { if (inside) exit; inside = 1; next }
      inside { print }' "$page")
    if [ "$block" != "$(cat "$root/$file")" ]; then
      echo "$page: the block marked $file differs from the file"
      diff <(printf '%s\n' "$block") "$root/$file" | head -20 || true
      status=1
    fi
    checked=$((checked + 1))
  done < <(sed -n 's/^<!-- example: \(.*\) -->$/\1/p' "$page")
done
echo "checked $checked documented examples"
[ "$checked" -gt 0 ] || { echo "no marked examples found"; exit 1; }
exit $status
