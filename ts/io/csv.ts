/**
 * CSV text (RFC 4180: comma-separated, CRLF line ends, a cell with a comma, quote or line break is quoted).
 *
 * Text cells that a spreadsheet would run as a formula (starting with =, +, -, @, tab or carriage return) are written as
 * text: prefixed with a single quote and quoted (OWASP's advice against CSV injection). Number cells are written as they
 * are, negative ones included: a number cannot carry a formula, and numeric columns must stay numeric.
 */

export type CsvCell = string | number | boolean | null | undefined;

const FORMULA_START = /^[=+\-@\t\r]/;

function quoted(text: string): string {
  return `"${text.replaceAll('"', '""')}"`;
}

function cell(value: CsvCell): string {
  if (typeof value === 'string' && FORMULA_START.test(value)) return quoted(`'${value}`);
  const text = value === null || value === undefined ? '' : String(value);
  return /[",\r\n]/.test(text) ? quoted(text) : text;
}

export function toCsv(header: readonly string[], rows: readonly (readonly CsvCell[])[]): string {
  return `${[header, ...rows].map((row) => row.map(cell).join(',')).join('\r\n')}\r\n`;
}
