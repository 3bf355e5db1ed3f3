#!/bin/bash
# Renders a generated report in headless Chromium (Debian's chromium) and
# checks that the page has every plot and cell drawing, renders to a
# non-blank screenshot, and logs no script errors.
# Usage: report_render_test.sh REPORT_FIXTURE
set -u
fixture="$1"
out="${TEST_TMPDIR}"
chromium=$(command -v chromium || true)
if [[ -z "${chromium}" ]]; then
  echo "FAIL: chromium is not installed (tools/setup.sh installs it)" >&2
  exit 1
fi
"${fixture}" "${out}/report.html" || { echo "FAIL: fixture"; exit 1; }

flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
       --disable-background-networking --disable-component-update --disable-sync
       --user-data-dir="${out}/profile" --enable-logging=stderr --v=0)
timeout 120 "${chromium}" "${flags[@]}" --dump-dom "file://${out}/report.html" \
  >"${out}/dom.html" 2>"${out}/chromium.log"
timeout 120 "${chromium}" "${flags[@]}" --window-size=1280,2400 \
  --screenshot="${out}/report.png" "file://${out}/report.html" \
  >/dev/null 2>>"${out}/chromium.log"

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
plots=$(grep -o '<svg[^>]*class="plot"' "${out}/dom.html" | wc -l)
cells=$(grep -o '<svg[^>]*class="cell"' "${out}/dom.html" | wc -l)
[[ "${plots}" -eq 5 ]] || fail "want 5 plots in the rendered DOM, got ${plots}"
[[ "${cells}" -eq 2 ]] || fail "want 2 cell drawings (normal, reduce), got ${cells}"
grep -q 'Pareto front' "${out}/dom.html" || fail "no Pareto front series"
grep -q '<circle' "${out}/dom.html" || fail "plots have no points"
if grep -E 'Uncaught|SyntaxError|ReferenceError|TypeError' "${out}/chromium.log"; then
  fail "script errors in the console"
fi
size=$(stat -c %s "${out}/report.png" 2>/dev/null || echo 0)
[[ "${size}" -gt 20000 ]] || fail "screenshot missing or blank (${size} bytes)"
if [[ "${failures}" -ne 0 ]]; then
  echo "chromium log:" >&2
  tail -20 "${out}/chromium.log" >&2
  exit 1
fi
echo "report rendered: ${plots} plots, ${cells} cells, screenshot ${size} bytes"
