/** CSV text (RFC 4180: comma-separated, CRLF line ends, a cell with a comma, quote or line break is quoted). */

export type CsvCell = string | number | boolean | null | undefined;

function cell(value: CsvCell): string {
  const text = value === null || value === undefined ? '' : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function toCsv(header: readonly string[], rows: readonly (readonly CsvCell[])[]): string {
  return [header, ...rows].map((row) => row.map(cell).join(',')).join('\r\n') + '\r\n';
}
