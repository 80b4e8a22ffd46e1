import ipaddr from 'ipaddr.js';
import { type Finding, noBlockingFindings } from './finding.js';

/** Options of {@link validateUrl}. */
export interface ValidateUrlOptions {
  /** Schemes allowed, without the colon, lower case (default `['https', 'http']`). */
  readonly allowedSchemes?: readonly string[];
  /**
   * The URL will be fetched by this process (or a server acting for a user): loopback,
   * private, link-local (cloud metadata), unique-local, IPv4-mapped and odd IP spellings are
   * flagged, because they reach the machine's own network rather than the internet.
   */
  readonly serverSide?: boolean;
  /** Longest URL accepted (default 8192). */
  readonly maxLength?: number;
}

/** What {@link validateUrl} found. */
export interface UrlValidation {
  /** True when no finding is high or critical. */
  readonly ok: boolean;
  /** The parsed URL, when it parses. Its `username` / `password` may hold credentials: do not log it raw. */
  readonly url?: URL;
  readonly findings: readonly Finding[];
}

/** Class of an IP address, as far as a server-side fetch is concerned. */
export type AddressClass =
  'public' | 'loopback' | 'private' | 'link_local' | 'unique_local' | 'unspecified' | 'multicast' | 'broadcast' | 'carrier_grade_nat' | 'reserved';

function mapRange(range: string): AddressClass {
  switch (range) {
    case 'unicast':
    case 'teredo':
    case '6to4':
    case 'rfc6052':
    case 'rfc6145':
    case 'ipv4Mapped':
      return 'public';
    case 'loopback':
      return 'loopback';
    case 'private':
      return 'private';
    case 'linkLocal':
      return 'link_local';
    case 'uniqueLocal':
    case 'deprecatedSiteLocal':
      return 'unique_local';
    case 'unspecified':
      return 'unspecified';
    case 'multicast':
      return 'multicast';
    case 'broadcast':
      return 'broadcast';
    case 'carrierGradeNat':
      return 'carrier_grade_nat';
    default:
      return 'reserved';
  }
}

/** The IPv4 address an IPv6 address carries (mapped, translated, NAT64, 6to4, compatible), if any. */
function embeddedIpv4(v6: ipaddr.IPv6): ipaddr.IPv4 | undefined {
  const p = v6.parts;
  const range = v6.range();
  const low = (): ipaddr.IPv4 => new ipaddr.IPv4([p[6]! >> 8, p[6]! & 0xff, p[7]! >> 8, p[7]! & 0xff]);
  if (range === 'ipv4Mapped' || range === 'rfc6145' || range === 'rfc6052') return low();
  if (range === '6to4') return new ipaddr.IPv4([p[1]! >> 8, p[1]! & 0xff, p[2]! >> 8, p[2]! & 0xff]);
  // Deprecated IPv4-compatible `::a.b.c.d` (not `::` or `::1`).
  if (p.slice(0, 6).every((x) => x === 0) && (p[6] !== 0 || p[7]! > 1)) return low();
  return undefined;
}

/**
 * Classifies an IP address literal (IPv4 in any spelling `ipaddr.js` accepts, or IPv6,
 * brackets allowed). IPv6 forms that carry an IPv4 address (`::ffff:127.0.0.1`, NAT64
 * `64:ff9b::`, 6to4 `2002::/16`) are classified by that IPv4 address. Use it on the
 * addresses a host name resolves to, since a public name can point at a private address.
 * Returns undefined when `address` is not an IP literal.
 */
export function classifyAddress(address: string): AddressClass | undefined {
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    parsed = ipaddr.parse(bare.includes('%') ? bare.slice(0, bare.indexOf('%')) : bare);
  } catch {
    return undefined;
  }
  if (parsed.kind() === 'ipv6') {
    const v4 = embeddedIpv4(parsed as ipaddr.IPv6);
    if (v4) return mapRange(v4.range());
  }
  return mapRange(parsed.range());
}

const localNames =
  /^(?:localhost|localhost\.localdomain|ip6-localhost|ip6-loopback|metadata|metadata\.google\.internal|instance-data|instance-data\.ec2\.internal|kubernetes\.default(?:\.svc(?:\.cluster\.local)?)?)$|\.localhost$/;
const internalSuffix = /\.(?:local|internal|intranet|corp|home\.arpa|lan|cluster\.local)$/;

function f(ruleId: string, category: Finding['category'], severity: Finding['severity'], message: string, confidence = 1): Finding {
  return { ruleId, category, severity, confidence, message };
}

/** The host as typed, from the raw string (the WHATWG parser rewrites `0x7f.1` to `127.0.0.1`). */
function rawHost(input: string): string | undefined {
  const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#\\]*)/.exec(input.trim());
  if (!m) return undefined;
  let authority = m[1]!;
  const at = authority.lastIndexOf('@');
  if (at >= 0) authority = authority.slice(at + 1);
  if (authority.startsWith('[')) return authority.slice(0, authority.indexOf(']') + 1 || undefined);
  const colon = authority.lastIndexOf(':');
  return (colon >= 0 ? authority.slice(0, colon) : authority).toLowerCase();
}

/**
 * Checks a URL: it must parse, its scheme must be allowed, and, for `serverSide` fetches, its
 * host must not be loopback, private, link-local (cloud metadata at 169.254.169.254),
 * unique-local, unspecified, or any of those written in disguise (decimal `2130706433`, octal
 * `0177.0.0.1`, hex `0x7f.1`, IPv4-mapped `[::ffff:127.0.0.1]`). Credentials in the URL are
 * flagged (and never repeated in a message). Returns findings, never throws.
 *
 * A host *name* is checked only against well-known local names; resolve it and check every
 * address with {@link classifyAddress} before connecting, or DNS can point a public-looking
 * name at a private address.
 *
 * @example
 * ```ts
 * validateUrl('http://169.254.169.254/latest/meta-data', { serverSide: true }).ok; // false
 * ```
 */
export function validateUrl(url: string, options: ValidateUrlOptions = {}): UrlValidation {
  const findings: Finding[] = [];
  const maxLength = options.maxLength ?? 8192;
  if (typeof url !== 'string' || url.length === 0) {
    return {
      ok: false,
      findings: [
        f('url.invalid', 'invalid_input', 'high', `url must be a non-empty string, got ${JSON.stringify(typeof url === 'string' ? url : typeof url)}`),
      ],
    };
  }
  if (url.length > maxLength) {
    return { ok: false, findings: [f('url.too-long', 'invalid_input', 'high', `url is ${url.length} characters long; maxLength is ${maxLength}`)] };
  }
  // oxlint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(url)) {
    findings.push(
      f('url.control-characters', 'invalid_input', 'high', 'url contains control characters (parsers disagree on them: tab and newline are silently removed)'),
    );
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    findings.push(f('url.invalid', 'invalid_input', 'high', 'url does not parse as an absolute URL'));
    return { ok: false, findings };
  }
  const scheme = parsed.protocol.slice(0, -1).toLowerCase();
  const allowed = (options.allowedSchemes ?? ['https', 'http']).map((s) => s.toLowerCase().replace(/:$/, ''));
  const where = `${scheme}://${parsed.host}`;
  if (!allowed.includes(scheme)) {
    findings.push(
      f('url.scheme-not-allowed', 'invalid_input', 'high', `scheme ${JSON.stringify(scheme)} is not allowed; expected one of ${JSON.stringify(allowed)}`),
    );
  }
  if (parsed.username !== '' || parsed.password !== '') {
    findings.push(f('url.credentials', 'sensitive_data', 'medium', `url ${JSON.stringify(where)} carries credentials in its user-info part`));
  }
  if (options.serverSide) {
    const host = parsed.hostname.toLowerCase();
    const typed = rawHost(url);
    const cls = classifyAddress(host);
    if (cls !== undefined) {
      const isV4 = !host.startsWith('[');
      if (isV4 && typed !== undefined && typed.replace(/\.$/, '') !== host) {
        findings.push(
          f('url.obfuscated-ip', 'ssrf', 'high', `host ${JSON.stringify(typed)} is an unusual spelling (decimal, octal, hex or shortened) of ${host}`),
        );
      }
      if (!isV4) {
        const v6 = ipaddr.parse(host.slice(1, -1)) as ipaddr.IPv6;
        const embedded = embeddedIpv4(v6);
        if (embedded && cls !== 'public') {
          findings.push(
            f(
              'url.ipv6-embedded-ipv4',
              'ssrf',
              'high',
              `IPv6 host ${JSON.stringify(host)} carries the IPv4 address ${embedded.toString()} (${cls.replaceAll('_', '-')})`,
            ),
          );
        }
      }
      if (cls === 'link_local') {
        findings.push(
          f(
            'url.link-local',
            'ssrf',
            'critical',
            `host ${JSON.stringify(host)} is link-local, where cloud metadata services (169.254.169.254) hand out credentials`,
          ),
        );
      } else if (cls !== 'public') {
        // Rule ids keep their kebab-case spelling (`url.unique-local`); the class value is snake_case.
        const words = cls.replaceAll('_', '-');
        findings.push(
          f(
            `url.${words}`,
            'ssrf',
            'high',
            `host ${JSON.stringify(host)} is a ${words} address, not reachable on the internet; a server-side fetch must not reach it`,
          ),
        );
      }
    } else if (localNames.test(host.replace(/\.$/, ''))) {
      findings.push(f('url.local-name', 'ssrf', 'high', `host ${JSON.stringify(host)} names this machine or a cloud metadata service`));
    } else if (internalSuffix.test(host.replace(/\.$/, ''))) {
      findings.push(f('url.internal-name', 'ssrf', 'medium', `host ${JSON.stringify(host)} looks like an internal name`, 0.6));
    }
  }
  return { ok: noBlockingFindings(findings), url: parsed, findings };
}
