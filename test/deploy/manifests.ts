// Loads deploy/kubernetes/ and validates objects against the Kubernetes API schemas shipped in
// kubernetes-models: its validate() checks types, enums and required fields; strictFieldProblems()
// adds what it lets through — unknown (e.g. misspelled) fields — by walking the models' type
// declarations, the way `kubectl apply --validate=strict` would reject them.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { IngressClass } from 'kubernetes-models/networking.k8s.io/v1/IngressClass';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';

export const ROOT = join(import.meta.dirname, '..', '..');
export const DEPLOY_DIR = join(ROOT, 'deploy', 'kubernetes');
const NODE_MODULES = join(ROOT, 'node_modules');

export type Manifest = Record<string, any> & { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } };

export interface ManifestFile {
  file: string;
  objects: Manifest[];
}

export function loadManifestFiles(): ManifestFile[] {
  return readdirSync(DEPLOY_DIR)
    .filter((name) => /\.ya?ml$/.test(name) && name !== 'kustomization.yaml')
    .sort()
    .map((file) => ({
      file,
      objects: parseAllDocuments(readFileSync(join(DEPLOY_DIR, file), 'utf8'))
        .map((doc) => doc.toJS() as Manifest | null)
        .filter((obj): obj is Manifest => obj !== null),
    }));
}

export function allManifests(): Manifest[] {
  return loadManifestFiles().flatMap((f) => f.objects);
}

export function findManifest(kind: string, name?: string): Manifest {
  const found = allManifests().find((m) => m.kind === kind && (name === undefined || m.metadata.name === name));
  if (!found) throw new Error(`no ${kind}${name ? ` ${name}` : ''} in deploy/kubernetes`);
  return found;
}

const MODELS: Record<string, { new (data: any): { validate(): void } }> = {
  'v1/Namespace': Namespace,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'apps/v1/DaemonSet': DaemonSet,
  'apps/v1/Deployment': Deployment,
  'networking.k8s.io/v1/IngressClass': IngressClass,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
};

/** Schema problems of one object: kubernetes-models validate() plus unknown fields. */
export function validateManifest(obj: Manifest): string[] {
  const Model = MODELS[`${obj.apiVersion}/${obj.kind}`];
  if (!Model) return [`no schema for ${obj.apiVersion} ${obj.kind}`];
  const problems: string[] = [];
  try {
    new Model(obj).validate();
  } catch (error) {
    problems.push((error as Error).message);
  }
  return [...problems, ...strictFieldProblems(obj)];
}

// ---------------------------------------------------------------------------------------------
// Unknown-field check from kubernetes-models' .d.ts declarations

type FieldType = { kind: 'leaf' } | { kind: 'object'; file: string } | { kind: 'array'; of: FieldType } | { kind: 'map'; of: FieldType };

const interfaces = new Map<string, Map<string, FieldType> | undefined>();

function declarationFile(obj: Manifest): string {
  const [group, version] = obj.apiVersion.includes('/') ? obj.apiVersion.split('/') : ['', obj.apiVersion];
  return join(NODE_MODULES, 'kubernetes-models', ...(group ? [group!, version!] : [version!]), `${obj.kind}.d.ts`);
}

/** The fields of the first interface declared in a .d.ts, or undefined for a type alias (a leaf). */
function fieldsOf(file: string): Map<string, FieldType> | undefined {
  if (interfaces.has(file)) return interfaces.get(file);
  const text = readFileSync(file, 'utf8')
    .replace(/\/\*\*[\s\S]*?\*\//g, '')
    .replace(/^\s*\n/gm, '');
  const imports = new Map<string, string>();
  for (const m of text.matchAll(/import \{ (\w+) \} from "([^"]+)";/g)) {
    const target = m[2]!.startsWith('.') ? join(dirname(file), m[2]!) : join(NODE_MODULES, m[2]!);
    imports.set(m[1]!, `${target}.d.ts`);
  }
  const body = /export interface \w+(?: extends [\w, ]+)? \{\n([\s\S]*?)\n\}/.exec(text)?.[1];
  if (body === undefined) {
    interfaces.set(file, undefined);
    return undefined;
  }
  const fields = new Map<string, FieldType>();
  const typeOf = (type: string): FieldType => {
    type = type.trim();
    const array = /^Array<(.+)>$/s.exec(type);
    if (array) return { kind: 'array', of: typeOf(array[1]!) };
    const map = /^\{\s*\[key: string\]: (.+?);?\s*\}$/s.exec(type);
    if (map) return { kind: 'map', of: typeOf(map[1]!) };
    const target = imports.get(type);
    return target ? { kind: 'object', file: target } : { kind: 'leaf' };
  };
  for (const m of body.matchAll(/^ {4}"([^"]+)"\??: ([\s\S]*?);$(?=\n {4}"|$(?![\s\S]))/gm)) {
    fields.set(m[1]!, typeOf(m[2]!));
  }
  interfaces.set(file, fields);
  return fields;
}

export function strictFieldProblems(obj: Manifest): string[] {
  const problems: string[] = [];
  const walk = (value: unknown, type: FieldType, path: string) => {
    if (value === null || value === undefined) return;
    if (type.kind === 'array') {
      if (Array.isArray(value)) value.forEach((item, i) => walk(item, type.of, `${path}[${i}]`));
    } else if (type.kind === 'map') {
      if (typeof value === 'object') for (const [k, v] of Object.entries(value)) walk(v, type.of, `${path}.${k}`);
    } else if (type.kind === 'object' && typeof value === 'object' && !Array.isArray(value)) {
      const fields = fieldsOf(type.file);
      if (!fields) return;
      for (const [key, child] of Object.entries(value)) {
        const fieldType = fields.get(key);
        if (!fieldType) problems.push(`${path ? `${path}.` : ''}${key}: unknown field`);
        else walk(child, fieldType, path ? `${path}.${key}` : key);
      }
    }
  };
  walk(obj, { kind: 'object', file: declarationFile(obj) }, '');
  return problems;
}
