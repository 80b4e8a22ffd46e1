import { describe, expect, it } from 'vitest';
import { classifyAddress, validateUrl } from './url.js';

const ids = (url: string, serverSide = true): string[] => validateUrl(url, { serverSide }).findings.map((f) => f.ruleId);

describe('validateUrl', () => {
  it('accepts public http(s) URLs', () => {
    for (const url of ['https://example.com/a?b=c', 'http://93.184.216.34/', 'https://[2606:4700::1111]/']) {
      const result = validateUrl(url, { serverSide: true });
      expect({ url, findings: result.findings }).toEqual({ url, findings: [] });
      expect(result.ok).toBe(true);
      expect(result.url?.href).toBeDefined();
    }
  });

  it('enforces the scheme allow-list', () => {
    expect(ids('file:///etc/passwd')).toContain('url.scheme-not-allowed');
    expect(ids('javascript:alert(1)', false)).toContain('url.scheme-not-allowed');
    expect(ids('gopher://x/')).toContain('url.scheme-not-allowed');
    expect(validateUrl('ssh://git@host/x', { allowedSchemes: ['ssh'] }).ok).toBe(true);
    expect(validateUrl('HTTPS://example.com', { allowedSchemes: ['https:'] }).ok).toBe(true);
  });

  it('refuses input that does not parse, without throwing', () => {
    for (const bad of ['', 'not a url', '//x', 'http://', 'http://[::1', 42 as unknown as string]) {
      const result = validateUrl(bad);
      expect({ bad, ok: result.ok }).toEqual({ bad, ok: false });
    }
    expect(ids('http://exa\nmple.com/')).toContain('url.control-characters');
    expect(ids(`https://x/${'a'.repeat(9000)}`)).toEqual(['url.too-long']);
  });

  it.each([
    ['http://127.0.0.1/', 'url.loopback'],
    ['http://127.1.2.3:8080/', 'url.loopback'],
    ['http://[::1]/', 'url.loopback'],
    ['http://10.1.2.3/', 'url.private'],
    ['http://172.16.0.1/', 'url.private'],
    ['http://192.168.1.1/', 'url.private'],
    ['http://169.254.169.254/latest/meta-data/', 'url.link-local'],
    ['http://[fe80::1]/', 'url.link-local'],
    ['http://[fd00::1]/', 'url.unique-local'],
    ['http://0.0.0.0/', 'url.unspecified'],
    ['http://[::]/', 'url.unspecified'],
    ['http://100.64.0.1/', 'url.carrier-grade-nat'],
    ['http://224.0.0.1/', 'url.multicast'],
    ['http://2130706433/', 'url.obfuscated-ip'],
    ['http://2130706433/', 'url.loopback'],
    ['http://0177.0.0.1/', 'url.obfuscated-ip'],
    ['http://0x7f.0.0.1/', 'url.obfuscated-ip'],
    ['http://0x7f000001/', 'url.loopback'],
    ['http://127.1/', 'url.obfuscated-ip'],
    ['http://0xa9.0xfe.0xa9.0xfe/', 'url.link-local'],
    ['http://[::ffff:127.0.0.1]/', 'url.ipv6-embedded-ipv4'],
    ['http://[::ffff:127.0.0.1]/', 'url.loopback'],
    ['http://[::ffff:a9fe:a9fe]/', 'url.link-local'],
    ['http://[64:ff9b::10.0.0.1]/', 'url.private'],
    ['http://[2002:c0a8:0101::]/', 'url.private'],
    ['http://[::127.0.0.1]/', 'url.loopback'],
    ['http://localhost:3000/', 'url.local-name'],
    ['http://LOCALHOST./', 'url.local-name'],
    ['http://api.localhost/', 'url.local-name'],
    ['http://metadata.google.internal/computeMetadata/v1/', 'url.local-name'],
    ['http://printer.local/', 'url.internal-name'],
  ])('server-side %s -> %s', (url, rule) => {
    expect(ids(url)).toContain(rule);
  });

  it('does not flag private hosts for client-side use', () => {
    expect(validateUrl('http://127.0.0.1:3000/', { serverSide: false }).findings).toEqual([]);
    expect(validateUrl('http://localhost/').ok).toBe(true);
  });

  it('flags credentials without repeating them', () => {
    const result = validateUrl('https://admin:hunter2-secret@example.com/x', { serverSide: true });
    expect(result.findings.map((f) => f.ruleId)).toEqual(['url.credentials']);
    expect(JSON.stringify(result.findings)).not.toContain('hunter2');
    expect(result.ok).toBe(true);
  });
});

describe('classifyAddress', () => {
  it('classifies literals, including IPv6 forms that carry IPv4', () => {
    expect(classifyAddress('8.8.8.8')).toBe('public');
    expect(classifyAddress('::ffff:10.0.0.1')).toBe('private');
    expect(classifyAddress('[::1]')).toBe('loopback');
    expect(classifyAddress('fe80::1%eth0')).toBe('link_local');
    expect(classifyAddress('2001:db8::1')).toBe('reserved');
    expect(classifyAddress('example.com')).toBeUndefined();
  });
});
