/** The `human_eval` section of the config; ts/config/schema.ts assembles the sections into the one schema. */
import { z } from 'zod';
import { decoding, generationBackend } from '../fields.js';
import { ours } from '../provenance.js';

export const humanEvalSection = z
  .strictObject({
    host: z
      .string()
      .min(1)
      .default('127.0.0.1')
      .describe('Address the rating web app binds to; the loopback default keeps it off the network unless a host is given.')
      .meta(ours('loopback keeps the rating app off the network')),
    port: z
      .number()
      .int()
      .min(0)
      .max(65535)
      .default(8787)
      .describe('Port of the rating web app (0: any free port).')
      .meta(ours('a free port, unlikely to clash')),
    body_limit_bytes: z
      .number()
      .int()
      .positive()
      .default(16_384)
      .describe('Largest request body accepted; a form post (login token or rating) is far smaller, so larger bodies are refused with 413.')
      .meta(ours('far above any form post the app takes')),
    session_hours: z
      .number()
      .positive()
      .default(12)
      .describe('How long a rater stays logged in after entering their token.')
      .meta(ours('a working day of rating')),
    decoding: z
      .strictObject({
        max_new_tokens: decoding.max_new_tokens
          .default(512)
          .describe('Tokens generated per response to a user-oriented instruction.')
          .meta(ours('the paper gives no value; room for an answer of a few paragraphs')),
      })
      .prefault({})
      .describe('Decoding of the responses: greedy, no stop sequence, the SFT prompt sent raw, as the model was trained.'),
    backend: generationBackend('the responses to the user-oriented instructions', 'local', ours('the local worker needs no server')),
  })
  .describe('The blind human rating web app for the user-oriented instructions (§V-B, Figure 6).');
