import { type Finding, noBlockingFindings } from './finding.js';
import { credentialArguments, effective, maskAssignmentWord, basename } from './argv-mask.js';
import { redactString } from './redact.js';
import { isSensitiveKey } from './sensitive-names.js';
import { type Redirection, type SimpleCommand, type VariableAssignment, type Word, parseShell, remapCommands } from './shell-parse.js';

export type { Expansion, Redirection, SimpleCommand, Word, CommandContext, VariableAssignment } from './shell-parse.js';

/** What {@link analyzeCommand} found. */
export interface CommandAnalysis {
  /** True when no finding is high or critical. Advisory: the sandbox is the boundary. */
  readonly ok: boolean;
  /**
   * Every simple command bash would run, including those inside `$(...)`, backticks,
   * process substitutions, subshells, function bodies and literal `sh -c '...'` strings.
   */
  readonly commands: readonly SimpleCommand[];
  /**
   * Every variable the command would set, wherever the syntax puts it: prefix and bare
   * assignments, loop variables, `${NAME:=v}`, arithmetic assignments, and the operands of
   * assigning builtins (`export`, `declare`, `read`, `printf -v`, ...) written literally.
   * A policy that must not let a variable change (`PATH`, `LD_PRELOAD`) reads this.
   */
  readonly assignments: readonly VariableAssignment[];
  readonly findings: readonly Finding[];
}

/** Options of {@link analyzeCommand}. */
export interface AnalyzeCommandOptions {
  /** Longest command analysed, in UTF-16 code units (default 1 MiB); longer input is refused with a finding. */
  readonly maxLength?: number;
}

const shells = new Set(['sh', 'bash', 'zsh', 'dash', 'ksh', 'mksh', 'ash', 'fish', 'csh', 'tcsh', 'busybox']);
const interpreters = new Set([
  ...shells,
  'python',
  'python2',
  'python3',
  'perl',
  'ruby',
  'node',
  'nodejs',
  'deno',
  'bun',
  'php',
  'lua',
  'pwsh',
  'powershell',
  'source',
  '.',
  'eval',
]);
const downloaders = new Set(['curl', 'wget', 'fetch', 'aria2c', 'http', 'https', 'lwp-request', 'GET']);
const senders = new Set(['curl', 'wget', 'nc', 'ncat', 'netcat', 'socat', 'telnet', 'ssh', 'scp', 'sftp', 'rsync', 'ftp', 'tftp', 'openssl', 'http', 'https']);
const encoders = new Set(['base64', 'base32', 'xxd', 'od', 'hexdump', 'gzip', 'bzip2', 'xz', 'zstd', 'tar', 'zip', 'openssl', 'gpg', 'uuencode']);
const envDumpers = new Set(['env', 'printenv', 'set', 'export', 'declare']);
const diskTools = new Set([
  'mkfs',
  'mke2fs',
  'mkswap',
  'wipefs',
  'mkdosfs',
  'mkntfs',
  'mkfs.ext4',
  'fdisk',
  'sfdisk',
  'gdisk',
  'sgdisk',
  'cfdisk',
  'parted',
  'blkdiscard',
]);
const powerTools = new Set(['shutdown', 'reboot', 'halt', 'poweroff', 'killall5']);
// prettier-ignore
const systemDirs = new Set(['/', '/bin', '/boot', '/dev', '/etc', '/home', '/lib', '/lib32', '/lib64', '/opt', '/proc', '/root', '/sbin', '/srv', '/sys', '/usr', '/var', '/usr/bin', '/usr/lib', '/usr/local', '/var/lib']);
const blockDevice = /^\/dev\/(?:sd[a-z]|hd[a-z]|vd[a-z]|xvd[a-z]|nvme\d|mmcblk\d|disk\d|rdisk\d|mapper\/|md\d|dm-\d|loop\d|sr\d|fd\d|mem$|kmem$|port$)/;
const homePrefix = /^(?:~|\$HOME|\$\{HOME\}|\/root|\/home\/[^/]+|\/Users\/[^/]+)(?=\/|$)/;
const sensitiveHome =
  /^~\/(?:\.ssh(?:\/(?!known_hosts$|[^/]*\.pub$)|$)|\.aws(?:\/|$)|\.gnupg(?:\/|$)|\.netrc$|\.git-credentials$|\.docker\/config\.json$|\.kube(?:\/|$)|\.config\/gh(?:\/|$)|\.config\/gcloud(?:\/|$)|\.azure(?:\/|$)|\.npmrc$|\.pypirc$|\.password-store(?:\/|$)|\.vault-token$|\.pgpass$|\.my\.cnf$|\.bash_history$|\.zsh_history$)/;
const sensitiveSystem =
  /^\/(?:etc\/(?:shadow|gshadow|sudoers|master\.passwd)(?:$|[/.-])|etc\/ssh\/ssh_host_[a-z0-9]+_key$|proc\/(?:self|\d+|\*)\/environ$|var\/run\/secrets(?:\/|$)|run\/secrets(?:\/|$))/;
const privateKeyName = /(?:^|\/)id_(?:rsa|dsa|ecdsa|ed25519)(?:_sk)?$/;
const persistenceTargets =
  /^(?:~\/\.ssh\/authorized_keys2?$|~\/\.(?:bashrc|bash_profile|profile|zshrc|zprofile|bash_login)$|\/etc\/(?:passwd|shadow|sudoers|crontab|hosts|profile|bash\.bashrc|ld\.so\.preload)$|\/etc\/(?:sudoers\.d|cron\.[a-z]+|profile\.d)\/)/;
const harmlessDevices = /^\/dev\/(?:null|zero|stdout|stderr|stdin|tty|fd\/\d+|random|urandom|full)$/;

/** Maps the ways of writing the home directory to `~` so one table of paths covers them. */
function normalisePath(text: string): string {
  return text.replace(homePrefix, '~');
}

function isSensitivePath(text: string): boolean {
  const t = normalisePath(text);
  return sensitiveHome.test(t) || sensitiveSystem.test(t) || (privateKeyName.test(t) && !t.endsWith('.pub'));
}

/** Strips trailing slashes and a trailing glob (`/etc/*` -> `/etc`), keeping `/`. */
function targetDir(text: string): string {
  let t = text;
  if (t.endsWith('/*') || t.endsWith('/.*')) t = t.slice(0, t.lastIndexOf('/') + 1);
  while (t.length > 1 && t.endsWith('/')) t = t.slice(0, -1);
  return t;
}

function isSystemTarget(text: string): boolean {
  const t = targetDir(normalisePath(text));
  return systemDirs.has(t) || t === '~' || t === '*' || t === '/*';
}

/** Options (before `--`) of a command's arguments. */
function splitArgs(args: readonly Word[]): { options: string[]; operands: Word[] } {
  const options: string[] = [];
  const operands: Word[] = [];
  let done = false;
  for (const a of args) {
    if (!done && a.text === '--') done = true;
    else if (!done && a.text.startsWith('-') && a.text.length > 1) options.push(a.text);
    else operands.push(a);
  }
  return { options, operands };
}

interface Context {
  readonly commands: readonly SimpleCommand[];
  readonly findings: Finding[];
  readonly source: string;
  /** Offsets of every newline in `source`, for line numbers by binary search. */
  readonly newlines: number[];
  /** `ruleId@offset` of findings already added. */
  readonly seen: Set<string>;
  /** Variables assigned a value that holds credentials (`k=$(cat ~/.ssh/id_rsa)`). */
  readonly tainted: Set<string>;
  /** Files a downloader writes (`curl -o f`, `wget -O f`, `curl ... > f`), normalised by {@link scriptName}. */
  readonly downloaded: Set<string>;
}

/** Findings kept per analysis; a hostile command with thousands of `rm -rf /` needs only a few. */
const maxFindings = 100;

function add(
  ctx: Context,
  command: SimpleCommand,
  ruleId: string,
  category: Finding['category'],
  severity: Finding['severity'],
  message: string,
  confidence = 0.9,
): void {
  const key = `${ruleId}@${command.start}`;
  if (ctx.seen.has(key) || ctx.findings.length >= maxFindings) return;
  ctx.seen.add(key);
  let lo = 0;
  let hi = ctx.newlines.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ctx.newlines[mid]! < command.start) lo = mid + 1;
    else hi = mid;
  }
  const line = lo + 1;
  const column = command.start - (lo === 0 ? 0 : ctx.newlines[lo - 1]! + 1) + 1;
  ctx.findings.push({
    ruleId,
    category,
    severity,
    confidence,
    message,
    location: { offset: command.start, line, column },
    match: shape(ctx, command),
  });
}

/** Longest evidence string in a finding. */
const maxEvidence = 160;

/** Headers whose value is a credential. */
const secretHeader =
  /^(?:authorization|proxy-authorization|cookie|set-cookie|x-api-key|api-key|apikey|x-auth-token|x-access-token|private-token|job-token|x-vault-token|x-goog-api-key|x-amz-security-token|x-csrf-token|x-xsrf-token|ocp-apim-subscription-key|x-[a-z0-9-]*(?:token|key|secret|auth))$/i;
/** `text` with the credentials it carries replaced: by its form first, then by the redactor's patterns. */
function maskText(text: string): string {
  // NAME=value with a sensitive name: an assignment, an `env` argument, a `--name=value` option.
  const assigned = maskAssignmentWord(text);
  if (assigned !== undefined) return assigned;
  const header = /^([A-Za-z0-9-]{1,64})[ \t]*:[ \t]*([^]*)$/.exec(text);
  if (header && secretHeader.test(header[1]!) && header[2] !== '') {
    const scheme = /^(?:bearer|basic|token|digest|negotiate|apikey)\s+/i.exec(header[2]!)?.[0] ?? '';
    return `${header[1]}: ${scheme}[REDACTED]`;
  }
  const t = redactString(text.replace(/\bpass:\S+/g, 'pass:[REDACTED]'));
  // A long opaque run (a token no rule knows) is not shown either; a path is.
  return t.replace(/(?<![A-Za-z0-9+/_=.-])[A-Za-z0-9+/_=-]{32,}/g, (m) =>
    !/[0-9]/.test(m) || !/[A-Za-z]/.test(m) || (m.includes('/') && !/[+=]/.test(m)) ? m : '[REDACTED]',
  );
}

/** How a word is shown: masked, quoted when it holds blanks, substitutions shown by the shape of what they run. */
function showWord(ctx: Context, word: Word, depth: number, masked?: string): string {
  let t = masked ?? word.text;
  let nested = false;
  if (masked === undefined) {
    for (const e of word.expansions) {
      if ((e.kind === 'command' || e.kind === 'process') && e.commands && t.includes(e.raw)) {
        const open = e.kind === 'process' ? e.raw.slice(0, 2) : e.raw.startsWith('`') ? '`' : '$(';
        const close = open === '`' ? '`' : ')';
        const inner = depth >= 3 ? '...' : e.commands.flatMap((i) => (ctx.commands[i] ? [shape(ctx, ctx.commands[i]!, depth + 1)] : [])).join('; ');
        t = t.replace(e.raw, () => `\0${open}${inner}${close}\0`);
        nested = true;
      }
    }
    // The parts outside substitutions are masked; the substitutions were rebuilt from their own parse.
    t = nested
      ? t
          .split('\0')
          .map((part, k) => (k % 2 === 1 ? part : maskText(part)))
          .join('')
      : maskText(t);
  }
  return !nested && (/\s/.test(t) || t === '') ? `'${t.replace(/\s+/g, ' ')}'` : t.replace(/\s+/g, ' ');
}

/**
 * A command as evidence: its shape rebuilt from the parse (assignments, program, options,
 * operands, redirections, what substitutions run), never a slice of the source, with each
 * credential argument replaced by what it is: the value of `-u` / `--user` after its `:`,
 * password options per program (`sshpass -p`, `mysql -p<pw>`, `redis-cli -a`, `docker login
 * -p`, ...), `--password` / `--token` style options, `*PASSWORD=` assignments, credential
 * headers (`-H 'Authorization: ...'`), URL passwords and known token formats.
 */
function shape(ctx: Context, command: SimpleCommand, depth = 0): string {
  const parts: string[] = [];
  for (const a of command.assignments) parts.push(isSensitiveKey(a.name) ? `${a.name}=[REDACTED]` : `${a.name}=${showWord(ctx, a.value, depth)}`);
  const masked = credentialArguments(command.argv.map((w) => w.text));
  command.argv.forEach((w, i) => parts.push(showWord(ctx, w, depth, masked.get(i))));
  for (const r of command.redirections) {
    // A here-string is data for the program's stdin (`--password-stdin`, `chpasswd`): only its shape is shown.
    const target = r.op === '<<' || r.op === '<<-' ? r.target.text.replace(/\s+/g, ' ') : r.op === '<<<' ? '[REDACTED]' : showWord(ctx, r.target, depth);
    parts.push(`${r.fd ?? ''}${r.op}${r.op.startsWith('<<') && r.op !== '<<<' ? '' : ' '}${target}`);
  }
  const text = parts.join(' ');
  return text.length > maxEvidence ? `${text.slice(0, maxEvidence - 3)}...` : text;
}

function commandsOf(ctx: Context, words: readonly Word[]): SimpleCommand[] {
  const out: SimpleCommand[] = [];
  for (const w of words) for (const e of w.expansions) for (const i of e.commands ?? []) if (ctx.commands[i]) out.push(ctx.commands[i]!);
  return out;
}

/** Programs that look at a key file or directory (list, stat, chmod, fingerprint, load into the agent) without printing or sending its contents. */
const metadataOnly = new Set([
  'ls',
  'stat',
  'file',
  'du',
  'mkdir',
  'rmdir',
  'chmod',
  'chown',
  'chgrp',
  'touch',
  'test',
  '[',
  '[[',
  'realpath',
  'readlink',
  'dirname',
  'basename',
  'cd',
  'pushd',
  'install',
  'lsattr',
  'getfacl',
  'ssh-add',
  'ssh-keygen',
]);
/** Programs that authenticate with a key file named by an option (`ssh -i key`): the key is used, not sent. */
const keyUsers = new Set(['ssh', 'scp', 'sftp', 'rsync', 'ssh-copy-id', 'autossh', 'mosh', 'sshfs', 'curl', 'wget', 'git']);
/** Options whose value is a key or certificate the program authenticates with. */
const identityOption: Record<string, RegExp> = {
  ssh: /^-[iF]$/,
  curl: /^(?:--key|--cert|-E|--cacert|--capath|--proxy-key|--proxy-cert)$/,
  wget: /^(?:--private-key|--certificate|--ca-certificate)$/,
};
const identityAssignment = /^(?:-o ?)?(?:IdentityFile|CertificateFile|UserKnownHostsFile)=|^--(?:key|cert|private-key|certificate|identity)=/i;

/** The arguments of a command that read a credential file, leaving out keys it only authenticates with and programs that only look at metadata. */
function sensitiveArgsOf(name: string | undefined, args: readonly Word[]): Word[] {
  if (name !== undefined && metadataOnly.has(name)) return [];
  const uses = name !== undefined && keyUsers.has(name);
  const option = identityOption[name === 'curl' || name === 'wget' ? name : 'ssh']!;
  const out: Word[] = [];
  for (let i = 0; i < args.length; i++) {
    const t = args[i]!.text;
    if (uses && option.test(t)) {
      i++;
      continue;
    }
    if (uses && (identityAssignment.test(t) || (t === '-o' && identityAssignment.test(args[i + 1]?.text ?? '')))) {
      if (t === '-o') i++;
      continue;
    }
    if (isSensitivePath(uploadPath(t))) out.push(args[i]!);
  }
  return out;
}

/** Input redirections of a command from a credential file (`< ~/.ssh/id_rsa`). */
function sensitiveInputs(command: SimpleCommand): Redirection[] {
  return command.redirections.filter((r) => !r.op.includes('>') && r.op !== '<<<' && r.op !== '<<' && r.op !== '<<-' && isSensitivePath(r.target.text));
}

function readsSensitive(command: SimpleCommand): boolean {
  const eff = effective(command.argv);
  return sensitiveArgsOf(eff?.name, eff?.args ?? []).length > 0 || sensitiveInputs(command).length > 0;
}

/** A sender run in an output process substitution of `command` (`tee >(curl ...)`, `> >(nc ...)`): what the command writes goes to the network. */
function processSender(ctx: Context, command: SimpleCommand): SimpleCommand | undefined {
  for (const w of wordsOf(command)) {
    for (const e of w.expansions) {
      if (e.kind !== 'process' || !e.raw.startsWith('>(')) continue;
      for (const i of e.commands ?? []) {
        const inner = ctx.commands[i];
        const n = inner ? effective(inner.argv)?.name : undefined;
        if (inner && n !== undefined && senders.has(n)) return inner;
      }
    }
  }
  return undefined;
}

/** Reports a sender in an output process substitution of `command`, which is known to write credentials. */
function sendsThroughProcess(ctx: Context, command: SimpleCommand): void {
  const sender = processSender(ctx, command);
  if (sender)
    add(
      ctx,
      sender,
      'command.exfiltration',
      'exfiltration',
      'critical',
      'credentials are written into a process substitution that sends them over the network',
    );
}

/** The pipelines of the analysis, each in pipeline order. */
function pipelines(ctx: Context): SimpleCommand[][] {
  const byPipeline = new Map<number, SimpleCommand[]>();
  for (const c of ctx.commands) {
    const list = byPipeline.get(c.pipeline);
    if (list) list.push(c);
    else byPipeline.set(c.pipeline, [c]);
  }
  return [...byPipeline.values()].map((list) => list.sort((a, b) => a.pipeIndex - b.pipeIndex));
}

/** How a script file is named for matching a download with its run: `./i.sh` and `i.sh` are one. */
function scriptName(text: string): string {
  return text.replace(/^(?:\.\/)+/, '');
}

const urlWord = /^[a-z][a-z0-9+.-]*:\/\//i;
/** The last path segment of a URL (what `curl -O` and `wget` name the file). */
const urlFile = (url: string): string => scriptName(basename(url.replace(/[?#].*$/, '')));

/** Records the files a downloader writes: `-o` / `--output` / wget's `-O`, the URL's last segment (`curl -O`, plain `wget`), and `>` redirections. */
function recordDownloads(ctx: Context, command: SimpleCommand): void {
  const eff = effective(command.argv);
  if (eff === undefined || !downloaders.has(eff.name)) return;
  const args = eff.args;
  const wget = eff.name === 'wget';
  let named = false;
  for (let i = 0; i < args.length; i++) {
    const t = args[i]!.text;
    const next = args[i + 1]?.text;
    if ((t === '-o' || t === '--output' || t === '--output-document' || (t === '-O' && wget)) && next !== undefined) {
      ctx.downloaded.add(scriptName(next));
      named = true;
    } else if (/^--output(?:-document)?=/.test(t)) {
      ctx.downloaded.add(scriptName(t.slice(t.indexOf('=') + 1)));
      named = true;
    } else if (/^-o./.test(t) || (wget && /^-O./.test(t))) {
      ctx.downloaded.add(scriptName(t.slice(2)));
      named = true;
    } else if (!wget && (t === '-O' || t === '--remote-name')) {
      const url = args.slice(i + 1).find((a) => urlWord.test(a.text))?.text;
      if (url) ctx.downloaded.add(urlFile(url));
    }
  }
  if (wget && !named) for (const a of args) if (urlWord.test(a.text)) ctx.downloaded.add(urlFile(a.text));
  for (const r of command.redirections) if (r.op === '>' || r.op === '>>' || r.op === '>|') ctx.downloaded.add(scriptName(r.target.text));
}

function collectsSecrets(command: SimpleCommand): boolean {
  if (readsSensitive(command)) return true;
  // `env` is also a wrapper, so look at the first word: a bare `env` / `printenv` dumps everything.
  const first = command.argv[0] ? basename(command.argv[0].text) : undefined;
  return first !== undefined && envDumpers.has(first) && command.argv.slice(1).every((w) => w.text.startsWith('-'));
}

/** Every word of a command: its argv, its assignments' values and its redirection targets. */
function wordsOf(command: SimpleCommand): Word[] {
  return [...command.argv, ...command.assignments.map((a) => a.value), ...command.redirections.map((r) => r.target)];
}

/** `NAME=value` words given to `export`, `declare`, `local`, `readonly`, `typeset`. */
const declaring = new Set(['export', 'declare', 'local', 'readonly', 'typeset']);

/**
 * Marks the variables whose value holds credentials: assigned from a command substitution that
 * reads them (`k=$(cat ~/.aws/credentials)`, `export K="$(< ~/.ssh/id_rsa)"`) or from a tainted
 * variable, in whatever order the assignments come (a walk over "assigned from" edges: linear).
 */
function taintVariables(ctx: Context): void {
  const from = new Map<string, string[]>();
  const queue: string[] = [];
  const bind = (name: string, value: Word): void => {
    if (commandsOf(ctx, [value]).some(collectsSecrets)) queue.push(name);
    for (const e of value.expansions) {
      if (e.kind !== 'parameter' || e.name === undefined) continue;
      const list = from.get(e.name) ?? [];
      list.push(name);
      from.set(e.name, list);
    }
  };
  for (const c of ctx.commands) {
    for (const a of c.assignments) bind(a.name, a.value);
    if (c.program !== undefined && declaring.has(c.program.text)) {
      for (const w of c.argv.slice(1)) {
        const eq = /^([A-Za-z_][A-Za-z0-9_]*)=/.exec(w.text);
        if (eq) bind(eq[1]!, w);
      }
    }
  }
  // `read k < ~/.ssh/id_rsa`, `mapfile -t a < ~/.aws/credentials`, `cat key | read k`, `read k <<< "$(cat key)"`.
  const fed = new Set<SimpleCommand>();
  for (const list of pipelines(ctx)) {
    let secrets = false;
    for (const c of list) {
      if (secrets) fed.add(c);
      secrets ||= collectsSecrets(c);
    }
  }
  for (const c of ctx.commands) {
    const program = c.program?.text;
    if (program !== 'read' && program !== 'mapfile' && program !== 'readarray') continue;
    const names: VariableAssignment[] = [];
    builtinAssignments(c, names);
    const targets = names.length > 0 ? names.map((n) => n.name) : [program === 'read' ? 'REPLY' : 'MAPFILE'];
    const reads = fed.has(c) || sensitiveInputs(c).length > 0;
    for (const t of targets) {
      if (reads) queue.push(t);
      for (const r of c.redirections) if (r.op === '<<<') bind(t, r.target);
    }
  }
  while (queue.length > 0) {
    const name = queue.pop()!;
    if (ctx.tainted.has(name)) continue;
    ctx.tainted.add(name);
    for (const next of from.get(name) ?? []) queue.push(next);
  }
}

/** Words whose expansion holds credentials: a substitution that reads them, or a tainted variable. */
function holdsSecrets(ctx: Context, words: readonly Word[]): boolean {
  return (
    commandsOf(ctx, words).some(collectsSecrets) ||
    words.some((w) => w.expansions.some((e) => e.kind === 'parameter' && e.name !== undefined && ctx.tainted.has(e.name)))
  );
}

/** The command reads credentials itself, or is given them through a substitution or a variable. */
function carriesSecrets(ctx: Context, command: SimpleCommand): boolean {
  return collectsSecrets(command) || holdsSecrets(ctx, wordsOf(command));
}

/** The first variable expanded in `words` whose name says it holds a credential (`GITHUB_TOKEN`, `AWS_SECRET_ACCESS_KEY`, `DB_PASSWORD`). */
function credentialVariableIn(words: readonly Word[]): string | undefined {
  for (const w of words) {
    for (const e of w.expansions) {
      if (e.kind === 'parameter' && e.name !== undefined && isSensitiveKey(e.name)) return e.name;
    }
  }
  return undefined;
}

function checkCommand(ctx: Context, command: SimpleCommand): void {
  const eff = effective(command.argv);
  const name = eff?.name;
  const args = eff?.args ?? [];
  const { options, operands } = splitArgs(args);
  const short = options.filter((o) => !o.startsWith('--')).join('');

  if (name === 'rm') {
    const recursive = /[rR]/.test(short) || options.includes('--recursive');
    if (options.includes('--no-preserve-root')) {
      add(ctx, command, 'command.rm-root', 'destructive_command', 'critical', 'rm with --no-preserve-root deletes the whole file system');
    } else if (recursive && operands.some((o) => isSystemTarget(o.text))) {
      add(ctx, command, 'command.rm-root', 'destructive_command', 'critical', 'recursive rm of the root, home or a system directory');
    } else if (
      recursive &&
      operands.some(
        (o) => /^\$\{?[A-Za-z_][A-Za-z0-9_]*\}?\/+\*?$/.test(o.text) || (o.expansions[0]?.kind === 'parameter' && o.text.startsWith(o.expansions[0].raw + '/')),
      )
    ) {
      add(
        ctx,
        command,
        'command.rm-unset-variable',
        'destructive_command',
        'high',
        'recursive rm of "$VAR/...": if the variable is empty or unset this deletes from /',
        0.7,
      );
    }
  }
  if (
    name === 'find' &&
    operands[0] &&
    isSystemTarget(operands[0].text) &&
    args.some(
      (a) =>
        a.text === '-delete' || ((a.text === '-exec' || a.text === '-execdir') && true && args.some((b) => basename(b.text) === 'rm' || b.text === 'shred')),
    )
  ) {
    add(ctx, command, 'command.rm-root', 'destructive_command', 'critical', 'find over the root, home or a system directory that deletes what it finds');
  }
  if (name !== undefined && (diskTools.has(name) || name.startsWith('mkfs.'))) {
    const onDevice = operands.some((o) => blockDevice.test(o.text));
    add(ctx, command, 'command.disk-format', 'destructive_command', onDevice ? 'critical' : 'high', `${name} formats or repartitions a disk`);
  }
  if (name === 'dd' && args.some((a) => a.text.startsWith('of=') && blockDevice.test(a.text.slice(3)))) {
    add(ctx, command, 'command.device-write', 'destructive_command', 'critical', 'dd writes directly to a block device');
  }
  if (
    (name === 'shred' || name === 'cp' || name === 'tee' || name === 'mv' || name === 'cat') &&
    operands.some((o) => blockDevice.test(o.text)) &&
    name !== 'cat'
  ) {
    add(ctx, command, 'command.device-write', 'destructive_command', 'critical', `${name} writes directly to a block device`);
  }
  for (const r of command.redirections) {
    const writes = r.op.includes('>');
    const t = r.target.text;
    if (writes && blockDevice.test(t) && !harmlessDevices.test(t)) {
      add(ctx, command, 'command.device-write', 'destructive_command', 'critical', 'redirection writes directly to a block device');
    }
    if (/^\/dev\/(?:tcp|udp)\//.test(t)) {
      add(
        ctx,
        command,
        'command.dev-tcp',
        'exfiltration',
        'critical',
        'redirection to /dev/tcp or /dev/udp opens a network connection (reverse shell or exfiltration)',
      );
    }
    if (writes && persistenceTargets.test(normalisePath(t))) {
      add(ctx, command, 'command.persistence', 'destructive_command', 'high', 'writes to a login script, authorized_keys or a system account file');
    }
  }
  for (const w of command.argv) {
    if (/\/dev\/(?:tcp|udp)\//.test(w.text)) {
      add(ctx, command, 'command.dev-tcp', 'exfiltration', 'critical', 'argument names /dev/tcp or /dev/udp, which opens a network connection');
    }
  }
  if (name === 'tee' && operands.some((o) => persistenceTargets.test(normalisePath(o.text)))) {
    add(ctx, command, 'command.persistence', 'destructive_command', 'high', 'writes to a login script, authorized_keys or a system account file');
  }
  if (
    (name === 'nc' || name === 'ncat' || name === 'netcat') &&
    (/[ec]/.test(short) || options.some((o) => o === '--exec' || o === '--sh-exec' || o === '--lua-exec'))
  ) {
    add(ctx, command, 'command.reverse-shell', 'remote_code_execution', 'critical', `${name} -e/-c hands a shell to a network peer`);
  }
  if (name === 'socat' && args.some((a) => /(?:^|[,:])(?:exec|system):/i.test(a.text))) {
    add(ctx, command, 'command.reverse-shell', 'remote_code_execution', 'critical', 'socat EXEC/SYSTEM connects a program to a network peer');
  }
  if (name === 'chmod') {
    const mode = operands[0]?.text ?? '';
    const worldWritable =
      (/^[0-7]*[2367]$/.test(mode) && /^[0-7]{3,4}$/.test(mode)) ||
      /^(?:[ugo]*a[ugo]*|o|[ugoa]*o[ugoa]*)?\+[rwxXst]*w/.test(mode) ||
      /(?:^|,)(?:a|o|ugo)=[rwx]*w/.test(mode);
    const recursive = /R/.test(short) || options.includes('--recursive');
    if (worldWritable && operands.slice(1).some((o) => isSystemTarget(o.text))) {
      add(
        ctx,
        command,
        'command.chmod-world',
        'security_misconfig',
        'critical',
        `chmod ${mode}${recursive ? ' -R' : ''} makes the root, home or a system directory world-writable`,
      );
    } else if (worldWritable && mode !== '1777') {
      add(ctx, command, 'command.chmod-world', 'security_misconfig', 'medium', `chmod ${mode} makes files world-writable`, 0.6);
    }
  }
  if ((name === 'chown' || name === 'chgrp') && (/R/.test(short) || options.includes('--recursive')) && operands.slice(1).some((o) => isSystemTarget(o.text))) {
    add(ctx, command, 'command.chown-root', 'destructive_command', 'critical', `recursive ${name} of the root, home or a system directory`);
  }
  if (name !== undefined && powerTools.has(name)) {
    add(ctx, command, 'command.power', 'destructive_command', 'high', `${name} stops or restarts the machine`);
  }
  if ((name === 'init' || name === 'telinit') && (operands[0]?.text === '0' || operands[0]?.text === '6')) {
    add(ctx, command, 'command.power', 'destructive_command', 'high', `${name} ${operands[0]?.text} stops or restarts the machine`);
  }
  if (name === 'systemctl' && operands.some((o) => /^(?:poweroff|reboot|halt|kexec|emergency|rescue)$/.test(o.text))) {
    add(ctx, command, 'command.power', 'destructive_command', 'high', 'systemctl stops or restarts the machine');
  }
  if (name === 'kill' && operands.some((o) => o.text === '-1')) {
    add(ctx, command, 'command.kill-all', 'destructive_command', 'high', 'kill -1 signals every process the user may signal');
  }
  if ((name === 'kill' || name === 'pkill') && args.some((a) => a.text === '-1') && args.some((a) => /^-(?:9|KILL|SIGKILL)$/.test(a.text))) {
    add(ctx, command, 'command.kill-all', 'destructive_command', 'high', 'kill -9 -1 kills every process the user may signal');
  }
  if (
    (name === 'perl' || name === 'ruby' || name?.startsWith('python')) &&
    args.some((a) => /\bfork\b/.test(a.text) && /\b(?:while|for|loop|until)\b/.test(a.text))
  ) {
    add(ctx, command, 'command.fork-bomb', 'destructive_command', 'critical', 'inline script forks in a loop (fork bomb)', 0.8);
  }

  // Remote code: an interpreter whose program comes from a download.
  if (name !== undefined && interpreters.has(name)) {
    const fed = commandsOf(ctx, [...args, ...command.redirections.map((r) => r.target)]);
    const script = operands[0]?.text;
    if (fed.some((c) => downloaders.has(effective(c.argv)?.name ?? ''))) {
      add(ctx, command, 'command.remote-code', 'remote_code_execution', 'critical', `${name} runs code fetched from the network`);
    } else if (script !== undefined && ctx.downloaded.has(scriptName(script))) {
      add(ctx, command, 'command.remote-code', 'remote_code_execution', 'critical', `${name} runs a file just downloaded from the network`);
    }
  }
  const program = eff === undefined ? undefined : command.argv[command.argv.length - eff.args.length - 1]?.text;
  if (program !== undefined && program.includes('/') && ctx.downloaded.has(scriptName(program))) {
    add(ctx, command, 'command.remote-code', 'remote_code_execution', 'critical', 'runs a file just downloaded from the network');
  }

  // Secrets read by this command: sensitive enough alone, critical when it also sends.
  const sensitiveArgs = sensitiveArgsOf(name, args);
  const sensitiveIn = sensitiveInputs(command);
  if (carriesSecrets(ctx, command)) sendsThroughProcess(ctx, command);
  const sent = name !== undefined && senders.has(name);
  if (sent && (sensitiveArgs.length > 0 || sensitiveIn.length > 0 || holdsSecrets(ctx, [...args, ...command.redirections.map((r) => r.target)]))) {
    add(ctx, command, 'command.exfiltration', 'exfiltration', 'critical', `${name} sends credentials or private keys over the network`);
  } else if (sent && credentialVariableIn(args) !== undefined) {
    // Often legitimate (`curl -H "Authorization: Bearer $GITHUB_TOKEN" https://api.github.com`): reported, not blocking.
    add(
      ctx,
      command,
      'command.credential-variable',
      'exfiltration',
      'medium',
      `${name} sends the value of $${credentialVariableIn(args)} over the network`,
      0.5,
    );
  } else if (sensitiveArgs.length > 0 || sensitiveIn.length > 0) {
    add(ctx, command, 'command.sensitive-read', 'sensitive_data', 'high', 'reads credentials or private keys (~/.ssh, ~/.aws, /etc/shadow, ...)', 0.8);
  }
}

/** `@file` and `name=@file` upload syntax of curl and httpie. */
function uploadPath(text: string): string {
  const at = text.indexOf('@');
  return at >= 0 && (at === 0 || text[at - 1] === '=') ? text.slice(at + 1) : text;
}

function checkPipelines(ctx: Context): void {
  for (const list of pipelines(ctx)) {
    if (list.length < 2) continue;
    // One pass with running flags: a pipeline of n commands costs O(n), not O(n^2).
    let downloaded = false;
    let secrets = false;
    let encoded = false;
    let credential: string | undefined;
    for (const command of list) {
      const n = effective(command.argv)?.name;
      if (n !== undefined && command.pipeIndex > 0) {
        if (interpreters.has(n) && downloaded) {
          add(ctx, command, 'command.remote-code', 'remote_code_execution', 'critical', `downloaded content is piped into ${n}`);
        }
        if (secrets) sendsThroughProcess(ctx, command);
        if (senders.has(n) && secrets) {
          add(ctx, command, 'command.exfiltration', 'exfiltration', 'critical', `credentials or private keys are piped into ${n}`);
        } else if (senders.has(n) && encoded) {
          add(ctx, command, 'command.exfiltration', 'exfiltration', 'high', `encoded or archived data is piped into ${n}`, 0.6);
        } else if (senders.has(n) && credential !== undefined) {
          add(ctx, command, 'command.credential-variable', 'exfiltration', 'medium', `the value of $${credential} is piped into ${n}`, 0.5);
        }
      }
      downloaded ||= n !== undefined && downloaders.has(n);
      secrets ||= carriesSecrets(ctx, command);
      encoded ||= n !== undefined && encoders.has(n);
      credential ??= credentialVariableIn(wordsOf(command));
    }
  }
}

function checkForkBombs(ctx: Context, functions: readonly { name: string }[]): void {
  if (functions.length === 0) return;
  const names = new Set(functions.map((f) => f.name));
  const pipelineSize = new Map<number, number>();
  for (const c of ctx.commands) pipelineSize.set(c.pipeline, (pipelineSize.get(c.pipeline) ?? 0) + 1);
  const reported = new Set<string>();
  for (const c of ctx.commands) {
    const name = c.inFunction;
    if (name === undefined || !names.has(name) || c.program?.text !== name || reported.has(name)) continue;
    if (c.background || (pipelineSize.get(c.pipeline) ?? 0) > 1) {
      reported.add(name);
      add(
        ctx,
        c,
        'command.fork-bomb',
        'destructive_command',
        'critical',
        `function ${JSON.stringify(name)} calls itself in a pipeline or in the background (fork bomb)`,
      );
    }
  }
}

/** Builtins that assign their operands, with the options that take a value (which is not a name). */
const assigningBuiltins: Record<string, { readonly valued: string; readonly names: 'all' | 'last' | 'second' }> = {
  export: { valued: '', names: 'all' },
  declare: { valued: '', names: 'all' },
  typeset: { valued: '', names: 'all' },
  local: { valued: '', names: 'all' },
  readonly: { valued: '', names: 'all' },
  read: { valued: 'adinNptu', names: 'all' },
  mapfile: { valued: 'CcdnOsu', names: 'last' },
  readarray: { valued: 'CcdnOsu', names: 'last' },
  getopts: { valued: '', names: 'second' },
  let: { valued: '', names: 'all' },
};

/** Variables set by `export NAME=...`, `read NAME`, `printf -v NAME`, ... written literally in `c`. */
function builtinAssignments(c: SimpleCommand, out: VariableAssignment[]): void {
  const program = c.program?.text;
  if (program === undefined || out.length >= 4096) return;
  if (program === 'printf') {
    const at = c.argv.findIndex((w) => w.text.startsWith('-v'));
    const w = at < 0 ? undefined : c.argv[at]!.text === '-v' ? c.argv[at + 1] : { ...c.argv[at]!, text: c.argv[at]!.text.slice(2) };
    if (w) out.push({ name: w.text.replace(/\[.*$/, ''), kind: 'builtin', offset: w.start });
    return;
  }
  const spec = assigningBuiltins[program];
  if (!spec) return;
  const names: Word[] = [];
  let options = true;
  for (let i = 1; i < c.argv.length; i++) {
    const w = c.argv[i]!;
    if (options && w.text === '--') options = false;
    else if (options && /^[-+][A-Za-z]+$/.test(w.text) && program !== 'let') {
      // `read -p prompt`, `mapfile -d ,`: the option's value is not a name (`read -a NAME` is, and is kept).
      const letter = w.text.at(-1)!;
      if (spec.valued.includes(letter) && letter !== 'a') i++;
      else if (letter === 'a' && program === 'read' && c.argv[i + 1]) names.push(c.argv[++i]!);
    } else {
      options = false;
      names.push(w);
    }
  }
  const picked = spec.names === 'all' ? names : spec.names === 'last' ? names.slice(-1) : names.slice(1, 2);
  for (const w of picked) {
    const m = program === 'let' ? null : /^([A-Za-z_][A-Za-z0-9_]*)(?:\[[^\]]*\])?(?:\+?=|$)/.exec(w.text);
    if (m) out.push({ name: m[1]!, kind: 'builtin', offset: w.start });
    else if (program === 'let')
      for (const a of w.text.matchAll(/([A-Za-z_][A-Za-z0-9_]*)[ \t]*(?:[-+*/%&|^]|<<|>>)?=(?!=)/g))
        out.push({ name: a[1]!, kind: 'builtin', offset: w.start + a.index });
  }
}

/**
 * Parses a shell command string (bash syntax) without running or expanding anything, and
 * flags destructive or exfiltrating constructs with a reason: `rm -rf /`, `mkfs`, `dd` to a
 * device, fork bombs, `curl | sh`, `/dev/tcp`, reading `~/.ssh` and friends, `chmod 777 /`,
 * encoders piped into network tools. Every simple command is checked, including those inside
 * substitutions, subshells, function bodies and literal `bash -c '...'` strings, after
 * unwrapping `sudo`, `env`, `xargs`, `timeout` and similar. Never throws.
 *
 * Advisory: a determined author can always hide intent from a static check (a variable set
 * at run time, a downloaded script). The OS sandbox is the boundary; this is for early,
 * explainable refusals and for audit.
 *
 * @example
 * ```ts
 * const { ok, findings } = analyzeCommand('curl -s https://x.sh | sudo bash');
 * // ok === false; findings[0].ruleId === 'command.remote-code'
 * ```
 */
/** Levels of literal `bash -c '...'` / `eval '...'` bodies parsed; a deeper one is a `command.too-deep` finding. */
const maxScriptNesting = 4;

/** The literal script a command runs through a shell's `-c` or `eval`, when it has no expansion that would change it. */
function literalScript(c: SimpleCommand): string | undefined {
  const eff = effective(c.argv);
  if (!eff) return undefined;
  const literal = (w: Word): boolean => w.expansions.every((e) => e.kind === 'glob' || e.kind === 'tilde');
  if (shells.has(eff.name) || eff.name === 'su') {
    const at = eff.args.findIndex((a) => /^-[a-zA-Z]*c[a-zA-Z]*$/.test(a.text));
    const script = at >= 0 ? eff.args[at + 1] : undefined;
    return script && literal(script) ? script.text : undefined;
  }
  if (eff.name === 'eval' && eff.args.length > 0 && eff.args.every(literal)) return eff.args.map((a) => a.text).join(' ');
  return undefined;
}

export function analyzeCommand(command: string, options: AnalyzeCommandOptions = {}): CommandAnalysis {
  const maxLength = options.maxLength ?? 1 << 20;
  if (typeof command !== 'string') {
    const f: Finding = {
      ruleId: 'command.invalid',
      category: 'invalid_input',
      severity: 'high',
      confidence: 1,
      message: `command must be a string, got ${typeof command}`,
    };
    return { ok: false, commands: [], assignments: [], findings: [f] };
  }
  if (command.length > maxLength) {
    const f: Finding = {
      ruleId: 'command.too-long',
      category: 'invalid_input',
      severity: 'high',
      confidence: 1,
      message: `command is ${command.length} characters long; maxLength is ${maxLength}`,
    };
    return { ok: false, commands: [], assignments: [], findings: [f] };
  }
  const findings: Finding[] = [];
  if (command.includes('\0')) {
    findings.push({
      ruleId: 'command.nul-byte',
      category: 'invalid_input',
      severity: 'high',
      confidence: 1,
      message: 'command contains a NUL byte, which the shell and exec truncate at',
    });
  }
  const commands: SimpleCommand[] = [];
  const functions: { name: string }[] = [];
  const assignments: VariableAssignment[] = [];
  const newlines: number[] = [];
  for (let i = command.indexOf('\n'); i >= 0; i = command.indexOf('\n', i + 1)) newlines.push(i);
  const ctx: Context = { commands, findings, source: command, newlines, seen: new Set(), tainted: new Set(), downloaded: new Set() };
  let tooDeep = false;
  // `bash -c 'literal'` and `eval 'literal'` are parsed too, a bounded number of levels deep.
  const pending: { source: string; base: number; level: number }[] = [{ source: command, base: 0, level: 0 }];
  let nextPipeline = 0;
  while (pending.length > 0) {
    const { source, base, level } = pending.shift()!;
    const parsed = parseShell(source, base, nextPipeline);
    nextPipeline = parsed.nextPipeline;
    const offset = commands.length;
    for (const c of parsed.commands)
      commands.push(level === 0 ? remapCommands(c, offset) : { ...remapCommands(c, offset), context: 'shell_c', start: base, end: base + source.length });
    functions.push(...parsed.functions);
    assignments.push(...parsed.assignments);
    for (const issue of parsed.issues) {
      if (issue.message.startsWith('nesting deeper')) tooDeep = true;
      else if (findings.filter((f) => f.ruleId === 'command.parse-error').length < 4) {
        findings.push({
          ruleId: 'command.parse-error',
          category: 'invalid_input',
          severity: 'medium',
          confidence: 1,
          message: `cannot parse the command: ${issue.message}`,
          location: { offset: Math.min(issue.offset, command.length) },
        });
      }
    }
    for (const c of parsed.commands) {
      const script = literalScript(c);
      if (script === undefined) continue;
      // Past the levels followed, the inner script is not analysed: that is a finding, not a pass.
      if (level >= maxScriptNesting) tooDeep = true;
      else pending.push({ source: script, base: c.start, level: level + 1 });
    }
  }
  if (tooDeep) {
    findings.push({
      ruleId: 'command.too-deep',
      category: 'invalid_input',
      severity: 'high',
      confidence: 1,
      message: `the command nests shells, eval or substitutions deeper than analysed (${maxScriptNesting} levels of bash -c / eval); it is refused rather than passed unchecked`,
    });
  }
  for (const c of commands) recordDownloads(ctx, c);
  for (const c of commands) builtinAssignments(c, assignments);
  taintVariables(ctx);
  for (const c of commands) checkCommand(ctx, c);
  checkPipelines(ctx);
  checkForkBombs(ctx, functions);
  return { ok: noBlockingFindings(findings), commands, assignments, findings };
}
