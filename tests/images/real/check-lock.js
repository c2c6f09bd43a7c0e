// Fails (exit 1) unless node_modules holds exactly the packages of package-lock.json (lockfile v2/v3 "packages"),
// each at its locked version. Written for the dff-real base images; run in /usr/src/base.
'use strict';
const fs = require('fs');
const path = require('path');
const lock = JSON.parse(fs.readFileSync('package-lock.json', 'utf8'));
const locked = Object.entries(lock.packages || {}).filter(([p, m]) => p && !m.link);
const problems = [];
for (const [p, meta] of locked) {
  const pj = path.join(p, 'package.json');
  if (!fs.existsSync(pj)) {
    if (!meta.optional && !meta.peer) problems.push(`${p}: missing`);
    continue;
  }
  // npm normalises versions ("v2.13.0" in node-rdkafka's own package.json is locked as 2.13.0)
  const v = String(JSON.parse(fs.readFileSync(pj, 'utf8')).version || '').replace(/^[v=]+/, '');
  if (v !== meta.version) problems.push(`${p}: ${v} installed, ${meta.version} locked`);
}
const want = new Set(locked.map(([p]) => p));
(function walk(dir) {
  if (!fs.existsSync(dir)) return;
  for (const name of fs.readdirSync(dir)) {
    if (name.startsWith('.')) continue;
    if (name.startsWith('@')) { walk(path.join(dir, name)); continue; }
    const p = path.join(dir, name);
    const rel = p.replace(/^\.\//, '');
    if (fs.existsSync(path.join(p, 'package.json')) && !want.has(rel)) problems.push(`${rel}: installed, not locked`);
    walk(path.join(p, 'node_modules'));
  }
})('node_modules');
if (problems.length) { console.error(problems.join('\n')); process.exit(1); }
console.log(`node_modules matches package-lock.json (${locked.length} packages)`);
