/**
 * The instance-generation prompt of stages 2 and 3 (§II-D: "the same prompt as used by Self Instruct"). Self-Instruct
 * builds it as template + " " + instruction.strip() + "\n"; our templates end in " {{instruction}}\n", so filling one
 * with the trimmed instruction gives Self-Instruct's prompt byte for byte.
 */
import { renderTemplate } from '../../prompts/render.js';

export function instancePrompt(template: string, instruction: string): string {
  return renderTemplate(template, { instruction: instruction.trim() });
}
