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
    secure_cookies: z
      .boolean()
      .default(false)
      .describe(
        'Mark the session cookie Secure (sent over HTTPS only). Set it when a TLS proxy fronts the app: the app itself speaks plain HTTP and does not trust X-Forwarded-Proto, which any client reaching it directly could send.',
      )
      .meta(ours('the app speaks plain HTTP on loopback by default, where a Secure cookie would not be needed')),
    login_throttle: z
      .strictObject({
        failures: z
          .number()
          .int()
          .positive()
          .default(10)
          .describe(
            'Failed logins (wrong tokens) a client address may make within window_seconds; beyond that it gets 429 with Retry-After.',
          )
          .meta(ours('room for typing mistakes; tokens are 256-bit, so this bounds load and log noise more than guessing')),
        window_seconds: z
          .number()
          .positive()
          .default(900)
          .describe("How long an address's failed logins count, from its first one; a locked address may try again when it ends.")
          .meta(ours('a common lockout period (15 minutes)')),
        addresses: z
          .number()
          .int()
          .positive()
          .default(10_000)
          .describe('Client addresses remembered at most (the least recently seen forgotten first), so memory stays bounded.')
          .meta(ours('well under a megabyte of memory')),
      })
      .prefault({})
      .describe("Failed logins per client address (behind a proxy every client shares the proxy's address)."),
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
