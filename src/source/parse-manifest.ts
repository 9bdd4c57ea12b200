import { parseAllDocuments } from 'yaml';
import type { KubeObject } from '../model/k8s-objects.js';
import { PorticoError, type ErrorCode } from '../lib/errors.js';
import { isPlainObject } from './object-schema.js';
import { parseKubeObject } from './parse-object.js';

export interface ManifestProblem {
  readonly code: ErrorCode;
  /** `file`, or `file#<document index>` with the object's kind/namespace/name when known. */
  readonly where: string;
  readonly message: string;
}

export interface ParsedManifest {
  readonly objects: KubeObject[];
  /** Per-document problems: those documents were skipped, the others are in `objects`. */
  readonly problems: ManifestProblem[];
}

/**
 * Parses one manifest file (multi-document YAML, or JSON; `kind: List` is unwrapped).
 * A syntax error anywhere throws PORTICO_ERR_MANIFEST_PARSE: half a file is not trusted,
 * so the caller keeps that file's last good objects. Per-object problems are returned.
 */
export function parseManifest(text: string, fileName: string): ParsedManifest {
  const documents = decodeDocuments(text, fileName);
  const objects: KubeObject[] = [];
  const problems: ManifestProblem[] = [];
  documents.forEach((document, index) => {
    if (document === null || document === undefined) return; // empty YAML document, e.g. a trailing `---`
    const items = isPlainObject(document) && document.kind === 'List' && Array.isArray(document.items)
      ? document.items
      : [document];
    items.forEach((item, itemIndex) => {
      const where = `${fileName}#${index + 1}${items.length > 1 || items[0] !== document ? `.items[${itemIndex}]` : ''}`;
      try {
        objects.push(parseKubeObject(item));
      } catch (error) {
        if (!(error instanceof PorticoError)) throw error;
        problems.push({ code: error.code, where: `${where} ${describeObject(item)}`.trimEnd(), message: error.message });
      }
    });
  });
  return { objects, problems };
}

function decodeDocuments(text: string, fileName: string): unknown[] {
  if (fileName.endsWith('.json')) {
    try {
      return [JSON.parse(text)];
    } catch (error) {
      throw new PorticoError('PORTICO_ERR_MANIFEST_PARSE', `${fileName}: ${(error as Error).message}`);
    }
  }
  const documents = parseAllDocuments(text, { prettyErrors: true, uniqueKeys: true });
  const docs = Array.isArray(documents) ? documents : [documents];
  for (const document of docs) {
    const [first] = document.errors;
    if (first) {
      const position = first.linePos?.[0];
      // yaml's own message ends with "at line L, column C:" and a frame of its own; ours is drawn
      // from the same position, so the marked line is the line the message names.
      const message = first.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
      const at = position ? `:${position.line}:${position.col}` : '';
      const frame = position ? `\n${renderCodeFrame(text, position.line, position.col)}` : '';
      throw new PorticoError('PORTICO_ERR_MANIFEST_PARSE', `${fileName}${at}: ${message}${frame}`);
    }
  }
  return docs.map((document) => document.toJS({ maxAliasCount: 100 }) as unknown);
}

/**
 * The line before and the named line (1-based) of `text`, numbered, the named one marked with `>`
 * and a caret under column `col` (1-based). A position past the last line marks an empty line.
 */
export function renderCodeFrame(text: string, line: number, col: number): string {
  const lines = text.split(/\r?\n/);
  const first = Math.max(1, line - 1);
  const width = String(line).length;
  const rows: string[] = [];
  for (let n = first; n <= line; n++) {
    rows.push(`${n === line ? '>' : ' '} ${String(n).padStart(width)} | ${lines[n - 1] ?? ''}`);
  }
  rows.push(`  ${' '.repeat(width)} | ${' '.repeat(Math.max(0, col - 1))}^`);
  return rows.join('\n');
}

function describeObject(item: unknown): string {
  if (!isPlainObject(item)) return '';
  const kind = typeof item.kind === 'string' ? item.kind : 'object';
  const meta = isPlainObject(item.metadata) ? item.metadata : {};
  const name = typeof meta.name === 'string' ? meta.name : '?';
  return typeof meta.namespace === 'string' ? `(${kind} ${meta.namespace}/${name})` : `(${kind} ${name})`;
}
