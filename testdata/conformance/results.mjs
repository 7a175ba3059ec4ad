// Reads one conformance run: every checks.json under a results directory,
// counted per scenario. Shared by summarize.mjs (client runs) and
// compare-server.mjs (server runs).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name === 'checks.json') out.push(p);
  }
  return out;
}

// readResults returns a Map from scenario name to { passed, failed,
// warnings, skipped, bad, failedIds, warnedIds } where bad lists the ids
// of FAILURE and WARNING checks, failedIds and warnedIds each kind alone. The suite names a result directory after its scenario and a
// timestamp ("auth/dpop-2026-12-07T12-09-42-542Z"); a server run puts
// "server-" in front, passed here as prefix.
export function readResults(resultsDir, prefix = '') {
  const rows = new Map();
  for (const f of walk(resultsDir)) {
    let scenario = relative(resultsDir, join(f, '..')).replace(/-\d{4}-\d{2}-\d{2}T[\d-]+Z$/, '');
    if (prefix && scenario.startsWith(prefix)) scenario = scenario.slice(prefix.length);
    const r = { passed: 0, failed: 0, warnings: 0, skipped: 0, bad: [], failedIds: [], warnedIds: [] };
    for (const c of JSON.parse(readFileSync(f, 'utf8'))) {
      if (c.status === 'SUCCESS') r.passed++;
      else if (c.status === 'FAILURE') { r.failed++; r.bad.push(c.id); r.failedIds.push(c.id); }
      else if (c.status === 'WARNING') { r.warnings++; r.bad.push(c.id); r.warnedIds.push(c.id); }
      else if (c.status === 'SKIPPED') r.skipped++;
    }
    rows.set(scenario, r);
  }
  return rows;
}
