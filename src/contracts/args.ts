// Argument checks shared by built-in apps: each failure is APP_E_INVALID_ARGS naming the field.
import { cofferError } from '../errors/index.js';

export function invalidArgs(field: string, what: string): never {
  throw cofferError('APP_E_INVALID_ARGS', `args.${field} ${what}`, { field: `args.${field}` });
}

export function stringArg(
  args: Readonly<Record<string, unknown>>,
  field: string,
  pattern: RegExp,
  charsMax: number,
): string {
  const value = args[field];
  if (
    typeof value !== 'string' ||
    value.length === 0 ||
    value.length > charsMax ||
    !pattern.test(value)
  ) {
    return invalidArgs(
      field,
      `must be a string matching ${String(pattern)}, at most ${charsMax} characters`,
    );
  }
  return value;
}

export function onlyFields(
  args: Readonly<Record<string, unknown>>,
  fields: readonly string[],
): void {
  for (const key of Object.keys(args)) {
    if (!fields.includes(key))
      invalidArgs(key, `is not an argument (expected ${fields.join(', ')})`);
  }
}
