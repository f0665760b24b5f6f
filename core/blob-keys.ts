/**
 * The blob key namespace, in one place: who makes which keys, and so who may refer
 * to them (the orphan sweeper asks only those). A new kind of blob gets its maker
 * and its predicate here.
 * - `raw/<inbound id>.eml`: an inbound message's bytes (the SMTP edge); referred to
 *   by its inbound queue message and by the copies filed from it.
 * - `raw/draft-<id>.eml`: a draft's composed bytes, one blob per save; referred to by the draft.
 * - `att/<id>`: a file uploaded to a draft; referred to by the draft's attachment list.
 * - sending: a message submitted over SMTP is stored under the inbound form; one sent
 *   through the API is `raw/out-<id>.eml`; a delivery report is `raw/bounce-<attempt id>.eml`.
 *   Referred to by the Sent copy (or the report in the Inbox), by the inbound queue
 *   message of its hosted recipients and by the outbound queue messages still waiting.
 */
export const blobKeys = {
  inbound: (inboundId: string) => `raw/${inboundId}.eml`,
  draft: (id: string) => `raw/draft-${id}.eml`,
  draftFile: (id: string) => `att/${id}`,
  outbound: (id: string) => `raw/out-${id}.eml`,
  bounce: (attemptId: string) => `raw/bounce-${attemptId}.eml`,
};

export function isInboundKey(key: string): boolean {
  return key.startsWith('raw/') && !key.startsWith('raw/draft-');
}

export function isDraftFileKey(key: string): boolean {
  return key.startsWith('att/');
}
