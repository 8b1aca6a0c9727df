/**
 * The Porter stemmer exactly as `rouge_score` runs it: NLTK's `PorterStemmer()` in its default NLTK_EXTENSIONS mode
 * (nltk/stem/porter.py, nltk 3.10): the irregular-forms pool, words of one or two letters left alone, the
 * -ies/-ied short-word rules, the y→i rule only after a consonant, alli→al first, bli→ble, fulli→ful and logi→log.
 * Verified against nltk on 32k words by tests/ts/eval-metrics.test.ts (golden file from tests/golden/make_superni_golden.py).
 */

/** NLTK's table of irregular forms (form → stem). */
const IRREGULAR: ReadonlyMap<string, string> = new Map([
  ['sky', 'sky'],
  ['skies', 'sky'],
  ['dying', 'die'],
  ['lying', 'lie'],
  ['tying', 'tie'],
  ['news', 'news'],
  ['innings', 'inning'],
  ['inning', 'inning'],
  ['outings', 'outing'],
  ['outing', 'outing'],
  ['cannings', 'canning'],
  ['canning', 'canning'],
  ['howe', 'howe'],
  ['proceed', 'proceed'],
  ['exceed', 'exceed'],
  ['succeed', 'succeed'],
]);

const VOWELS = new Set(['a', 'e', 'i', 'o', 'u']);

/** Consonant flag of every letter: a y is a consonant at the start or after a vowel, a vowel after a consonant. */
function consonantFlags(word: string): boolean[] {
  const flags: boolean[] = [];
  for (let i = 0; i < word.length; i++) {
    const ch = word[i]!;
    if (VOWELS.has(ch)) flags.push(false);
    else if (ch === 'y') flags.push(i === 0 ? true : !flags[i - 1]);
    else flags.push(true);
  }
  return flags;
}

const isConsonant = (word: string, i: number): boolean => consonantFlags(word.slice(0, i + 1))[i]!;

/** m in [C](VC){m}[V]: the number of vowel→consonant transitions. */
function measure(stem: string): number {
  const flags = consonantFlags(stem);
  let m = 0;
  for (let i = 1; i < flags.length; i++) if (!flags[i - 1] && flags[i]) m++;
  return m;
}

const hasPositiveMeasure = (stem: string): boolean => measure(stem) > 0;
const containsVowel = (stem: string): boolean => consonantFlags(stem).some((c) => !c);

function endsDoubleConsonant(word: string): boolean {
  return word.length >= 2 && word.at(-1) === word.at(-2) && isConsonant(word, word.length - 1);
}

/** *o: ends consonant-vowel-consonant with the last not w, x or y; NLTK also accepts a two-letter vowel-consonant word. */
function endsCvc(word: string): boolean {
  const n = word.length;
  return (
    (n >= 3 &&
      isConsonant(word, n - 3) &&
      !isConsonant(word, n - 2) &&
      isConsonant(word, n - 1) &&
      !['w', 'x', 'y'].includes(word[n - 1]!)) ||
    (n === 2 && !isConsonant(word, 0) && isConsonant(word, 1))
  );
}

/** A rule: suffix ("*d" = any double consonant), replacement, condition on the stem. */
type Rule = readonly [suffix: string, replacement: string, condition: ((stem: string) => boolean) | null];

/** The first rule whose suffix matches decides: its condition holds → replaced, otherwise the word is kept. */
function applyRuleList(word: string, rules: readonly Rule[]): string {
  for (const [suffix, replacement, condition] of rules) {
    if (suffix === '*d' && endsDoubleConsonant(word)) {
      const stem = word.slice(0, -2);
      return condition === null || condition(stem) ? stem + replacement : word;
    }
    if (word.endsWith(suffix)) {
      const stem = word.slice(0, word.length - suffix.length);
      return condition === null || condition(stem) ? stem + replacement : word;
    }
  }
  return word;
}

function step1a(word: string): string {
  if (word.endsWith('ies') && word.length === 4) return `${word.slice(0, -3)}ie`;
  return applyRuleList(word, [
    ['sses', 'ss', null],
    ['ies', 'i', null],
    ['ss', 'ss', null],
    ['s', '', null],
  ]);
}

function step1b(word: string): string {
  if (word.endsWith('ied')) return word.slice(0, -3) + (word.length === 4 ? 'ie' : 'i');
  if (word.endsWith('eed')) {
    const stem = word.slice(0, -3);
    return measure(stem) > 0 ? `${stem}ee` : word;
  }
  let intermediate: string | undefined;
  for (const suffix of ['ed', 'ing']) {
    if (word.endsWith(suffix)) {
      const stem = word.slice(0, -suffix.length);
      if (containsVowel(stem)) {
        intermediate = stem;
        break;
      }
    }
  }
  if (intermediate === undefined) return word;
  const last = intermediate.at(-1) ?? '';
  return applyRuleList(intermediate, [
    ['at', 'ate', null],
    ['bl', 'ble', null],
    ['iz', 'ize', null],
    ['*d', last, () => !['l', 's', 'z'].includes(last)],
    ['', 'e', (stem) => measure(stem) === 1 && endsCvc(stem)],
  ]);
}

function step1c(word: string): string {
  return applyRuleList(word, [['y', 'i', (stem) => stem.length > 1 && isConsonant(stem, stem.length - 1)]]);
}

function step2(word: string): string {
  if (word.endsWith('alli') && hasPositiveMeasure(word.slice(0, -4))) return step2(`${word.slice(0, -4)}al`);
  const m = hasPositiveMeasure;
  return applyRuleList(word, [
    ['ational', 'ate', m],
    ['tional', 'tion', m],
    ['enci', 'ence', m],
    ['anci', 'ance', m],
    ['izer', 'ize', m],
    ['bli', 'ble', m],
    ['alli', 'al', m],
    ['entli', 'ent', m],
    ['eli', 'e', m],
    ['ousli', 'ous', m],
    ['ization', 'ize', m],
    ['ation', 'ate', m],
    ['ator', 'ate', m],
    ['alism', 'al', m],
    ['iveness', 'ive', m],
    ['fulness', 'ful', m],
    ['ousness', 'ous', m],
    ['aliti', 'al', m],
    ['iviti', 'ive', m],
    ['biliti', 'ble', m],
    ['fulli', 'ful', m],
    // The l of logi stays with the stem, so that short stems (geo-, theo-) are stemmed like long ones.
    ['logi', 'log', () => hasPositiveMeasure(word.slice(0, -3))],
  ]);
}

function step3(word: string): string {
  const m = hasPositiveMeasure;
  return applyRuleList(word, [
    ['icate', 'ic', m],
    ['ative', '', m],
    ['alize', 'al', m],
    ['iciti', 'ic', m],
    ['ical', 'ic', m],
    ['ful', '', m],
    ['ness', '', m],
  ]);
}

function step4(word: string): string {
  const m = (stem: string) => measure(stem) > 1;
  return applyRuleList(word, [
    ['al', '', m],
    ['ance', '', m],
    ['ence', '', m],
    ['er', '', m],
    ['ic', '', m],
    ['able', '', m],
    ['ible', '', m],
    ['ant', '', m],
    ['ement', '', m],
    ['ment', '', m],
    ['ent', '', m],
    ['ion', '', (stem) => measure(stem) > 1 && (stem.endsWith('s') || stem.endsWith('t'))],
    ['ou', '', m],
    ['ism', '', m],
    ['ate', '', m],
    ['iti', '', m],
    ['ous', '', m],
    ['ive', '', m],
    ['ize', '', m],
  ]);
}

function step5a(word: string): string {
  if (!word.endsWith('e')) return word;
  const stem = word.slice(0, -1);
  const m = measure(stem);
  return m > 1 || (m === 1 && !endsCvc(stem)) ? stem : word;
}

function step5b(word: string): string {
  return applyRuleList(word, [['ll', 'l', () => measure(word.slice(0, -1)) > 1]]);
}

/** Stem one word (lower-cased first, as NLTK does). */
export function porterStem(word: string): string {
  const lower = word.toLowerCase();
  const irregular = IRREGULAR.get(lower);
  if (irregular !== undefined) return irregular;
  if (word.length <= 2) return lower;
  return step5b(step5a(step4(step3(step2(step1c(step1b(step1a(lower))))))));
}
