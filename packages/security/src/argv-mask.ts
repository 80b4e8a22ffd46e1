import { isSensitiveKey } from './sensitive-names.js';

/** The last path component of a program name (`/usr/bin/curl` -> `curl`). */
export function basename(text: string): string {
  const i = text.lastIndexOf('/');
  return i < 0 ? text : text.slice(i + 1);
}

/** Wrappers that run their argument as the command: `sudo rm` is `rm`. Each maps to options that take a value. */
const wrappers: Record<string, Set<string>> = {
  sudo: new Set(['-u', '-g', '-p', '-C', '-D', '-r', '-t', '-U', '-h']),
  doas: new Set(['-u', '-C']),
  // `sshpass -p pw scp ...` runs scp: its `-p` value is masked by the table below all the same.
  sshpass: new Set(['-p', '-f', '-d', '-P']),
  env: new Set(['-u', '-C', '-S', '--unset', '--chdir']),
  nice: new Set(['-n']),
  ionice: new Set(['-c', '-n', '-p']),
  nohup: new Set(),
  time: new Set(['-f', '-o']),
  command: new Set(),
  builtin: new Set(),
  exec: new Set(['-a']),
  timeout: new Set(['-s', '-k', '--signal', '--kill-after']),
  stdbuf: new Set(['-i', '-o', '-e']),
  xargs: new Set(['-I', '-n', '-P', '-L', '-s', '-d', '-E', '-a', '--max-args', '--max-procs', '--delimiter', '--arg-file']),
  chroot: new Set(),
  setsid: new Set(),
  unbuffer: new Set(),
  caffeinate: new Set(),
  strace: new Set(['-e', '-o', '-p', '-s']),
  watch: new Set(['-n', '-d']),
  flock: new Set(['-w', '-E']),
};

/** The command that actually runs after unwrapping `sudo`, `env`, `timeout 5`, `xargs` ... */
export function effective<W extends { readonly text: string }>(argv: readonly W[]): { name: string; args: W[] } | undefined {
  let i = 0;
  for (let guard = 0; guard < 16 && i < argv.length; guard++) {
    const name = basename(argv[i]!.text);
    const takesValue = wrappers[name];
    if (takesValue === undefined) return { name, args: argv.slice(i + 1) };
    i++;
    while (i < argv.length) {
      const t = argv[i]!.text;
      if (t === '--') {
        i++;
        break;
      }
      if (name === 'env' && /^[A-Za-z_][A-Za-z0-9_]*=/.test(t)) {
        i++;
        continue;
      }
      if (!t.startsWith('-') || t === '-') break;
      i += takesValue.has(t) ? 2 : 1;
    }
    // `timeout 5 cmd`, `chroot /dir cmd`, `flock file cmd`: one positional before the command.
    if ((name === 'timeout' || name === 'chroot' || name === 'flock') && i < argv.length) i++;
  }
  return i < argv.length ? { name: basename(argv[i]!.text), args: argv.slice(i + 1) } : undefined;
}

/**
 * Programs whose short options take a password or token: `next` ones in the following word,
 * `attached` ones glued to the option (`mysql -pSECRET`, where a bare `-p` prompts instead),
 * `last`: a positional operand is the password (`htpasswd -b file user pw`).
 */
type SecretOptionSpec = { readonly next?: readonly string[]; readonly attached?: readonly string[]; readonly last?: true };
const programs = (names: readonly string[], spec: SecretOptionSpec): Record<string, SecretOptionSpec> => Object.fromEntries(names.map((n) => [n, spec]));
const secretOptions: Record<string, SecretOptionSpec> = {
  // A bare `mysql -p` prompts and the next word is the database, but it is masked too: a word that may be a password is not shown.
  ...programs(['sshpass', 'mysql', 'mysqldump', 'mysqladmin', 'mysqlimport', 'mysqlshow', 'mysqlcheck', 'mariadb', 'mariadb-dump'], {
    next: ['-p'],
    attached: ['-p'],
  }),
  ...programs(['7z', '7za'], { attached: ['-p'] }),
  ...programs(['redis-cli'], { next: ['-a'], attached: ['-a'] }),
  ...programs(
    ['docker', 'podman', 'nerdctl', 'buildah', 'skopeo', 'helm', 'oras', 'az', 'mongo', 'mongosh', 'mongodump', 'mongorestore', 'mongoexport', 'mongoimport'],
    { next: ['-p'] },
  ),
  ...programs(['zip', 'unzip', 'sqlcmd', 'bcp', 'ipmitool'], { next: ['-P'] }),
  ...programs(['ldapsearch', 'ldapadd', 'ldapmodify', 'ldapdelete'], { next: ['-w'] }),
  ...programs(['ldappasswd'], { next: ['-w', '-s'] }),
  ...programs(['smbclient'], { next: ['-U'], attached: ['-U'] }),
  ...programs(['keytool'], { next: ['-storepass', '-keypass', '-srcstorepass', '-deststorepass'] }),
  ...programs(['jarsigner'], { next: ['-storepass', '-keypass'] }),
  ...programs(['openssl'], { next: ['-k', '-pass', '-passin', '-passout'] }),
  ...programs(['htpasswd'], { last: true }),
};

/** Programs whose names sound like a credential (`sshpass`, `htpasswd`): in an argv they are the program, not a name before a secret. */
export function isPasswordProgram(word: string): boolean {
  const name = basename(word);
  return (
    Object.hasOwn(secretOptions, name) ||
    /^(?:passwd|chpasswd|mkpasswd|gpasswd|smbpasswd|kpasswd|yppasswd|keepassxc-cli|pass|gopass|1password|op|bw|security|secret-tool|vault)$/.test(name)
  );
}

/** Long options whose value is a credential whatever the program (`--password`, `--api-key`, npm's `--//host/:_authToken`). */
const secretLongOption =
  /^--(?:[a-z0-9-]*(?:pass(?:word|wd|phrase)?|secret|token|api-?key|credentials?|cookie|bearer|private-key|access-key|storepass|keypass)|auth|auth-token|[a-z0-9/.:_-]*_authtoken)$/i;
/** Options whose value is `user:password` (curl, wget): only the part after the first `:` is hidden. */
const userOption = new Set(['-u', '--user', '-U', '--proxy-user', '--http-user', '--ftp-user']);
/** `user:password` with what follows the first `:` (or `%`) replaced. */
function maskUser(value: string): string {
  const i = value.search(/[:%]/);
  return i < 0 ? value : `${value.slice(0, i + 1)}[REDACTED]`;
}

/**
 * A `--name=value` or `NAME=value` word with its value masked when the name says it is a
 * credential (`--password=x`, `--user=u:pw`, `DB_PASS=x`), or undefined.
 */
export function maskAssignmentWord(text: string): string | undefined {
  const assign = /^(-{0,2}[A-Za-z_/][A-Za-z0-9_./:-]*)=([^]*)$/.exec(text);
  if (!assign) return undefined;
  const name = assign[1]!;
  if (userOption.has(name)) return `${name}=${maskUser(assign[2]!)}`;
  if (isSensitiveKey(name.replace(/^-+/, '')) || secretLongOption.test(name)) return `${name}=[REDACTED]`;
  return undefined;
}

/**
 * The words of an argv that are credentials by their position, masked by what they are: the
 * value of `-u` / `--user` after its `:`, password options per program (`sshpass -p`,
 * `mysql -p<pw>` and `mysql -p <pw>`, `redis-cli -a`, `docker login -p`, ...), the password
 * operand of `htpasswd -b`, `--password` / `--token` style options and their `=` forms, and
 * curl's `-b name=value` cookies. Wrappers (`sudo`, `env`, `timeout 5`) are looked through.
 * Returns the masked text by index; other words are left to the caller.
 */
export function credentialArguments(argv: readonly string[]): Map<number, string> {
  const out = new Map<number, string>();
  const words = argv.map((text) => ({ text }));
  const eff = effective(words);
  const programAt = eff ? argv.length - eff.args.length - 1 : argv.length;
  let lastOperand = -1;
  if (eff?.name === 'htpasswd') {
    // `htpasswd -b[n] [file] user password`: the password is the operand after the user.
    const flags = argv
      .slice(programAt + 1)
      .filter((t) => /^-[A-Za-z]+$/.test(t))
      .join('');
    // Options come first; from the first operand on, every word is positional.
    const first = argv.findIndex((t, i) => i > programAt && !t.startsWith('-'));
    const operands = first < 0 ? [] : argv.map((_, i) => i).slice(first);
    if (flags.includes('b')) lastOperand = operands[flags.includes('n') ? 1 : 2] ?? -1;
  }
  // Each word is judged by the table of the nearest program before it (a wrapper such as `sshpass` has one too).
  let table: SecretOptionSpec | undefined;
  let tableAt = -1;
  for (let i = 0; i < argv.length; i++) {
    const t = argv[i]!;
    const prev = i > 0 ? argv[i - 1]! : '';
    if (i <= programAt && Object.hasOwn(secretOptions, basename(t)) && (i === 0 || !prev.startsWith('-'))) {
      table = secretOptions[basename(t)];
      tableAt = i;
      continue;
    }
    if (i === programAt) {
      // The program itself has no table: a wrapper's options end here.
      table = undefined;
      tableAt = i;
      continue;
    }
    const own = i > (tableAt >= 0 ? tableAt : programAt);
    let shown: string | undefined;
    if (i === lastOperand) shown = '[REDACTED]';
    else if (own && table?.next?.includes(prev)) shown = prev === '-U' ? maskUser(t) : '[REDACTED]';
    else if (i > 0 && (userOption.has(prev) || /^-[A-Za-z]*[uU]$/.test(prev))) shown = maskUser(t);
    else if (own && table?.next?.some((o) => o.length === 2 && /^-[A-Za-z]+$/.test(prev) && prev.endsWith(o[1]!))) shown = '[REDACTED]';
    else if (i > 0 && secretLongOption.test(prev)) shown = '[REDACTED]';
    else if ((prev === '-b' || prev === '--cookie') && t.includes('=')) shown = '[REDACTED]';
    else if (own && /^-[A-Za-z]/.test(t)) {
      const attached = table?.attached?.find((o) => t.startsWith(o) && t.length > o.length);
      if (attached) shown = attached === '-U' ? `${attached}${maskUser(t.slice(2))}` : `${attached}[REDACTED]`;
      else if (/^-u[^-]/.test(t)) shown = `-u${maskUser(t.slice(2))}`;
    }
    shown ??= maskAssignmentWord(t);
    if (shown !== undefined && shown !== t) out.set(i, shown);
  }
  return out;
}
