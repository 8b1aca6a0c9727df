/**
 * The one family of refine-af's errors. Everything the toolkit throws on purpose is a RefineAfError: catch the family,
 * branch on the class or on `code` (stable across versions, safe to compare in scripts and logs), show `message` to people.
 * Each class lives beside the code that throws it; the SDK exports them all (ts/index.ts).
 */
export abstract class RefineAfError extends Error {
  abstract readonly code: string;
}

/** A call that cannot be done with what it was given: arguments, or what a function the caller supplied returned. */
export class UsageError extends RefineAfError {
  override name = 'UsageError';
  readonly code = 'usage';
}
