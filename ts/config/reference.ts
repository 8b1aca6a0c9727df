/** The config reference (every key, its type, default, the default's source and description) rendered from the schema itself. */
import { z } from 'zod';
import { type Source, sourceText } from './provenance.js';
import { configSchema } from './schema.js';

interface JsonSchemaNode {
  type?: string | string[];
  description?: string;
  default?: unknown;
  /** The field's `.meta({ source })`, carried into the JSON schema. */
  source?: Source;
  enum?: unknown[];
  properties?: Record<string, JsonSchemaNode>;
  items?: JsonSchemaNode;
  anyOf?: JsonSchemaNode[];
}

function typeText(node: JsonSchemaNode): string {
  if (node.enum) return node.enum.map((v) => JSON.stringify(v)).join(' | ');
  if (node.anyOf) return node.anyOf.map(typeText).join(' | ');
  if (node.type === 'array' && node.items) return `${typeText(node.items)}[]`;
  return Array.isArray(node.type) ? node.type.join(' | ') : (node.type ?? 'any');
}

/** One row per key; a nested object (e.g. feedback.weights) gets its own row and one per inner key. */
function rows(prefix: string, node: JsonSchemaNode): string[] {
  return Object.entries(node.properties ?? {}).flatMap(([key, field]) => {
    const fallback = field.default === undefined ? '—' : `\`${JSON.stringify(field.default)}\``;
    const source = field.source === undefined ? '' : sourceText(field.source);
    const cells = [`\`${prefix}.${key}\``, typeText(field), fallback, source, field.description ?? ''];
    const row = `| ${cells.map((cell) => cell.replaceAll('|', '\\|')).join(' | ')} |`;
    // A nullable object (sft.lora) is an anyOf of the object and null: its keys get rows too.
    return [row, ...rows(`${prefix}.${key}`, field.properties ? field : (field.anyOf?.find((member) => member.properties) ?? field))];
  });
}

/** Markdown: one table per section, in schema order. */
export function configReference(): string {
  const root = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchemaNode;
  const out: string[] = [];
  for (const [section, node] of Object.entries(root.properties ?? {})) {
    out.push(
      `### \`${section}\` — ${node.description ?? ''}`,
      '',
      '| key | type | default | source of the default | meaning |',
      '| --- | --- | --- | --- | --- |',
    );
    out.push(...rows(section, node), '');
  }
  return out.join('\n');
}
