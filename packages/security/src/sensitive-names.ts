/**
 * The one list of names that say a value is a credential, shared by the redactor (object keys,
 * `KEY=value` text), the command analyzer (assignments, options, variables sent) and the
 * sandbox's environment filter.
 */

/** Key names whose values are secrets (matched on the lower-cased, separator-free key). */
const sensitiveKey =
  /(?:passw(?:or)?d|passphrase|secret|token|apikey|accesskey|privatekey|authorization|auth$|^auth(?:token|key|header|code|secret)|credential|cookie|session(?:id|key)?$|sessid$|^aspsessionid[a-z]{8}$|signature|(?:^|db|user|admin|root|smtp|mysql|redis|ftp|proxy|mail|login)(?:pwd|pass)$|clientsecret|connectionstring|dsn$|bearer|jwt$|sharedkey|masterkey|encryptionkey|signingkey)/;

/** Keys that contain a sensitive fragment but name metadata, not a secret. */
const harmlessKey =
  /(?:tokens?(?:count|usage|used|limit|budget|remaining|s)$|^(?:max|input|output|prompt|completion|total|cached|reasoning)tokens?|tokenizer|secretar|secretname|secretref|keyid$|passwordpolicy|authorizationurl|authmethod|tokentype|tokenurl|tokenendpoint|(?:length|minlength|maxlength|count|ttl|expiry|expires(?:at|in)?|version|policy|type|enabled|required|field|envvar|path|file|url|uri|endpoint|name|names|hint)$)/;

/** One word of a name (`DEPLOY_CRED` -> `deploy`, `cred`) that says the name holds a credential. */
const credentialWord = /^(?:[a-z0-9]*(?:pass|passwd|pwd)|cred(?!it)[a-z0-9]*|[a-z0-9]*secret(?!ar)[a-z0-9]*|[a-z0-9]*token(?!iz)[a-z0-9]*)$/;
/** Words ending in `pass` that are not about passwords. */
const passWords = /^(?:by|com|sur|over|under|tres|mor|im)pass$/;
/** `*_KEY` names that hold no secret (a key of a table, a cache, a route, a public key). */
const harmlessKeyWord =
  /^(?:primary|foreign|sort|partition|cache|hash|route|routing|idempotency|dedup|unique|lookup|map|index|object|group|message|shard|row|cluster|composite|natural|surrogate|public|pub|hot|short|shortcut)$/;
/** Shell variables whose names look sensitive but hold a directory. */
const notSecret = new Set(['pwd', 'oldpwd']);
/**
 * The attribution id of a Buckley session, spelled exactly as event metadata, snake_case
 * payloads and Go structs spell it: an id, not a credential. Case-sensitive and exact, so the
 * session cookies and headers that share the words (`sessionid`, `SESSION_ID`, `SessionId`,
 * `JSESSIONID`, `x-session-id`) stay secrets.
 */
const attributionNames = new Set(['sessionId', 'session_id', 'sessionID']);
/** Framework session cookies named by a short dotted prefix: `connect.sid`, `koa.sid`, `koa:sess`, `express:sess`, and a bare `sid`. */
const sessionCookie = /^(?:[a-z0-9]{1,16}[.:])?s(?:id|ess)$/;

/**
 * True when a value under `key` (an object key, a header, a `KEY=value` name, an environment
 * variable, a `--option`) must be treated as a secret whatever it looks like: `password`,
 * `clientSecret`, `x-api-key`, `AWS_SECRET_ACCESS_KEY`, `XPASS`, `DEPLOY_CRED`, `DB_PASS`,
 * `GITHUB_TOKEN_2`, `STRIPE_KEY`, `PASSWD`, `sessionToken`, `sessionKey`, and session cookies
 * (`session`, `sessionid`, `JSESSIONID`, `ASP.NET_SessionId`, `PHPSESSID`, `connect.sid`,
 * `laravel_session`, `SESSION_ID`); but not `max_tokens`, `tokenizer`, `keyId`, `secretary`,
 * `passwordMinLength`, `bypass`, `credit_limit`, `sort_key`, `PWD` / `OLDPWD` (the working
 * directory), nor exactly `sessionId`, `session_id` or `sessionID` (the attribution id that
 * observability keeps; its plural `sessionIds` follows it as a list).
 */
export function isSensitiveKey(key: string): boolean {
  if (attributionNames.has(key)) return false;
  const lower = key.toLowerCase();
  if (notSecret.has(lower)) return false;
  if (sessionCookie.test(lower)) return true;
  const k = lower.replace(/[-_.\s]/g, '');
  if (harmlessKey.test(k)) return false;
  if (sensitiveKey.test(k)) return true;
  const words = key
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w !== '');
  if (words.some((w) => credentialWord.test(w) && !passWords.test(w))) return true;
  const last = words.at(-1);
  return words.length >= 2 && (last === 'key' || last === 'keys' || last === 'pat') && !harmlessKeyWord.test(words.at(-2)!);
}

/**
 * True when `key` names a list of secrets (`tokens`, `passwords`, `api_keys`): its items are
 * redacted one by one. A plural that counts (`tokens: 1234`) is judged by its value.
 */
export function isSensitiveListKey(key: string): boolean {
  return isSensitiveKey(key) || (/s$/i.test(key) && isSensitiveKey(key.slice(0, -1)));
}

/** Names that are sensitive only for being a session: see {@link isRecordKey}. */
const recordKey = /sessions?$/;

/**
 * True when a sensitive `key` names records when it holds objects: `session`, `sessions`,
 * `currentSession`, `activeSessions`. A string or number under it is a session token and goes;
 * an object (a session summary, attributed by `sessionId`) or a list of them is walked, each field
 * judged by its own name and its text scanned. Names that say which part of a session they hold
 * (`sessionToken`, `sessionKey`, `sessionCookie`) are not records, and neither are `auth`,
 * `cookie`, `credentials` or `secret`, whose objects often keep the secret under a plain name
 * (`value`, `data`) and go whole.
 */
export function isRecordKey(key: string): boolean {
  return recordKey.test(key.toLowerCase().replace(/[-_.\s]/g, ''));
}
