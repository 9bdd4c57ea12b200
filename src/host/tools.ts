import { access, constants } from 'node:fs/promises';
import { join } from 'node:path';

/** The names in `tools` that are not executable files in any PATH directory. */
export async function missingTools(tools: readonly string[], path: string | undefined): Promise<string[]> {
  const dirs = (path ?? '').split(':').filter((dir) => dir !== '');
  const missing: string[] = [];
  for (const tool of tools) {
    const candidates = tool.includes('/') ? [tool] : dirs.map((dir) => join(dir, tool));
    let found = false;
    for (const candidate of candidates) {
      if (await access(candidate, constants.X_OK).then(() => true, () => false)) {
        found = true;
        break;
      }
    }
    if (!found) missing.push(tool);
  }
  return missing;
}
