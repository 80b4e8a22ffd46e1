/**
 * Source of the JavaScript runner's child process (CommonJS, run with `node -e`). It owns every
 * isolate, so a V8 abort or out-of-memory in an isolate takes down only this process. Kept as
 * a string so the same code runs from `src` and from `dist` without a second build entry.
 *
 * Protocol over the IPC channel: requests `{ id, op, ... }`, acknowledged with `{ ack: id }` on
 * receipt (so the parent knows which requests a killed process never saw), then one response
 * `{ id, ok, ... }` each.
 * Host functions: the child sends `{ hostCall: { scope, callId, name, args } }` and the parent
 * answers `{ op: 'hostResult', scope, callId, ok, value | message }` (no response); an answer for
 * a scope or call that is gone is dropped.
 */
export const JS_WORKER_SOURCE = String.raw`
'use strict';
const ivm = require(process.env.BUCKLEY_IVM_PATH);
const isolates = new Map();
// Isolates that may receive host results, by the scope the parent named (a run or a loaded module).
const scopes = new Map();
const MAX_PENDING_HOST_CALLS = 256;
const ALLOW_WASM = process.env.BUCKLEY_JS_WASM === '1';

// Approximate size of a copied (structured clone) value, walked iteratively; stops as soon as
// it passes limit. Copied values are plain data: no getters, proxies or host objects run here.
function sizeOver(value, limit) {
  let total = 0;
  const stack = [value];
  const seen = new Set();
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string') total += v.length + 8;
    else if (v === null || typeof v !== 'object') total += 8;
    else if (seen.has(v)) total += 8;
    else {
      seen.add(v);
      if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer || (typeof SharedArrayBuffer === 'function' && v instanceof SharedArrayBuffer)) total += v.byteLength + 16;
      else if (v instanceof Map) { total += 16; for (const [k, x] of v) stack.push(k, x); }
      else if (v instanceof Set) { total += 16; for (const x of v) stack.push(x); }
      else if (Array.isArray(v)) { total += 16; for (let i = 0; i < v.length; i++) stack.push(v[i]); }
      else if (v instanceof Date || v instanceof RegExp) total += 32;
      else if (v instanceof Error) { total += 16; stack.push(v.message, v.stack); }
      else { total += 16; for (const k of Object.keys(v)) { total += k.length + 8; stack.push(v[k]); } }
    }
    if (total > limit) return true;
  }
  return false;
}

function tooLarge(limit, what) {
  return { kind: 'too_large', message: what + ' is larger than ' + limit + ' bytes (maxTransferBytes)' };
}

// Runs inside each isolate: a console that sends one string per call to the host, stops sending
// once its budget is spent, and leaves no handle to the host callback on the global object.
const CONSOLE_SHIM = [
  '(() => {',
  '  const send = globalThis.__buckleyLog; delete globalThis.__buckleyLog;',
  '  let budget = globalThis.__buckleyBudget; delete globalThis.__buckleyBudget;',
  '  let flagged = false;',
  '  const fmt = (v) => { if (typeof v === "string") return v; try { const s = JSON.stringify(v); return s === undefined ? String(v) : s; } catch { return String(v); } };',
  '  const emit = (level) => (...args) => {',
  '    if (budget <= 0) { if (!flagged) { flagged = true; send(level, null); } return; }',
  '    let text = args.map(fmt).join(" ");',
  '    if (text.length > budget) text = text.slice(0, budget);',
  '    budget -= text.length + 1;',
  '    send(level, text);',
  '  };',
  '  const c = { log: emit("log"), info: emit("info"), warn: emit("warn"), error: emit("error"), debug: emit("debug") };',
  '  Object.defineProperty(globalThis, "console", { value: Object.freeze(c), writable: false, configurable: false });',
  '})();',
].join('\n');

// Runs inside an isolate with host functions: each injected name becomes an async function whose
// arguments are copied (structured clone) by the send callback, and whose promise is settled by
// the returned function, called from the child. Errors are made here, in the isolate, from a
// message string, so no host error object or stack crosses. The send callback and the settle
// function live only in this closure.
const HOST_SHIM = [
  '(() => {',
  '  const send = globalThis.__buckleyHostSend; delete globalThis.__buckleyHostSend;',
  '  const names = globalThis.__buckleyHostNames; delete globalThis.__buckleyHostNames;',
  '  const pending = new Map(); let next = 1;',
  '  for (const name of names) {',
  '    const fn = async (...args) => {',
  '      if (pending.size >= ' + MAX_PENDING_HOST_CALLS + ') throw new Error("too many pending host calls (max ' + MAX_PENDING_HOST_CALLS + ')");',
  '      const id = next++;',
  '      const promise = new Promise((resolve, reject) => pending.set(id, { resolve, reject }));',
  '      try { send(id, name, args); } catch (e) {',
  '        pending.delete(id);',
  '        throw new TypeError("arguments of " + name + "() must be copyable data (structured clone): " + String(e && e.message || e));',
  '      }',
  '      return promise;',
  '    };',
  '    Object.defineProperty(fn, "name", { value: name });',
  '    globalThis[name] = fn;',
  '  }',
  '  return (id, ok, value) => {',
  '    const p = pending.get(id); if (p === undefined) return;',
  '    pending.delete(id);',
  '    if (ok) p.resolve(value); else if (value.startsWith("RangeError:")) p.reject(new RangeError(value.slice(11))); else p.reject(new Error(value));',
  '  };',
  '})()',
].join('\n');

function installHostFunctions(entry, scope, names, maxTransferBytes) {
  if (!names || names.length === 0) return;
  entry.maxTransferBytes = maxTransferBytes;
  entry.scope = scope;
  entry.hostNames = new Set(names);
  entry.hostPending = new Set();
  const send = (callId, name, args) => {
    if (entry.disposedByUs || !entry.hostNames.has(name) || scopes.get(scope) !== entry) return;
    entry.hostPending.add(callId);
    if (sizeOver(args, entry.maxTransferBytes)) {
      settleHostCall(entry, callId, false, 'RangeError:the arguments of ' + name + '() are larger than ' + entry.maxTransferBytes + ' bytes (maxTransferBytes); the host was not called');
      return;
    }
    try {
      process.send({ hostCall: { scope, callId, name, args } });
    } catch (error) {
      settleHostCall(entry, callId, false, 'the arguments of ' + name + '() cannot be sent to the host: ' + String(error && error.message || error));
    }
  };
  entry.context.global.setSync('__buckleyHostSend', new ivm.Callback(send, { ignored: true }));
  entry.context.global.setSync('__buckleyHostNames', new ivm.ExternalCopy(names).copyInto({ release: true }));
  entry.settle = entry.context.evalSync(HOST_SHIM, { reference: true });
  scopes.set(scope, entry);
}

function settleHostCall(entry, callId, ok, value) {
  // A late answer (the run ended, timed out or the module was disposed) is dropped here.
  if (!entry.hostPending || !entry.hostPending.delete(callId) || entry.disposedByUs || entry.isolate.isDisposed) return;
  try {
    entry.settle.applyIgnored(undefined, [callId, ok, value], { arguments: { copy: true } });
  } catch (error) {
    try { entry.settle.applyIgnored(undefined, [callId, false, 'the result cannot be copied into the isolate: ' + String(error && error.message || error)], { arguments: { copy: true } }); } catch {}
  }
}

function onHostResult(msg) {
  const entry = scopes.get(msg.scope);
  if (entry === undefined) return;
  settleHostCall(entry, msg.callId, msg.ok === true, msg.ok === true ? msg.value : String(msg.message));
}

function newIsolate(memoryLimitMb, maxConsoleBytes) {
  const isolate = new ivm.Isolate({ memoryLimit: memoryLimitMb });
  const context = isolate.createContextSync();
  const out = { logs: [], bytes: 0, truncated: false, max: maxConsoleBytes };
  const log = (level, text) => {
    if (text === null) { out.truncated = true; return; }
    const size = Buffer.byteLength(text) + 1;
    if (out.bytes + size > out.max) { out.truncated = true; return; }
    out.bytes += size;
    out.logs.push({ level: String(level), text: String(text) });
  };
  context.global.setSync('__buckleyLog', new ivm.Callback(log));
  context.global.setSync('__buckleyBudget', maxConsoleBytes);
  context.evalSync(CONSOLE_SHIM);
  // Off unless configured: WebAssembly memory is not counted by the isolate's heap limit. The
  // global is the only way to it, and it goes before any guest code runs.
  if (!ALLOW_WASM) context.evalSync('delete globalThis.WebAssembly');
  return { isolate, context, out, functions: new Map() };
}

function setGlobals(context, globals) {
  if (!globals) return;
  for (const [name, value] of Object.entries(globals)) {
    context.global.setSync(name, new ivm.ExternalCopy(value).copyInto({ release: true }));
  }
}

// A guest's thrown message and name come back as text: capped like every other guest value
// (a 16 Mi-character message would otherwise pass maxTransferBytes).
const MAX_ERROR_CHARS = 4096;
function clip(text) {
  return text.length <= MAX_ERROR_CHARS ? text : text.slice(0, MAX_ERROR_CHARS) + '... (' + (text.length - MAX_ERROR_CHARS) + ' more characters)';
}

function classify(error, entry) {
  const message = clip(error && error.message ? String(error.message) : String(error));
  if (entry && entry.timedOut) return { kind: 'timeout', message: 'script execution timed out' };
  if (/timed out/i.test(message)) return { kind: 'timeout', message };
  if (/memory limit/i.test(message) || (entry && entry.isolate.isDisposed && !entry.disposedByUs)) return { kind: 'memory', message };
  return { kind: 'error', name: error && error.name ? clip(String(error.name)) : 'Error', message };
}

function takeLogs(entry) {
  const logs = entry.out.logs;
  const truncated = entry.out.truncated;
  entry.out.logs = [];
  entry.out.bytes = 0;
  entry.out.truncated = false;
  return { logs, logsTruncated: truncated };
}

function dispose(entry) {
  entry.disposedByUs = true;
  if (entry.scope !== undefined && scopes.get(entry.scope) === entry) scopes.delete(entry.scope);
  if (entry.settle) { try { entry.settle.release(); } catch {} }
  try { entry.context.release(); } catch {}
  try { if (!entry.isolate.isDisposed) entry.isolate.dispose(); } catch {}
}

// Awaited work (promises) is bounded by the wall clock: the isolate is disposed when it passes.
async function withWallClock(entry, timeoutMs, work) {
  let timer;
  const watchdog = new Promise((_, reject) => {
    timer = setTimeout(() => {
      entry.timedOut = true;
      dispose(entry);
      reject(new Error('script execution timed out'));
    }, timeoutMs);
  });
  try {
    return await Promise.race([work(), watchdog]);
  } finally {
    clearTimeout(timer);
  }
}

function resultOf(msg, value, started, entry) {
  if (sizeOver(value, msg.maxTransferBytes)) return { ok: false, error: tooLarge(msg.maxTransferBytes, 'the result'), durationMs: performance.now() - started, ...takeLogs(entry) };
  return { ok: true, value, durationMs: performance.now() - started, ...takeLogs(entry) };
}

async function run(msg) {
  const entry = newIsolate(msg.memoryLimitMb, msg.maxConsoleBytes);
  const started = performance.now();
  try {
    setGlobals(entry.context, msg.globals);
    installHostFunctions(entry, msg.scope, msg.functions, msg.maxTransferBytes);
    const script = entry.isolate.compileScriptSync(msg.code, { filename: 'file:///sandbox.js' });
    const value = await withWallClock(entry, msg.timeoutMs, () =>
      script.run(entry.context, { timeout: msg.timeoutMs, promise: true, copy: true }),
    );
    return resultOf(msg, value, started, entry);
  } catch (error) {
    return { ok: false, error: classify(error, entry), durationMs: performance.now() - started, ...takeLogs(entry) };
  } finally {
    dispose(entry);
  }
}

function load(msg) {
  const entry = newIsolate(msg.memoryLimitMb, msg.maxConsoleBytes);
  const started = performance.now();
  try {
    setGlobals(entry.context, msg.globals);
    installHostFunctions(entry, msg.scope, msg.functions, msg.maxTransferBytes);
    const script = entry.isolate.compileScriptSync(msg.code, { filename: 'file:///module.js' });
    script.runSync(entry.context, { timeout: msg.timeoutMs });
    // Loading is synchronous: a host call it started can never be awaited by it.
    if (entry.hostPending) entry.hostPending.clear();
    isolates.set(msg.handle, entry);
    return { ok: true, value: null, durationMs: performance.now() - started, ...takeLogs(entry) };
  } catch (error) {
    const result = { ok: false, error: classify(error, entry), durationMs: performance.now() - started, ...takeLogs(entry) };
    dispose(entry);
    return result;
  }
}

// A module with host functions may return a promise that waits on the host: the call is awaited
// under the wall clock, and passing it disposes the module (the pending host calls are abandoned).
// Host calls belong to the call that made them: answers arriving after it returned are dropped,
// so no guest code runs between calls, outside any timeout.
async function callAsync(msg, entry, fn, started) {
  try {
    const value = await withWallClock(entry, msg.timeoutMs, () =>
      fn.apply(undefined, msg.args, { timeout: msg.timeoutMs, arguments: { copy: true }, result: { promise: true, copy: true } }),
    );
    return resultOf(msg, value, started, entry);
  } finally {
    entry.hostPending.clear();
  }
}

async function call(msg) {
  const entry = isolates.get(msg.handle);
  if (!entry || entry.isolate.isDisposed) {
    if (entry) isolates.delete(msg.handle);
    return { ok: false, error: { kind: 'disposed', message: 'the module was disposed (memory limit, timeout or dispose())' }, durationMs: 0, logs: [], logsTruncated: false };
  }
  const started = performance.now();
  try {
    let fn = entry.functions.get(msg.name);
    if (!fn) {
      fn = entry.context.global.getSync(msg.name, { reference: true });
      if (!fn || fn.typeof !== 'function') return { ok: false, error: { kind: 'error', name: 'TypeError', message: 'global ' + JSON.stringify(msg.name) + ' is not a function' }, durationMs: 0, logs: [], logsTruncated: false };
      entry.functions.set(msg.name, fn);
    }
    if (entry.hostNames) return await callAsync(msg, entry, fn, started);
    const value = fn.applySync(undefined, msg.args, { timeout: msg.timeoutMs, arguments: { copy: true }, result: { copy: true } });
    return resultOf(msg, value, started, entry);
  } catch (error) {
    const result = { ok: false, error: classify(error, entry), durationMs: performance.now() - started, ...takeLogs(entry) };
    if (entry.isolate.isDisposed) { isolates.delete(msg.handle); dispose(entry); }
    return result;
  }
}

process.on('message', async (msg) => {
  if (msg.op === 'hostResult') { onHostResult(msg); return; }
  process.send({ ack: msg.id });
  let result;
  try {
    if (msg.op === 'run') result = await run(msg);
    else if (msg.op === 'load') result = load(msg);
    else if (msg.op === 'call') result = await call(msg);
    else if (msg.op === 'unload') {
      const entry = isolates.get(msg.handle);
      if (entry) { isolates.delete(msg.handle); dispose(entry); }
      result = { ok: true, value: null, durationMs: 0, logs: [], logsTruncated: false };
    } else result = { ok: false, error: { kind: 'error', message: 'unknown op ' + JSON.stringify(msg.op) }, durationMs: 0, logs: [], logsTruncated: false };
  } catch (error) {
    result = { ok: false, error: { kind: 'error', message: String(error && error.message || error) }, durationMs: 0, logs: [], logsTruncated: false };
  }
  try {
    process.send({ id: msg.id, ...result });
  } catch (error) {
    process.send({ id: msg.id, ok: false, error: { kind: 'error', message: 'the result cannot be copied out: ' + String(error && error.message || error) }, durationMs: 0, logs: [], logsTruncated: false });
  }
});
process.send({ ready: true });
`;
