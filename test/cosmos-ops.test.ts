import { describe, expect, it } from 'vitest';
import { classifyCosmosRequest } from '../adapters/azure/cosmos-ops';
import { cosmosOperations } from '../bench/cosmos-ops-bench';

/**
 * What the Azure shape asks of Cosmos DB, counted against the emulator (the same run
 * `npm run bench -- --only azure` prints): the real edge, adapters and HTTP handlers;
 * Service Bus is the test AMQP endpoint (it cannot run here) and the queue trigger is
 * called as the Functions host calls it.
 */
describe('Cosmos DB operations per message, login and page', () => {
  it('classifies the REST requests the SDK makes as Cosmos DB bills them', () => {
    const docs = '/dbs/db/colls/mail/docs';
    expect(classifyCosmosRequest('GET', `${docs}/abc`, {})).toEqual({ op: 'read', container: 'mail' });
    expect(classifyCosmosRequest('POST', docs, { 'x-ms-documentdb-isquery': 'True', 'content-type': 'application/query+json' }).op).toBe('query');
    expect(classifyCosmosRequest('POST', docs, { 'x-ms-cosmos-is-query-plan-request': 'True', 'content-type': 'application/query+json' }).op).toBe('queryplan');
    expect(classifyCosmosRequest('POST', docs, { 'content-type': 'application/json' }).op).toBe('create');
    expect(classifyCosmosRequest('POST', docs, { 'x-ms-documentdb-is-upsert': 'True' }).op).toBe('upsert');
    expect(classifyCosmosRequest('POST', docs, { 'x-ms-cosmos-is-batch-request': 'True' }).op).toBe('batch');
    expect(classifyCosmosRequest('PUT', `${docs}/abc`, {}).op).toBe('replace');
    expect(classifyCosmosRequest('PATCH', `${docs}/abc`, {}).op).toBe('patch');
    expect(classifyCosmosRequest('DELETE', `${docs}/abc`, {}).op).toBe('delete');
    expect(classifyCosmosRequest('GET', '/dbs/db/colls/mail/pkranges', {}).op).toBe('metadata');
    expect(classifyCosmosRequest('GET', '/', {}).op).toBe('metadata');
  });

  it('RCPT from the directory cache after the first, at most 4 operations per message per recipient, a first page in one query', async () => {
    const f = await cosmosOperations(() => undefined);
    expect(f.rcptFirst.byKind).toEqual({ 'directory.read': 1 });
    expect(f.rcptCachedPerMessage).toBe(0);
    // the address read, the message, the folder's counters, the counted mark
    expect(f.filingOneRecipient.byKind).toEqual({ 'directory.read': 1, 'mail.create': 1, 'mail.patch': 2 });
    expect(f.filingPerRecipientOfTwo).toBeLessThanOrEqual(4);
    // the token's user (revocation), then the page; an instance new to the user finds the Inbox once first
    expect(f.firstPage.byKind).toEqual({ 'directory.read': 1, 'mail.query': 2 });
    expect(f.firstPageAgain.byKind).toEqual({ 'directory.read': 1, 'mail.query': 1 });
    // the account's login count, shared by every process (core/rate-limit.ts): a place held for the check (a read,
    // then a create: nothing was counted), the address, then the user; the right password ends the hold (a read,
    // then a delete: the count holds nothing now)
    expect(f.login.byKind).toEqual({ 'directory.read': 4, 'directory.create': 1, 'directory.delete': 1 });
    // the hourly send limit, shared by every process: a read to look, a read and a write (the first: create) to count
    expect(f.sendLimitCheck.byKind).toEqual({ 'directory.read': 1 });
    expect(f.sendLimitCount.byKind).toEqual({ 'directory.read': 1, 'directory.create': 1 });
    // an API send to one foreign recipient (not the first): the token's user; the recipient's address (its domain
    // remembered; neither looked up again when queued); the sender's address; the limit's look and count (the domain's
    // DKIM key remembered); the Sent copy and its counters
    expect(f.apiSend.byKind).toEqual({ 'directory.read': 5, 'directory.replace': 1, 'mail.create': 1, 'mail.patch': 2 });
    // a submission on a kept connection to one foreign recipient: the sender's address at MAIL FROM, the limit's look; the
    // recipient's address at RCPT (its domain from the edge's cache; not looked up again when queued); the From address;
    // the limit's count (the DKIM key from the same cache); the Sent copy and its counters
    expect(f.smtpSubmission.byKind).toEqual({ 'directory.read': 5, 'directory.replace': 1, 'mail.create': 1, 'mail.patch': 2 });
  }, 60_000);
});
