import type { ErrorCode } from '../lib/errors.js';
import { CniError } from './cni-error.js';

// Typed reads of untrusted JSON config. Every failure names the field by its path (`ipam.ranges[0][1].subnet`).

export type JsonObject = Record<string, unknown>;

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path === '' ? key : `${path}.${key}`;
}

export function fieldPath(path: string, key: string | number): string {
  return join(path, key);
}

function fail(path: string, message: string, code: ErrorCode = 'PORTICO_ERR_CNI_CONFIG'): never {
  throw new CniError(code, `${path} ${message}`);
}

function describe(value: unknown): string {
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

export function readString(obj: JsonObject, key: string, path = ''): string | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') fail(join(path, key), `must be a string, got ${describe(value)}`);
  return value;
}

export function readBoolean(obj: JsonObject, key: string, path = ''): boolean {
  const value = obj[key];
  if (value === undefined || value === null) return false;
  if (typeof value !== 'boolean') fail(join(path, key), `must be true or false, got ${describe(value)}`);
  return value;
}

export function readInteger(obj: JsonObject, key: string, options: { path?: string; min?: number; max?: number } = {}): number | undefined {
  const value = obj[key];
  const path = join(options.path ?? '', key);
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) fail(path, `must be an integer, got ${describe(value)}`);
  if ((options.min !== undefined && value < options.min) || (options.max !== undefined && value > options.max)) {
    fail(path, `must be between ${options.min ?? '-∞'} and ${options.max ?? '∞'}, got ${value}`);
  }
  return value;
}

export function readObject(obj: JsonObject, key: string, path = ''): JsonObject | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (!isObject(value)) fail(join(path, key), `must be an object, got ${describe(value)}`);
  return value;
}

export function readArray(obj: JsonObject, key: string, path = ''): unknown[] | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) fail(join(path, key), `must be a list, got ${describe(value)}`);
  return value;
}

export function readStringList(obj: JsonObject, key: string, path = ''): string[] | undefined {
  const list = readArray(obj, key, path);
  if (list === undefined) return undefined;
  return list.map((item, i) => {
    if (typeof item !== 'string') fail(join(join(path, key), i), `must be a string, got ${describe(item)}`);
    return item;
  });
}

export function invalid(path: string, message: string): never {
  return fail(path, message);
}

export function unsupported(path: string, value: unknown, why: string): never {
  return fail(path, `= ${describe(value)} is not supported by portico-cni: ${why}`, 'PORTICO_ERR_CNI_UNSUPPORTED_FIELD');
}
