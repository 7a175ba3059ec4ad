// Tests of compare-server.mjs, the gate of scripts/conformance-server.sh
// (which runs them first): `node --test compare-server.test.mjs`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const script = join(dirname(fileURLToPath(import.meta.url)), 'compare-server.mjs');

// run writes two result directories as the suite does (server-NAME-TIMESTAMP/
// checks.json) from { scenario: [statuses] } (null: no results) and a
// baseline, and runs the comparison on the scenarios listed.
function run({ scenarios, direct, mediator, baseline = 'through_mediator: {}\n' }) {
  const dir = mkdtempSync(join(tmpdir(), 'compare-server-'));
  const write = (name, results) => {
    const root = join(dir, name);
    mkdirSync(root);
    for (const [s, statuses] of Object.entries(results)) {
      if (!statuses) continue;
      const d = join(root, `server-${s}-2026-12-07T12-09-42-542Z`);
      mkdirSync(d);
      writeFileSync(join(d, 'checks.json'), JSON.stringify(statuses.map((status, i) => ({ id: `${s}-check-${i}`, status }))));
    }
    return root;
  };
  const d = write('direct', direct);
  const m = mediator === '-' ? '-' : write('mediator', mediator);
  writeFileSync(join(dir, 'baseline.yaml'), baseline);
  writeFileSync(join(dir, 'scenarios.txt'), scenarios.join('\n') + '\n');
  writeFileSync(join(dir, 'summary.md'), '');
  const r = spawnSync(process.execPath, [script, d, m, join(dir, 'baseline.yaml'), join(dir, 'scenarios.txt'), join(dir, 'summary.md')], { encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr, summary: readFileSync(join(dir, 'summary.md'), 'utf8') };
}

const row = (summary, s) => summary.split('\n').find((l) => l.startsWith(`| \`${s}\` |`)) ?? '';

test('a scenario that passes both ways, and one the fixture fails both ways, pass the gate', () => {
  const r = run({
    scenarios: ['ping', 'server-initialize', 'caching'],
    direct: { ping: ['SUCCESS'], 'server-initialize': ['SUCCESS', 'SUCCESS'], caching: ['FAILURE'] },
    mediator: { ping: ['SUCCESS'], 'server-initialize': ['SUCCESS', 'SUCCESS'], caching: ['FAILURE'] },
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(row(r.summary, 'server-initialize'), /pass \(2 checks\) \| pass \(2 checks\)/);
  assert.match(row(r.summary, 'caching'), /the fixture fails it/);
  assert.match(r.summary, /\*\*3 scenarios\*\* \| \*\*2 pass\*\* \| \*\*2 pass\*\* \| 2 pass both; ok/);
});

test('passing directly and failing through mediator fails the gate, naming the failed checks', () => {
  const r = run({ scenarios: ['ping'], direct: { ping: ['SUCCESS'] }, mediator: { ping: ['SUCCESS', 'FAILURE'] } });
  assert.equal(r.status, 1);
  assert.match(row(r.summary, 'ping'), /\*\*FAIL\*\*: regresses through mediator \(ping-check-1\)/);
  assert.match(r.stderr, /ping: regresses through mediator/);
});

test('a warning passes as the suite counts it, but one that only mediator earns is a regression', () => {
  const same = run({ scenarios: ['ping'], direct: { ping: ['SUCCESS', 'WARNING'] }, mediator: { ping: ['SUCCESS', 'WARNING'] } });
  assert.equal(same.status, 0, same.stderr);
  assert.match(row(same.summary, 'ping'), /pass \(1 check, 1 warning\) \| pass \(1 check, 1 warning\) \|  \|/);
  const added = run({ scenarios: ['ping'], direct: { ping: ['SUCCESS', 'SUCCESS'] }, mediator: { ping: ['SUCCESS', 'WARNING'] } });
  assert.equal(added.status, 1);
  assert.match(row(added.summary, 'ping'), /regresses through mediator \(ping-check-1\)/);
});

test('a scenario the fixture fails regresses only where a check that passed directly fails through mediator', () => {
  const same = run({ scenarios: ['caching'], direct: { caching: ['SUCCESS', 'FAILURE'] }, mediator: { caching: ['SUCCESS', 'FAILURE'] } });
  assert.equal(same.status, 0, same.stderr);
  assert.match(row(same.summary, 'caching'), /the fixture fails it/);
  const worse = run({ scenarios: ['caching'], direct: { caching: ['SUCCESS', 'FAILURE'] }, mediator: { caching: ['FAILURE', 'FAILURE'] } });
  assert.equal(worse.status, 1);
  assert.match(row(worse.summary, 'caching'), /regresses through mediator \(caching-check-0\)/);
});

test('a regression listed in the baseline with its reason passes, and the table gives the reason', () => {
  const r = run({
    scenarios: ['ping'], direct: { ping: ['SUCCESS'] }, mediator: { ping: ['FAILURE'] },
    baseline: '# why\nthrough_mediator:\n  ping: "the gateway answers ping itself"  # comment\n',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(row(r.summary, 'ping'), /expected \(baseline\): the gateway answers ping itself \|$/);
});

test('a stale baseline entry fails the gate: it does not regress, or names no scenario', () => {
  const baseline = 'through_mediator:\n  ping: reason\n  caching: reason\n  no-such-scenario: reason\n';
  const r = run({
    scenarios: ['ping', 'caching'],
    direct: { ping: ['SUCCESS'], caching: ['FAILURE'] },
    mediator: { ping: ['SUCCESS'], caching: ['FAILURE'] },
    baseline,
  });
  assert.equal(r.status, 1);
  assert.match(row(r.summary, 'ping'), /stale baseline entry.*:2\): no regression through mediator/);
  assert.match(row(r.summary, 'caching'), /stale baseline entry.*:3\): no regression through mediator/);
  assert.match(row(r.summary, 'no-such-scenario'), /stale baseline entry.*:4\): not a server scenario/);
});

test('a baseline entry without a reason fails the gate', () => {
  const r = run({ scenarios: ['ping'], direct: { ping: ['SUCCESS'] }, mediator: { ping: ['FAILURE'] }, baseline: 'through_mediator:\n  ping:\n' });
  assert.equal(r.status, 1);
  assert.match(row(r.summary, 'ping'), /baseline entry without a reason/);
});

test('a malformed baseline is refused at its file and line, saying what is wanted', () => {
  const r = run({ scenarios: ['ping'], direct: { ping: ['SUCCESS'] }, mediator: { ping: ['SUCCESS'] }, baseline: 'through_mediator:\n  - ping\n' });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /baseline\.yaml:2: want "  scenario: reason" under through_mediator:/);
  const k = run({ scenarios: ['ping'], direct: { ping: ['SUCCESS'] }, mediator: { ping: ['SUCCESS'] }, baseline: 'server:\n' });
  assert.notEqual(k.status, 0);
  assert.match(k.stderr, /baseline\.yaml:1: unknown key "server:"; want through_mediator:/);
});

test('a listed scenario without results in either run fails the gate', () => {
  const r = run({ scenarios: ['ping', 'tools-list'], direct: { ping: ['SUCCESS'], 'tools-list': ['SUCCESS'] }, mediator: { ping: ['SUCCESS'] } });
  assert.equal(r.status, 1);
  assert.match(row(r.summary, 'tools-list'), /\*\*no results\*\*.*no results \(not run or crashed\)/);
  const d = run({ scenarios: ['ping'], direct: {}, mediator: { ping: ['SUCCESS'] } });
  assert.equal(d.status, 1);
  assert.match(d.stderr, /ping: no results directly/);
});

test('no results through mediator alone pass when the baseline says why (the suite aborted the scenario), never directly', () => {
  const baseline = 'through_mediator:\n  ping: "the suite aborts it through mediator"\n';
  const r = run({ scenarios: ['ping'], direct: { ping: ['SUCCESS'] }, mediator: {}, baseline });
  assert.equal(r.status, 0, r.stderr);
  assert.match(row(r.summary, 'ping'), /\*\*no results\*\* \| expected \(baseline\): the suite aborts it through mediator \|$/);
  const d = run({ scenarios: ['ping'], direct: {}, mediator: { ping: ['SUCCESS'] }, baseline });
  assert.equal(d.status, 1);
  assert.match(d.stderr, /ping: no results directly/);
});

test('without a run through mediator ("-") the fixture is scored alone and nothing is gated but missing results', () => {
  const r = run({ scenarios: ['ping', 'caching'], direct: { ping: ['SUCCESS'], caching: ['FAILURE'] }, mediator: '-' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(row(r.summary, 'ping'), /pass \(1 check\) \| not run/);
  assert.match(r.summary, /\*\*1 pass\*\* \| not run \| ok/);
});
