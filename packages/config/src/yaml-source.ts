import { type ErrorCode, LineCounter, isMap, isPair, isScalar, isSeq, parseDocument, type Node } from 'yaml';
import { ConfigParseError } from './errors.js';

/** What each yaml error code means, in words that quote nothing from the file. */
const YAML_MISTAKES: Partial<Record<ErrorCode, string>> = {
  ALIAS_PROPS: 'an alias cannot have an anchor or a tag',
  BAD_ALIAS: 'an alias refers to an anchor that is not defined before it',
  BAD_DIRECTIVE: 'a bad directive',
  BAD_DQ_ESCAPE: 'a bad escape sequence in a double-quoted string',
  BAD_INDENT: 'bad indentation',
  BAD_PROP_ORDER: 'anchors and tags in the wrong order',
  BAD_SCALAR_START: 'a plain value cannot start with this character',
  BLOCK_AS_IMPLICIT_KEY: 'a nested block cannot be a key',
  BLOCK_IN_FLOW: 'a block value inside a flow collection ([...] or {...})',
  DUPLICATE_KEY: 'a duplicate key (each key may appear once per mapping)',
  KEY_OVER_1024_CHARS: 'a key longer than 1024 characters',
  MISSING_CHAR: 'a missing closing character (a quote or bracket)',
  MULTILINE_IMPLICIT_KEY: 'a key spanning several lines',
  MULTIPLE_ANCHORS: 'more than one anchor on a node',
  MULTIPLE_DOCS: 'more than one YAML document (one mapping per file)',
  MULTIPLE_TAGS: 'more than one tag on a node',
  NON_STRING_KEY: 'a key that is not a string',
  RESOURCE_EXHAUSTION: 'too many alias expansions',
  TAB_AS_INDENT: 'a tab used for indentation (use spaces)',
  TAG_RESOLVE_FAILED: 'an unknown tag',
  UNEXPECTED_TOKEN: 'unexpected text',
  BAD_COLLECTION_TYPE: 'a tag that does not fit the collection',
};

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
    // yaml's own message (and the error object) quote the text at the position; only the kind of mistake is kept.
    throw new ConfigParseError(file, pos.line, pos.col, YAML_MISTAKES[first.code] ?? `YAML error ${first.code}`);
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
  let values: Record<string, unknown>;
  try {
    values = doc.toJS({ maxAliasCount: 100 }) as Record<string, unknown>;
  } catch {
    throw new ConfigParseError(file, 1, 1, 'an alias that refers to no anchor, or too many alias expansions');
  }
  return { values, positions };
}
