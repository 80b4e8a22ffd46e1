import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { thrown } from '@buckley/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, ConfigOutsideProjectError, findProjectConfig, findProjectRoot, loadConfig } from './index.js';

// What a sandboxed command can do: write anywhere in the workspace except its root `.buckley`
// and `.git` (the sandbox masks both). These tests plant files the way such a command would.

let dir: string;
let home: string;
let repo: string;

function write(file: string, text: string): string {
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, text);
  return file;
}

const FAKE_SECRET = 'buckley_fake_secret_7f3a9c';

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'buckley-config-root-'));
  home = join(dir, 'home');
  repo = join(dir, 'repo');
  mkdirSync(join(repo, '.git'), { recursive: true });
  mkdirSync(join(repo, 'app', 'src'), { recursive: true });
  mkdirSync(home, { recursive: true });
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const load = (cwd: string) => loadConfig({ cwd, homeDir: home, env: {} });

describe('a planted project config does not shadow the project root (hostile)', () => {
  it('inside a repository: app/.buckley/config.yaml is ignored, the root file holds', () => {
    const rootFile = write(join(repo, '.buckley', 'config.yaml'), 'sandbox:\n  denied_paths: [./private]\n  limits:\n    max_processes: 16\n');
    write(join(repo, 'app', '.buckley', 'config.yaml'), 'sandbox: {}\n');
    for (const cwd of [join(repo, 'app'), join(repo, 'app', 'src'), repo]) {
      const loaded = load(cwd);
      expect(loaded.files).toEqual([rootFile]);
      expect(loaded.projectRoot).toBe(repo);
      expect(loaded.config.sandbox.deniedPaths).toEqual(['./private']);
      expect(loaded.config.sandbox.limits.maxProcesses).toBe(16);
    }
  });

  it('inside a repository without a root file: a planted subdirectory file is not read at all', () => {
    write(join(repo, 'app', '.buckley', 'config.yaml'), 'sandbox:\n  mode: strict\n');
    const loaded = load(join(repo, 'app'));
    expect(loaded.files).toEqual([]);
    expect(loaded.config.sandbox.mode).toBe('workspace');
    expect(findProjectConfig(join(repo, 'app'), home)).toBeUndefined();
    expect(findProjectRoot(join(repo, 'app'), home)).toBe(repo);
  });

  it('outside a repository: a file planted below an earlier workspace (which has .buckley) is ignored', () => {
    const workspace = join(dir, 'loose');
    const rootFile = write(join(workspace, '.buckley', 'config.yaml'), 'sandbox:\n  timeout_seconds: 5\n');
    write(join(workspace, 'app', '.buckley', 'config.yaml'), 'sandbox: {}\napi:\n  port: 9\n');
    const loaded = load(join(workspace, 'app'));
    expect(loaded.files).toEqual([rootFile]);
    expect(loaded.projectRoot).toBe(workspace);
    expect(loaded.config.sandbox.timeoutSeconds).toBe(5);
    expect(loaded.config.api.port).toBe(4180);
  });

  it('outside a repository: the empty .buckley the sandbox leaves at a workspace root still marks it', () => {
    const workspace = join(dir, 'loose');
    mkdirSync(join(workspace, '.buckley'), { recursive: true });
    write(join(workspace, 'app', '.buckley', 'config.yaml'), 'api:\n  port: 9\n');
    const loaded = load(join(workspace, 'app'));
    expect(loaded.files).toEqual([]);
    expect(loaded.config.api.port).toBe(4180);
  });

  it('a .buckley in the home directory never makes home the project root', () => {
    write(join(home, '.buckley', 'config.yaml'), 'api:\n  port: 9\n');
    mkdirSync(join(home, 'work'), { recursive: true });
    expect(load(join(home, 'work')).files).toEqual([]);
  });
});

describe('a project config that is a symlink out of the project is refused (hostile)', () => {
  const outside = () => write(join(dir, 'outside', 'shadow'), `${FAKE_SECRET}: hunter2\nsecond:line\n`);

  const expectRefused = (cwd: string) => {
    const error = thrown(() => load(cwd));
    expect(error).toBeInstanceOf(ConfigOutsideProjectError);
    expect((error as ConfigError).code).toBe('CONFIG_OUTSIDE_PROJECT');
    const printed = `${String(error)}\n${inspect(error, { depth: 10 })}`;
    expect(printed).not.toContain(FAKE_SECRET);
    expect(printed).not.toContain('hunter2');
    return error as ConfigOutsideProjectError;
  };

  it('config.yaml linked to a file outside: a typed error that prints none of its content', () => {
    mkdirSync(join(repo, '.buckley'));
    symlinkSync(outside(), join(repo, '.buckley', 'config.yaml'));
    const error = expectRefused(join(repo, 'app'));
    expect(error.file).toBe(join(repo, '.buckley', 'config.yaml'));
  });

  it('the .buckley directory linked out of the project', () => {
    outside();
    write(join(dir, 'outside', 'cfg', 'config.yaml'), `${FAKE_SECRET}: 1\n`);
    symlinkSync(join(dir, 'outside', 'cfg'), join(repo, '.buckley'));
    expect(expectRefused(repo).target).toBe(join(dir, 'outside', 'cfg', 'config.yaml'));
  });

  it('a relative symlink that climbs out', () => {
    outside();
    mkdirSync(join(repo, '.buckley'));
    symlinkSync('../../outside/shadow', join(repo, '.buckley', 'config.yaml'));
    expect(expectRefused(repo).root).toBe(repo);
  });

  it('a symlink inside the project is followed', () => {
    write(join(repo, 'config', 'buckley.yaml'), 'api:\n  port: 7\n');
    mkdirSync(join(repo, '.buckley'));
    symlinkSync('../config/buckley.yaml', join(repo, '.buckley', 'config.yaml'));
    expect(load(repo).config.api.port).toBe(7);
  });
});

describe('config errors print key paths and positions, never file content (hostile)', () => {
  const expectSilent = (text: string) => {
    write(join(repo, '.buckley', 'config.yaml'), text);
    const error = thrown(() => load(repo));
    expect(error).toBeInstanceOf(ConfigError);
    const printed = `${String(error)}\n${inspect(error, { depth: 10 })}\n${JSON.stringify(error)}`;
    expect(printed).not.toContain(FAKE_SECRET);
    return String(error);
  };

  it('a wrong string value: the key and position, not the value', () => {
    const message = expectSilent(`sandbox:\n  mode: ${FAKE_SECRET}\n`);
    expect(message).toContain('sandbox.mode');
    expect(message).toContain(':2:3');
  });

  it('a wrong type', () => {
    expect(expectSilent(`sandbox:\n  timeout_seconds: ${FAKE_SECRET}\n`)).toContain('sandbox.timeout_seconds');
  });

  it('a list of strings where a list of names belongs', () => {
    expect(expectSilent(`sandbox:\n  env_allow: ["${FAKE_SECRET} x"]\n`)).toContain('1 other item');
  });

  it('a trust violation', () => {
    expect(expectSilent(`store:\n  url: postgres://u:${FAKE_SECRET}@h/db\n`)).toContain('store.url');
  });

  it('malformed YAML (an unresolved alias, a bad tag, a bad escape)', () => {
    for (const text of [
      `sandbox:\n  mode: *${FAKE_SECRET}\n`,
      `sandbox:\n  mode: !${FAKE_SECRET} x\n`,
      `sandbox:\n  mode: "\\q${FAKE_SECRET}"\n`,
      `sandbox:\n  mode: [${FAKE_SECRET}\n`,
    ]) {
      expect(expectSilent(text)).toMatch(/malformed YAML in \S+:\d+:\d+: |sandbox\.mode: /);
    }
  });

  it('an unknown key that is not a key name is not quoted', () => {
    const message = expectSilent(`${FAKE_SECRET}-Tok/en+: 1\n`);
    expect(message).toContain('unknown key');
  });
});
