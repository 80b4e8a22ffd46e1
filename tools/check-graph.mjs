#!/usr/bin/env node
// Checks the package graph against ARCHITECTURE.md §2: no cycles, each package depends only on
// the workspace packages its row allows, and core packages import no driver.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');

/** Which workspace packages each package may depend on (runtime or peer). */
const allowed = {
  '@buckley/utils': [],
  '@buckley/config': ['utils'],
  '@buckley/logging': ['utils'],
  '@buckley/events': ['utils'],
  '@buckley/bus': ['utils'],
  '@buckley/coordination': ['events', 'bus', 'utils'],
  '@buckley/postgres': ['events', 'coordination', 'utils'],
  '@buckley/nats': ['bus', 'events', 'coordination', 'utils'],
  '@buckley/security': ['utils'],
  '@buckley/sandbox': ['config', 'security', 'utils'],
  '@buckley/observability': ['events', 'logging', 'security', 'utils'],
  '@buckley/performance': ['observability', 'utils'],
  '@buckley/tools': ['sandbox', 'security', 'observability', 'config', 'utils'],
  '@buckley/model': ['config', 'utils'],
  '@buckley/orchestrator': ['tools', 'model', 'events', 'coordination', 'observability', 'utils'],
  '@buckley/checkpoint': ['events', 'utils'],
  '@buckley/index': ['utils'],
  '@buckley/sdk': [],
  '@buckley/acp': ['orchestrator', 'observability', 'events', 'utils'],
  '@buckley/api': ['sdk', 'orchestrator', 'observability', 'events', 'utils'],
  '@buckley/runtime': '*',
  '@buckley/testing': '*',
  '@buckley/bench': '*',
};

/** Packages that hold ports and pure logic: no driver may appear in their imports. */
const drivers = ['pg', 'kysely', '@nats-io/', 'isolated-vm', '@electric-sql/pglite'];
const core = [
  '@buckley/utils',
  '@buckley/config',
  '@buckley/events',
  '@buckley/bus',
  '@buckley/coordination',
  '@buckley/security',
  '@buckley/observability',
  '@buckley/orchestrator',
];

const manifests = new Map();
for (const base of ['packages', 'tools']) {
  const dir = join(root, base);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const file = join(dir, entry.name, 'package.json');
    if (entry.isDirectory() && existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8'));
      manifests.set(pkg.name, { pkg, dir: join(dir, entry.name) });
    }
  }
}

/** Every package a rule reaches through the table: a test may use what its allowed dependencies bring in. */
function reachable(rule, seen = new Set()) {
  for (const short of rule) {
    const dep = `@buckley/${short}`;
    if (seen.has(dep)) continue;
    seen.add(dep);
    if (Array.isArray(allowed[dep])) reachable(allowed[dep], seen);
  }
  return seen;
}

const errors = [];
const edges = new Map();
for (const [name, { pkg }] of manifests) {
  const rule = allowed[name];
  if (rule === undefined) errors.push(`${name}: not in the dependency table of tools/check-graph.mjs (ARCHITECTURE.md §2)`);
  const deps = new Set();
  for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies']) {
    for (const dep of Object.keys(pkg[field] ?? {})) if (manifests.has(dep)) deps.add(dep);
  }
  const devDeps = new Set();
  for (const dep of Object.keys(pkg.devDependencies ?? {})) {
    // @buckley/testing is dev-only and may reach any port; other dev deps stay inside the table's reach.
    if (manifests.has(dep) && dep !== '@buckley/testing' && !deps.has(dep)) devDeps.add(dep);
  }
  edges.set(name, new Set([...deps, ...devDeps]));
  if (Array.isArray(rule)) {
    for (const dep of deps) {
      if (!rule.includes(dep.replace('@buckley/', ''))) errors.push(`${name}: may not depend on ${dep} (allowed: ${rule.join(', ') || 'none'})`);
    }
    const reach = reachable(rule);
    for (const dep of devDeps) {
      if (!reach.has(dep)) errors.push(`${name}: may not depend on ${dep} even for tests (reachable: ${[...reach].join(', ') || 'none'})`);
    }
  }
  if (core.includes(name)) {
    for (const field of ['dependencies', 'peerDependencies']) {
      for (const dep of Object.keys(pkg[field] ?? {})) {
        if (drivers.some((d) => dep === d || (d.endsWith('/') && dep.startsWith(d)))) errors.push(`${name}: core package depends on driver ${dep}`);
      }
    }
  }
}

// Cycle check by depth-first search over workspace edges.
const state = new Map();
const stack = [];
function visit(name) {
  if (state.get(name) === 'done') return;
  if (state.get(name) === 'open') {
    errors.push(`cycle: ${[...stack.slice(stack.indexOf(name)), name].join(' -> ')}`);
    return;
  }
  state.set(name, 'open');
  stack.push(name);
  for (const dep of edges.get(name) ?? []) visit(dep);
  stack.pop();
  state.set(name, 'done');
}
for (const name of edges.keys()) visit(name);

// Core packages must not import drivers even without declaring them (a hoisted copy would resolve).
function* sources(dir) {
  for (const entry of readdirSync(dir)) {
    const p = join(dir, entry);
    if (statSync(p).isDirectory()) yield* sources(p);
    else if (p.endsWith('.ts') && !p.includes('.test.')) yield p;
  }
}
for (const name of core) {
  const m = manifests.get(name);
  if (!m || !existsSync(join(m.dir, 'src'))) continue;
  for (const file of sources(join(m.dir, 'src'))) {
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(/(?:from|import\()\s*['"]([^'"]+)['"]/g)) {
      const spec = match[1];
      if (drivers.some((d) => spec === d || spec.startsWith(d.endsWith('/') ? d : `${d}/`))) {
        errors.push(`${file.slice(root.length + 1)}: core package imports driver ${JSON.stringify(spec)}`);
      }
    }
  }
}

if (errors.length > 0) {
  for (const e of errors) console.error(`check-graph: ${e}`);
  process.exit(1);
}
console.log(`check-graph: ${manifests.size} packages, no cycle, every edge allowed`);
