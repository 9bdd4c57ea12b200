// Sorting helpers; output order (compiled routes, rulesets) must never depend on the locale.

/** Code-unit order: locale-independent, so output is identical everywhere. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
