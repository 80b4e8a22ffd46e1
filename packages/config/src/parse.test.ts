import { thrown } from '@buckley/testing';
import { describe, expect, it } from 'vitest';
import { ConfigParseError, ConfigValidationError, configSchema, defaultConfig, parseConfig } from './index.js';
import { parseYamlLayer } from './yaml-source.js';

function issuesOf(fn: () => unknown) {
  const error = thrown(fn);
  expect(error).toBeInstanceOf(ConfigValidationError);
  return (error as ConfigValidationError).issues;
}

describe('defaults', () => {
  it('are safe: sandboxed workspace, no network, no unsafe override, approval safe', () => {
    const config = defaultConfig();
    expect(config.sandbox).toMatchObject({ mode: 'workspace', allowUnsafe: false, network: false, timeoutSeconds: 120 });
    expect(config.sandbox.limits).toEqual({ maxProcesses: 256, maxMemoryMb: 2048, maxFileSizeMb: 1024, cpuSeconds: 300, maxWriteMb: 1024, maxFiles: 200_000 });
    // Only toolchains are readable in the home by default, no credential directory.
    expect(config.sandbox.homeAllow).toContain('~/.cargo/bin');
    expect(config.sandbox.homeAllow.filter((p) => /ssh|aws|gnupg|config|credentials|\.claude|\.codex/.test(p))).toEqual([]);
    expect(config.approval.mode).toBe('safe');
    expect(config.store.url).toBeNull();
    expect(config.bus.url).toBeNull();
    expect(config.sandbox.envAllow).not.toContain('AWS_SECRET_ACCESS_KEY');
  });

  it('round-trip: the schema accepts its own defaults unchanged', () => {
    expect(configSchema.parse(defaultConfig())).toEqual(defaultConfig());
  });
});

describe('validation', () => {
  it('reads snake_case keys into camelCase fields', () => {
    const config = parseConfig({ sandbox: { timeout_seconds: 30, limits: { max_processes: 8 } }, store: { url: 'postgres://x/db' } });
    expect(config.sandbox.timeoutSeconds).toBe(30);
    expect(config.sandbox.limits.maxProcesses).toBe(8);
    expect(config.sandbox.limits.maxMemoryMb).toBe(2048);
    expect(config.store.url).toBe('postgres://x/db');
  });

  it('model.prices: no built-in prices; a negative price, an unknown key or a model priced twice is an issue', () => {
    expect(defaultConfig().model.prices).toEqual([]);
    expect(issuesOf(() => parseConfig({ model: { prices: [{ model: 'a', input: -1, output: 1 }] } }))[0]?.path).toBe('model.prices.0.input');
    expect(issuesOf(() => parseConfig({ model: { prices: [{ model: 'a', input: 1, output: 1, cached: 1 }] } }))[0]?.path).toBe('model.prices.0.cached');
    const [twice] = issuesOf(() =>
      parseConfig({
        model: {
          prices: [
            { model: 'a', input: 1, output: 1 },
            { model: 'a', input: 2, output: 2 },
          ],
        },
      }),
    );
    expect(twice?.path).toBe('model.prices.1.model');
    expect(twice?.message).toContain('"a" is priced twice');
  });

  it('an unknown key names its path and the closest known key', () => {
    const [issue] = issuesOf(() => parseConfig({ sandbox: { alow_unsafe: true } }));
    expect(issue?.path).toBe('sandbox.alow_unsafe');
    expect(issue?.suggestion).toBe('allow_unsafe');
    expect(issue?.message).toContain('did you mean "allow_unsafe"');
  });

  it('a camelCase key in a file is unknown, with the snake_case key suggested', () => {
    const [issue] = issuesOf(() => parseConfig({ sandbox: { allowUnsafe: true } }));
    expect(issue?.path).toBe('sandbox.allowUnsafe');
    expect(issue?.suggestion).toBe('allow_unsafe');
  });

  it('an unknown section suggests the closest section', () => {
    const [issue] = issuesOf(() => parseConfig({ sandbx: {} }));
    expect(issue?.path).toBe('sandbx');
    expect(issue?.suggestion).toBe('sandbox');
  });

  it('a wrong type names the key, the expected type and the actual value', () => {
    const [issue] = issuesOf(() => parseConfig({ sandbox: { timeout_seconds: 'soon' } }));
    expect(issue).toMatchObject({ path: 'sandbox.timeout_seconds', message: 'expected number, got a string' });
  });

  it('out-of-range values name the bound and the value', () => {
    const issues = issuesOf(() => parseConfig({ sandbox: { timeout_seconds: 0, limits: { max_memory_mb: 1.5 } }, api: { port: 70000 } }));
    expect(issues.map((i) => [i.path, i.message])).toEqual([
      ['sandbox.timeout_seconds', 'expected a number >= 1, got 0'],
      ['sandbox.limits.max_memory_mb', 'expected an integer, got 1.5'],
      ['api.port', 'expected a number <= 65535, got 70000'],
    ]);
  });

  it('an enum lists the allowed values', () => {
    const [issue] = issuesOf(() => parseConfig({ sandbox: { mode: 'yolo' } }));
    expect(issue?.message).toBe('expected one of "workspace", "read_only", "strict", "disabled", got a string');
  });

  it('sandbox.mode disabled without allow_unsafe is an error that says how to allow it', () => {
    const [issue] = issuesOf(() => parseConfig({ sandbox: { mode: 'disabled' } }));
    expect(issue?.path).toBe('sandbox.mode');
    expect(issue?.message).toContain('sandbox.allow_unsafe: true');
    expect(parseConfig({ sandbox: { mode: 'disabled', allow_unsafe: true } }).sandbox.mode).toBe('disabled');
  });

  it('a section given as a scalar is a type error at the section', () => {
    const [issue] = issuesOf(() => parseConfig({ sandbox: 5 }));
    expect(issue).toMatchObject({ path: 'sandbox', message: 'expected object, got 5' });
  });

  it('reports every issue at once', () => {
    const issues = issuesOf(() => parseConfig({ store: { url: 'mysql://x' }, bus: { url: 'http://x' }, logging: { level: 'loud' } }));
    expect(issues.map((i) => i.path)).toEqual(['store.url', 'bus.url', 'logging.level']);
    expect(issues[0]?.message).toBe('expected a postgres:// or postgresql:// URL, got a string');
  });
});

describe('YAML', () => {
  it('malformed YAML is an error with file, line and column', () => {
    const error = thrown(() => parseYamlLayer('/x/config.yaml', 'sandbox:\n  mode: [workspace\n')) as ConfigParseError;
    expect(error).toBeInstanceOf(ConfigParseError);
    expect(error.file).toBe('/x/config.yaml');
    expect(error.line).toBeGreaterThanOrEqual(2);
    expect(error.message).toMatch(/^malformed YAML in \/x\/config\.yaml:\d+:\d+: /);
  });

  it('a duplicate key is a parse error at its line', () => {
    expect(() => parseYamlLayer('/c.yaml', 'sandbox:\n  mode: strict\n  mode: workspace\n')).toThrow(/c\.yaml:3:\d+/);
  });

  it('a top level that is not a mapping is rejected', () => {
    expect(() => parseYamlLayer('/c.yaml', '- a\n- b\n')).toThrow('the top level must be a mapping');
  });

  it('an empty or comment-only file is an empty layer', () => {
    expect(parseYamlLayer('/c.yaml', '').values).toEqual({});
    expect(parseYamlLayer('/c.yaml', '# nothing\n').values).toEqual({});
  });

  it('records the position of every key', () => {
    const layer = parseYamlLayer('/c.yaml', 'sandbox:\n  limits:\n    max_processes: 4\n');
    expect(layer.positions.get('sandbox.limits.max_processes')).toEqual({ line: 3, column: 5 });
  });
});
