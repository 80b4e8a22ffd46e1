import { LineCounter, isMap, isPair, isScalar, isSeq, parseDocument, type Node } from 'yaml';
import { ConfigParseError } from './errors.js';

/** A configuration layer read from YAML: its values and the position of every key. */
export interface YamlLayer {
  readonly values: Record<string, unknown>;
  /** Dotted key path -> 1-based line and column of the key. */
  readonly positions: ReadonlyMap<string, { line: number; column: number }>;
}

/**
 * Parses one configuration file. Duplicate keys, tabs, bad indentation and the like are
 * {@link ConfigParseError}s with line and column; so is a top level that is not a mapping.
 * An empty file is an empty layer.
 */
export function parseYamlLayer(file: string, text: string): YamlLayer {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  const first = doc.errors[0];
  if (first) {
    const pos = lineCounter.linePos(first.pos[0]);
    throw new ConfigParseError(file, pos.line, pos.col, first.message.split('\n')[0]!, { cause: first });
  }
  const positions = new Map<string, { line: number; column: number }>();
  const root = doc.contents;
  if (root === null || (isScalar(root) && (root.value === null || root.value === undefined))) {
    return { values: {}, positions };
  }
  if (!isMap(root)) {
    const pos = lineCounter.linePos(root.range?.[0] ?? 0);
    throw new ConfigParseError(file, pos.line, pos.col, 'the top level must be a mapping of sections (store, sandbox, ...)');
  }
  const record = (node: Node | null, path: string[]) => {
    if (!isMap(node)) return;
    for (const pair of node.items) {
      if (!isPair(pair) || !isScalar(pair.key)) continue;
      const key = String(pair.key.value);
      const keyPath = [...path, key];
      const pos = lineCounter.linePos(pair.key.range?.[0] ?? 0);
      positions.set(keyPath.join('.'), { line: pos.line, column: pos.col });
      const value = pair.value as Node | null;
      if (isMap(value)) record(value, keyPath);
      else if (isSeq(value)) {
        // List items keep the key's position: a bad item is reported at its key.
      }
    }
  };
  record(root, []);
  return { values: doc.toJS({ maxAliasCount: 100 }) as Record<string, unknown>, positions };
}
