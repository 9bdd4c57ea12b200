// A tiny structural checker for the Kubernetes objects we read. It reports every problem with the
// field path, so a user can find the mistake; unknown fields are ignored as the API server would keep them.

export type Schema =
  | { readonly type: 'string' | 'number' | 'integer' | 'boolean' }
  | { readonly type: 'int-or-string' }
  | { readonly type: 'array'; readonly items: Schema }
  | { readonly type: 'map'; readonly values: Schema }
  | {
      readonly type: 'object';
      readonly properties: Readonly<Record<string, Schema>>;
      readonly required?: readonly string[];
    };

export function checkSchema(value: unknown, schema: Schema, path: string, problems: string[]): void {
  switch (schema.type) {
    case 'string':
    case 'number':
    case 'boolean':
      if (typeof value !== schema.type) problems.push(`${path} must be a ${schema.type}, got ${describe(value)}`);
      return;
    case 'integer':
      if (!Number.isInteger(value)) problems.push(`${path} must be an integer, got ${describe(value)}`);
      return;
    case 'int-or-string':
      if (!Number.isInteger(value) && typeof value !== 'string') {
        problems.push(`${path} must be an integer or a string, got ${describe(value)}`);
      }
      return;
    case 'array':
      if (!Array.isArray(value)) {
        problems.push(`${path} must be a list, got ${describe(value)}`);
        return;
      }
      value.forEach((item, index) => checkSchema(item, schema.items, `${path}[${index}]`, problems));
      return;
    case 'map':
      if (!isPlainObject(value)) {
        problems.push(`${path} must be a map, got ${describe(value)}`);
        return;
      }
      for (const [key, item] of Object.entries(value)) checkSchema(item, schema.values, `${path}.${key}`, problems);
      return;
    case 'object': {
      if (!isPlainObject(value)) {
        problems.push(`${path} must be an object, got ${describe(value)}`);
        return;
      }
      for (const name of schema.required ?? []) {
        if (value[name] === undefined || value[name] === null) problems.push(`${path}.${name} is required`);
      }
      for (const [name, propertySchema] of Object.entries(schema.properties)) {
        const property = value[name];
        // null is how YAML spells "absent"; the API server treats it the same way.
        if (property !== undefined && property !== null) checkSchema(property, propertySchema, `${path}.${name}`, problems);
      }
      return;
    }
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return `string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  return typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`;
}
