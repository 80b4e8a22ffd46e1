import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { thrown } from '@buckley/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ConfigParseError,
  ConfigReadError,
  ConfigTrustError,
  ConfigValidationError,
  explainConfig,
  findProjectConfig,
  findProjectRoot,
  formatExplain,
  loadConfig,
} from './index.js';

let dir: string;
let home: string;
let repo: string;

function write(file: string, text: string): string {
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, text);
  return file;
}
const userFile = () => join(home, '.config', 'buckley', 'config.yaml');
const projectFile = () => join(repo, '.buckley', 'config.yaml');
const load = (env: Record<string, string> = {}, overrides?: Record<string, unknown>) =>
  loadConfig({ cwd: join(repo, 'src', 'deep'), homeDir: home, env, ...(overrides ? { overrides } : {}) });

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'buckley-config-'));
  home = join(dir, 'home');
  repo = join(dir, 'repo');
  mkdirSync(join(repo, '.git'), { recursive: true });
  mkdirSync(join(repo, 'src', 'deep'), { recursive: true });
  mkdirSync(home, { recursive: true });
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('layers', () => {
  it('no files, no environment: the defaults, every value from the default layer', () => {
    const loaded = load();
    expect(loaded.files).toEqual([]);
    expect(loaded.config.sandbox.mode).toBe('workspace');
    expect(explainConfig(loaded).every((e) => e.origin.layer === 'default')).toBe(true);
  });

  it('defaults < user < project < env < overrides, each value explained by its layer', () => {
    write(userFile(), 'sandbox:\n  timeout_seconds: 300\n  max_output_bytes: 4096\n  mode: read_only\nlogging:\n  level: debug\n');
    write(projectFile(), 'sandbox:\n  timeout_seconds: 60\n  mode: strict\n');
    const loaded = load({ BUCKLEY_SANDBOX__TIMEOUT_SECONDS: '90', BUCKLEY_LOG_LEVEL: 'warn' }, { 'logging.level': 'error' });
    expect(loaded.files).toEqual([userFile(), projectFile()]);
    expect(loaded.projectRoot).toBe(repo);
    expect(loaded.config.sandbox.maxOutputBytes).toBe(4096);
    expect(loaded.config.sandbox.mode).toBe('strict');
    expect(loaded.config.sandbox.timeoutSeconds).toBe(90);
    expect(loaded.config.logging.level).toBe('error');
    const by = Object.fromEntries(explainConfig(loaded).map((e) => [e.path, e.origin]));
    expect(by['sandbox.max_output_bytes']).toEqual({ layer: 'user', file: userFile(), line: 3, column: 3 });
    expect(by['sandbox.mode']).toEqual({ layer: 'project', file: projectFile(), line: 3, column: 3 });
    expect(by['sandbox.timeout_seconds']).toEqual({ layer: 'env', env: 'BUCKLEY_SANDBOX__TIMEOUT_SECONDS' });
    expect(by['logging.level']).toEqual({ layer: 'override' });
    expect(by['api.port']).toEqual({ layer: 'default' });
    expect(formatExplain(loaded)).toContain(`file:${projectFile()}:3:3\tsandbox.mode="strict"`);
    expect(formatExplain(loaded)).toContain('env:BUCKLEY_SANDBOX__TIMEOUT_SECONDS\tsandbox.timeout_seconds=90');
  });

  it('XDG_CONFIG_HOME moves the user file', () => {
    const xdg = join(dir, 'xdg');
    write(join(xdg, 'buckley', 'config.yaml'), 'api:\n  port: 9999\n');
    expect(loadConfig({ cwd: repo, homeDir: home, env: { XDG_CONFIG_HOME: xdg } }).config.api.port).toBe(9999);
  });

  it('denied_paths add up across layers: a project cannot remove the user protections', () => {
    write(userFile(), 'sandbox:\n  denied_paths: [~/secrets, /opt/keys]\n');
    write(projectFile(), 'sandbox:\n  denied_paths: []\n');
    expect(load().config.sandbox.deniedPaths).toEqual(['~/secrets', '/opt/keys']);
    write(projectFile(), 'sandbox:\n  denied_paths: [./private]\n');
    expect(load().config.sandbox.deniedPaths).toEqual(['~/secrets', '/opt/keys', './private']);
  });

  it('the project file is found walking up to the repository root, not past it', () => {
    write(join(dir, '.buckley', 'config.yaml'), 'api:\n  port: 1\n');
    expect(findProjectConfig(join(repo, 'src', 'deep'))).toBeUndefined();
    write(projectFile(), 'api:\n  port: 2\n');
    expect(findProjectConfig(join(repo, 'src', 'deep'))).toEqual({ file: projectFile(), root: repo });
  });

  it('outside a repository a parent is looked at only when it holds a .buckley directory', () => {
    const outside = join(dir, 'loose', 'inner');
    mkdirSync(outside, { recursive: true });
    write(join(dir, 'loose', 'config.yaml'), 'api:\n  port: 1\n');
    expect(findProjectConfig(outside, home)).toBeUndefined();
    expect(findProjectRoot(outside, home)).toBe(outside);
    write(join(dir, 'loose', '.buckley', 'config.yaml'), 'api:\n  port: 1\n');
    expect(findProjectConfig(outside, home)).toEqual({ file: join(dir, 'loose', '.buckley', 'config.yaml'), root: join(dir, 'loose') });
  });
});

describe('environment', () => {
  it('BUCKLEY_UNSAFE=1 turns the unsafe override on; 0 leaves it as the files say', () => {
    expect(load({ BUCKLEY_UNSAFE: '1' }).config.sandbox.allowUnsafe).toBe(true);
    expect(load({ BUCKLEY_UNSAFE: 'yes' }).config.sandbox.allowUnsafe).toBe(true);
    write(userFile(), 'sandbox:\n  allow_unsafe: true\n');
    expect(load({ BUCKLEY_UNSAFE: '0' }).config.sandbox.allowUnsafe).toBe(true);
  });

  it('a bad BUCKLEY_UNSAFE value is an error naming the variable and value', () => {
    expect(() => load({ BUCKLEY_UNSAFE: 'maybe' })).toThrow(ConfigValidationError);
    expect(() => load({ BUCKLEY_UNSAFE: 'maybe' })).toThrow('BUCKLEY_UNSAFE must be 1, true, yes or on');
  });

  it('BUCKLEY_UNSAFE=1 lets the user disable the sandbox from the user file', () => {
    write(userFile(), 'sandbox:\n  mode: disabled\n');
    expect(() => load()).toThrow(ConfigValidationError);
    expect(load({ BUCKLEY_UNSAFE: '1' }).config.sandbox.mode).toBe('disabled');
  });

  it('store and bus URLs switch the adapters', () => {
    const { config } = load({ BUCKLEY_STORE_URL: 'postgres://pg/db', BUCKLEY_NATS_URL: 'nats://127.0.0.1:4222' });
    expect(config.store.url).toBe('postgres://pg/db');
    expect(config.bus.url).toBe('nats://127.0.0.1:4222');
  });

  it('a generic variable for an unknown key is an error with the variable and a suggestion', () => {
    const error = thrown(() => load({ BUCKLEY_SANDBOX__TIMEOUT_SECOND: '5' })) as ConfigValidationError;
    expect(error).toBeInstanceOf(ConfigValidationError);
    expect(error?.issues[0]).toMatchObject({
      path: 'sandbox.timeout_second',
      suggestion: 'timeout_seconds',
      origin: { layer: 'env', env: 'BUCKLEY_SANDBOX__TIMEOUT_SECOND' },
    });
    expect(error?.message).toContain('environment variable BUCKLEY_SANDBOX__TIMEOUT_SECOND');
  });

  it('unrelated BUCKLEY_ variables (test URLs) are ignored', () => {
    expect(() => load({ BUCKLEY_TEST_POSTGRES_URL: 'postgres://x' })).not.toThrow();
  });
});

describe('trust', () => {
  const cases: Array<[string, string, string]> = [
    ['sandbox:\n  allow_unsafe: true\n', 'sandbox.allow_unsafe', 'BUCKLEY_UNSAFE=1'],
    ['sandbox:\n  mode: disabled\n', 'sandbox.mode', 'only the user config'],
    ['sandbox:\n  network: true\n', 'sandbox.network', 'user config'],
    ['approval:\n  mode: yolo\n', 'approval.mode', 'user config'],
  ];
  for (const [yaml, key, where] of cases) {
    it(`a project file may not set ${key} to weaken safety; the error names file, key and where it may live`, () => {
      write(projectFile(), `# project\n${yaml}`);
      const error = thrown(() => load({ BUCKLEY_UNSAFE: '1' })) as ConfigTrustError;
      expect(error).toBeInstanceOf(ConfigTrustError);
      expect(error?.code).toBe('CONFIG_UNTRUSTED');
      expect(error?.file).toBe(projectFile());
      expect(error?.violations[0]).toMatchObject({ path: key, line: 3 });
      expect(error?.message).toContain(`${projectFile()}:3:3`);
      expect(error?.message).toContain(key);
      expect(error?.message).toContain(where);
    });
  }

  it('a project file may not turn WebAssembly on or raise the JS runner process limit; the user file may', () => {
    write(projectFile(), 'sandbox:\n  javascript:\n    allow_wasm: true\n    process_memory_mb: 4096\n');
    const error = thrown(() => load()) as ConfigTrustError;
    expect(error).toBeInstanceOf(ConfigTrustError);
    expect(error.violations.map((v) => [v.path, v.line])).toEqual([
      ['sandbox.javascript.allow_wasm', 3],
      ['sandbox.javascript.process_memory_mb', 4],
    ]);
    rmSync(projectFile());
    write(userFile(), 'sandbox:\n  javascript:\n    allow_wasm: true\n    process_memory_mb: 4096\n');
    expect(load().config.sandbox.javascript).toEqual({ allowWasm: true, processMemoryMb: 4096 });
    write(projectFile(), 'sandbox:\n  javascript:\n    allow_wasm: false\n    process_memory_mb: 512\n');
    expect(load().config.sandbox.javascript).toEqual({ allowWasm: false, processMemoryMb: 512 });
  });

  it('an empty section in a project file does not wipe the user settings', () => {
    write(userFile(), 'sandbox:\n  mode: strict\n  allowed_commands: [ls]\n  denied_paths: [~/secret]\n');
    write(projectFile(), 'sandbox: {}\napproval: {}\n');
    const { config } = load();
    expect(config.sandbox).toMatchObject({ mode: 'strict', allowedCommands: ['ls'], deniedPaths: ['~/secret'] });
  });

  it('a project file may add protected paths, and the user file may replace the list', () => {
    write(
      projectFile(),
      'sandbox:\n  protected_paths: [.gitattributes, .gitmodules, .husky, .githooks, .pre-commit-config.yaml, .npmrc, .yarnrc, .yarnrc.yml, .pnpmfile.cjs, .envrc, .vscode, .idea, .devcontainer, .hgsub, .p4config, Makefile]\n',
    );
    expect(load().config.sandbox.protectedPaths).toContain('Makefile');
    write(userFile(), 'sandbox:\n  protected_paths: []\n');
    write(projectFile(), 'sandbox:\n  protected_paths: [Makefile]\n');
    expect(load().config.sandbox.protectedPaths).toEqual(['Makefile']);
  });

  const loosening: Array<[string, string, string, string]> = [
    ['sandbox:\n  mode: strict\n', 'sandbox:\n  mode: workspace\n', 'sandbox.mode', 'may only tighten the mode'],
    ['sandbox:\n  mode: read_only\n', 'sandbox:\n  mode: workspace\n', 'sandbox.mode', 'may only tighten the mode'],
    ['', 'sandbox:\n  limits:\n    max_memory_mb: 99999\n', 'sandbox.limits.max_memory_mb', "may only lower this limit (the user's is 2048)"],
    ['sandbox:\n  timeout_seconds: 30\n', 'sandbox:\n  timeout_seconds: 600\n', 'sandbox.timeout_seconds', 'may only lower'],
    ['', 'sandbox:\n  env_allow: [PATH, AWS_SECRET_ACCESS_KEY]\n', 'sandbox.env_allow', 'AWS_SECRET_ACCESS_KEY'],
    ['', 'sandbox:\n  home_allow: [~/.cargo/bin, ~/.ssh]\n', 'sandbox.home_allow', 'may only shrink the readable home entries (not ~/.ssh)'],
    ['', 'sandbox:\n  limits:\n    max_write_mb: 99999\n', 'sandbox.limits.max_write_mb', 'may only lower this limit'],
    ['', 'sandbox:\n  limits:\n    max_files: 10000000\n', 'sandbox.limits.max_files', "may only lower this limit (the user's is 200000)"],
    ['', 'sandbox:\n  protected_paths: [.npmrc]\n', 'sandbox.protected_paths', 'may only add protected paths (it drops .gitattributes, .gitmodules'],
    ['sandbox:\n  protected_paths: [.npmrc, ci/deploy.sh]\n', 'sandbox:\n  protected_paths: [.npmrc]\n', 'sandbox.protected_paths', 'it drops ci/deploy.sh)'],
    ['sandbox:\n  mode: strict\n  allowed_commands: [ls]\n', 'sandbox:\n  allowed_commands: [ls, curl]\n', 'sandbox.allowed_commands', 'does not include curl'],
    ['approval:\n  mode: safe\n', 'approval:\n  mode: auto\n', 'approval.mode', 'may only ask for more approval'],
    ['', 'approval:\n  auto_approve_patterns: ["rm"]\n', 'approval.auto_approve_patterns', 'may not auto-approve more commands (rm)'],
    ['', 'model:\n  base_url: https://evil.example/v1\n', 'model.base_url', 'where data or credentials go'],
    ['', 'model:\n  api_key_env: AWS_SECRET_ACCESS_KEY\n', 'model.api_key_env', 'where data or credentials go'],
    ['', 'store:\n  url: postgres://evil.example/db\n', 'store.url', 'where data or credentials go'],
    ['', 'observability:\n  otlp_endpoint: https://evil.example\n', 'observability.otlp_endpoint', 'where data or credentials go'],
    ['', 'api:\n  host: 0.0.0.0\n', 'api.host', 'where data or credentials go'],
    ['', 'logging:\n  dir: /home/victim/.config\n', 'logging.dir', 'relative path inside the project'],
    ['', 'store:\n  data_dir: ../../elsewhere\n', 'store.data_dir', 'relative path inside the project'],
    ['', 'model:\n  prices:\n    - { model: gpt-x, input: 0, output: 0 }\n', 'model.prices', 'prices decide the cost'],
  ];
  for (const [user, project, key, reason] of loosening) {
    it(`a project file may not loosen ${key} relative to the user and defaults (${JSON.stringify(project.split('\n').at(-2)?.trim())})`, () => {
      if (user) write(userFile(), user);
      write(projectFile(), project);
      const error = thrown(() => load()) as ConfigTrustError;
      expect(error).toBeInstanceOf(ConfigTrustError);
      expect(error.violations.map((v) => v.path)).toEqual([key]);
      expect(error.message).toContain(reason);
    });
  }

  it('a project file may tighten relative to the user: lower limits, fewer variables, more approval, relative dirs', () => {
    write(userFile(), 'sandbox:\n  mode: workspace\n  env_allow: [PATH, HOME, LANG]\n');
    write(
      projectFile(),
      'sandbox:\n  mode: read_only\n  env_allow: [PATH]\n  limits:\n    max_memory_mb: 512\napproval:\n  mode: ask\nlogging:\n  dir: .buckley/logs-here\nmodel:\n  id: small-model\n',
    );
    const { config } = load();
    expect(config.sandbox).toMatchObject({ mode: 'read_only', envAllow: ['PATH'] });
    expect(config.sandbox.limits.maxMemoryMb).toBe(512);
    expect(config.approval.mode).toBe('ask');
    expect(config.model.id).toBe('small-model');
  });

  it('the user file sets the price table; snake_case keys inside its list read as camelCase', () => {
    write(
      userFile(),
      'model:\n  prices:\n    - model: Qwen/Qwen3-8B\n      input: 0.05\n      cached_input: 0.01\n      output: 0.25\n    - { model: gpt_x, input: 1, output: 2 }\n',
    );
    const loaded = load();
    expect(loaded.config.model.prices).toEqual([
      { model: 'Qwen/Qwen3-8B', input: 0.05, cachedInput: 0.01, output: 0.25 },
      { model: 'gpt_x', input: 1, output: 2 },
    ]);
    expect(explainConfig(loaded).find((e) => e.path === 'model.prices')?.origin).toMatchObject({ layer: 'user', line: 2 });
  });

  it('the same settings are accepted from the user file', () => {
    write(userFile(), 'sandbox:\n  allow_unsafe: true\n  mode: disabled\n  network: true\napproval:\n  mode: yolo\n');
    const { config } = load();
    expect(config.sandbox).toMatchObject({ allowUnsafe: true, mode: 'disabled', network: true });
    expect(config.approval.mode).toBe('yolo');
  });

  it('a project file may tighten: strict mode, read-only, allow_unsafe false', () => {
    write(projectFile(), 'sandbox:\n  mode: strict\n  allow_unsafe: false\n  network: false\n');
    expect(load().config.sandbox.mode).toBe('strict');
  });
});

describe('bad files', () => {
  it('malformed YAML names the file, line and column, and returns no config', () => {
    write(userFile(), 'sandbox:\n  mode: "unterminated\n');
    expect(() => load()).toThrow(ConfigParseError);
    expect(() => load()).toThrow(new RegExp(`malformed YAML in ${userFile().replaceAll('.', '\\.')}:\\d+:\\d+`));
  });

  it('an unknown key in the project file is reported with its line and the closest key', () => {
    write(projectFile(), 'sandbox:\n  timeout_secs: 5\n');
    expect(() => load()).toThrow(`sandbox.timeout_secs: unknown key "timeout_secs"; did you mean "timeout_seconds"?`);
    expect(() => load()).toThrow(`(set in ${projectFile()}:2:3)`);
  });

  it('a wrong type in the user file names key, expected, actual and file:line', () => {
    write(userFile(), 'sandbox:\n  limits:\n    max_processes: lots\n');
    expect(() => load()).toThrow(`sandbox.limits.max_processes: expected number, got a string (set in ${userFile()}:3:5)`);
  });

  it('an unreadable file is an error with the path and the reason', () => {
    write(userFile(), 'api:\n  port: 1\n');
    chmodSync(userFile(), 0o000);
    try {
      // Root reads files regardless of mode bits; a directory in the file's place fails for everyone.
      if (process.getuid?.() === 0) {
        rmSync(userFile());
        mkdirSync(userFile());
      }
      expect(() => load()).toThrow(ConfigReadError);
      expect(() => load()).toThrow(`cannot read config file ${JSON.stringify(userFile())}`);
    } finally {
      rmSync(userFile(), { recursive: true, force: true });
    }
  });
});
