import { sep } from 'node:path';

/**
 * True when `path` is `root` or below it. Both must be absolute and normalized (resolved or
 * real paths); the comparison is on whole components, so `/w/app` does not contain
 * `/w/app-secrets`. Purely lexical: it follows no symlink.
 *
 * @example
 * ```ts
 * isInside('/w/app', '/w/app/src'); // true
 * isInside('/w/app', '/w/app-secrets'); // false
 * ```
 */
export function isInside(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}
