/**
 * Diversity of instructions (§IV, Appendix IX-B, Figure 8): the root verb of each instruction and its direct-object
 * noun. The paper (after Self-Instruct) reads them off a Berkeley Neural Parser constituency parse. No such parser
 * runs here, so this reads them off part-of-speech tags from `compromise` (a rule-and-lexicon tagger, no model) with
 * the shape instructions have — docs/evaluation.md says exactly how this differs from a parser:
 *   1. the first sentence; a leading clause ending in a comma ("Given a list of numbers, …", "In this task, …") is
 *      skipped when the sentence does not start with a verb;
 *   2. root verb: the first word when it is a verb (an imperative) — or a word tagged otherwise but followed by a
 *      determiner or object pronoun ("Output the …") — else the first verb that is not a copula, auxiliary or modal;
 *   3. direct object: the first noun after the verb, skipping determiners, adjectives, adverbs, numbers, particles and
 *      indirect-object pronouns ("Give me a list" → list); a compound's last noun is its head ("word counts" → count);
 *      a preposition, verb, conjunction or clause punctuation first means no object ("Tell me about …").
 * Verbs are reduced to the infinitive and nouns to the singular. Instructions without a verb (questions such as
 * "What is …") or without an object get none, as in the paper's figures.
 */
import { createRequire } from 'node:module';

// The tagger takes about half a second to load: load it when the first instruction is tagged, not with every
// command that imports this module (the CLI's start-up; BENCHMARKS.md "Start-up").
type Nlp = typeof import('compromise').default;
let tagger: Nlp | undefined;
const nlp: Nlp = ((text: string) => (tagger ??= createRequire(import.meta.url)('compromise') as Nlp)(text)) as Nlp;

interface Term {
  text: string;
  normal: string;
  tags: string[];
  post: string;
}

export interface VerbNoun {
  verb: string | null;
  noun: string | null;
}

const INDIRECT_OBJECTS = new Set(['me', 'us', 'him', 'her', 'them', 'you', 'yourself', 'myself']);
const QUANTIFIERS = new Set(['all', 'each', 'every', 'both', 'some', 'any', 'several', 'many', 'few', 'most']);
/** A sentence opening with one of these starts with a subordinate clause ("Given …,", "Using …,", "In this task,", "To …,"). */
const CLAUSE_OPENERS = ['Participle', 'Gerund', 'Preposition', 'Conjunction', 'Adverb'];
const SKIPPED_BEFORE_OBJECT = ['Determiner', 'Adjective', 'Adverb', 'Value', 'Possessive', 'Particle', 'Negative'];
const NOT_MAIN_VERB = ['Copula', 'Auxiliary', 'Modal'];
const LEADS_INTO_OBJECT = ['Determiner', 'Possessive', 'Value'];
const CLAUSE_END = /[,.;:?!]/;

const has = (term: Term | undefined, tag: string): boolean => term?.tags.includes(tag) ?? false;
const hasAny = (term: Term | undefined, tags: readonly string[]): boolean => tags.some((t) => has(term, t));
const isMainVerb = (term: Term | undefined): boolean => has(term, 'Verb') && !hasAny(term, NOT_MAIN_VERB) && !has(term, 'Particle');

/** Words of the first sentence the tagger sees: instructions can run long, and only their opening matters here. */
const MAX_WORDS = 40;

function firstSentenceTerms(text: string): Term[] {
  const opening = text
    .split(/(?<=[.?!])\s+/, 1)[0]!
    .split(/\s+/)
    .slice(0, MAX_WORDS)
    .join(' ');
  const sentences = nlp(opening).json() as { terms: Term[] }[];
  return sentences[0]?.terms ?? [];
}

/** Index of the root verb in `terms`, or undefined. */
function rootVerbIndex(terms: Term[]): number | undefined {
  const first = terms[0];
  const second = terms[1];
  if (isMainVerb(first) && !hasAny(first, CLAUSE_OPENERS)) return 0;
  if (has(first, 'Noun') && !has(first, 'Pronoun') && (hasAny(second, LEADS_INTO_OBJECT) || INDIRECT_OBJECTS.has(second?.normal ?? ''))) {
    return 0;
  }
  const index = terms.findIndex(isMainVerb);
  return index < 0 ? undefined : index;
}

function leadingClauseEnd(terms: Term[]): number {
  return terms.findIndex((t) => t.post.includes(','));
}

/** Index of the direct-object noun after the verb at `verb`, or undefined. */
function objectIndex(terms: Term[], verb: number): number | undefined {
  if (CLAUSE_END.test(terms[verb]!.post)) return undefined;
  for (let i = verb + 1; i < terms.length; i++) {
    const term = terms[i]!;
    if (INDIRECT_OBJECTS.has(term.normal) || QUANTIFIERS.has(term.normal) || hasAny(term, SKIPPED_BEFORE_OBJECT)) {
      if (CLAUSE_END.test(term.post)) return undefined;
      continue;
    }
    if (!has(term, 'Noun') || has(term, 'Pronoun')) return undefined;
    let head = i;
    while (!CLAUSE_END.test(terms[head]!.post) && has(terms[head + 1], 'Noun') && !has(terms[head + 1], 'Pronoun')) head++;
    return head;
  }
  return undefined;
}

const lemmaCache = new Map<string, string>();
function lemma(term: Term, kind: 'verb' | 'noun'): string {
  const key = `${kind}:${term.normal}`;
  let cached = lemmaCache.get(key);
  if (cached === undefined) {
    // Out of context a word is often read as the other part of speech ("names"): give the tagger a frame.
    const reduced =
      kind === 'verb'
        ? nlp(`you ${term.normal}`).verbs().toInfinitive().text().replace(/^you /, '')
        : nlp(`the ${term.normal}`).nouns().toSingular().text().replace(/^the /, '');
    cached = (reduced || term.normal).toLowerCase().replace(/[^a-z0-9' -]/g, '');
    lemmaCache.set(key, cached);
  }
  return cached;
}

/** The root verb and its direct-object noun of one instruction (either may be null). */
export function verbNoun(instruction: string): VerbNoun {
  let terms = firstSentenceTerms(instruction.trim());
  const opensWithClause = hasAny(terms[0], CLAUSE_OPENERS) || terms[0]?.normal === 'to';
  if (opensWithClause || rootVerbIndex(terms) !== 0) {
    const clauseEnd = leadingClauseEnd(terms);
    if (clauseEnd >= 0 && clauseEnd < terms.length - 1) {
      const rest = terms.slice(clauseEnd + 1);
      if (rootVerbIndex(rest) === 0) terms = rest;
    }
  }
  const verb = rootVerbIndex(terms);
  if (verb === undefined) return { verb: null, noun: null };
  // A sentence-initial imperative tagged as a noun ("Output") has no verb forms to reduce.
  const verbLemma = isMainVerb(terms[verb]) ? lemma(terms[verb]!, 'verb') : terms[verb]!.normal;
  const noun = objectIndex(terms, verb);
  return { verb: verbLemma, noun: noun === undefined ? null : lemma(terms[noun]!, 'noun') };
}

export interface DiversitySummary {
  instructions: number;
  withVerb: number;
  withVerbAndNoun: number;
  uniqueVerbNounPairs: number;
  uniqueVerbs: number;
  /** The most frequent root verbs (by instructions with a verb–noun pair), each with its most frequent nouns. */
  topVerbs: { verb: string; count: number; nouns: { noun: string; count: number }[] }[];
}

const byCountThenName =
  <T extends { count: number }>(key: (x: T) => string) =>
  (a: T, b: T) =>
    b.count - a.count || key(a).localeCompare(key(b));

/** Verb–noun statistics of a list of instructions: pairs counted once per instruction (Figure 8 and §IV). */
export function diversity(instructions: readonly string[], topVerbs: number, nounsPerVerb: number): DiversitySummary {
  const pairs = instructions.map(verbNoun);
  const counts = new Map<string, Map<string, number>>();
  let withVerb = 0;
  let withPair = 0;
  for (const { verb, noun } of pairs) {
    if (verb === null) continue;
    withVerb++;
    if (noun === null) continue;
    withPair++;
    const nouns = counts.get(verb) ?? new Map<string, number>();
    nouns.set(noun, (nouns.get(noun) ?? 0) + 1);
    counts.set(verb, nouns);
  }
  const verbs = [...counts].map(([verb, nouns]) => ({
    verb,
    count: [...nouns.values()].reduce((a, b) => a + b, 0),
    nouns: [...nouns].map(([noun, count]) => ({ noun, count })).sort(byCountThenName((n) => n.noun)),
  }));
  verbs.sort(byCountThenName((v) => v.verb));
  return {
    instructions: instructions.length,
    withVerb,
    withVerbAndNoun: withPair,
    uniqueVerbNounPairs: verbs.reduce((n, v) => n + v.nouns.length, 0),
    uniqueVerbs: verbs.length,
    topVerbs: verbs.slice(0, topVerbs).map((v) => ({ ...v, nouns: v.nouns.slice(0, nounsPerVerb) })),
  };
}
