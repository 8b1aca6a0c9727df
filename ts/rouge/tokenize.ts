/**
 * ROUGE tokenisation exactly as `rouge_score` 0.1.2 does it without a stemmer: lower-case, every run of characters
 * outside [a-z0-9] becomes a space, split, drop empty tokens. So the tokens are the maximal [a-z0-9] runs of the
 * lower-cased text (JavaScript's toLowerCase and Python's str.lower share Unicode's full case mapping, e.g. the
 * Kelvin sign becomes "k" and "İ" becomes "i" + a combining dot in both).
 */
const TOKEN = /[a-z0-9]+/g;

export function rougeTokens(text: string): string[] {
  return text.toLowerCase().match(TOKEN) ?? [];
}
