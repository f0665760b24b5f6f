import { spawn, type ChildProcess, execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jwtAudience, startAzurite, startCosmosEmulator, startFakeServiceBus, startIdentityEndpoint, type IdentityEndpoint, type LoopbackTls } from '../adapters/azure/emulators';
import { waitFor } from './helpers';

/**
 * The managed-identity path, end to end, as it runs in Azure: the built SMTP edge
 * (dist/smtp-edge/main.js) is started as a process with the identity form of every
 * connection (an endpoint, no key) and a user-assigned identity's client id. Its
 * DefaultAzureCredential finds the managed identity endpoint that Container Apps and
 * Functions provide (IDENTITY_ENDPOINT/IDENTITY_HEADER), here a loopback stand-in,
 * and the adapters present the tokens to the emulators, served over TLS (the SDKs
 * send tokens only over TLS; the process trusts the test CA through
 * NODE_EXTRA_CA_CERTS). Azurite checks each bearer token's audience and refuses a
 * token meant for another service; the Service Bus stand-in records the put-token;
 * the Cosmos emulator records the Authorization header.
 */
const root = resolve(__dirname, '..');
const fixtures = resolve(__dirname, 'fixtures', 'tls');
const tls: LoopbackTls = {
  key: readFileSync(resolve(fixtures, 'key.pem'), 'utf8'),
  cert: readFileSync(resolve(fixtures, 'cert.pem'), 'utf8'),
  keyFile: resolve(fixtures, 'key.pem'),
  certFile: resolve(fixtures, 'cert.pem'),
};
const CA_FILE = resolve(fixtures, 'ca.pem');
const CLIENT_ID = '6b1f3c0e-2f4d-4e7a-9c1b-0a5d8e2f7c34';
const DATABASE = 'nimbus-identity';

describe('managed identity (DefaultAzureCredential, no keys)', () => {
  let cosmos: Awaited<ReturnType<typeof startCosmosEmulator>>;
  let azurite: Awaited<ReturnType<typeof startAzurite>>;
  let bus: Awaited<ReturnType<typeof startFakeServiceBus>>;
  let identity: IdentityEndpoint;
  let edge: ChildProcess | undefined;

  beforeAll(async () => {
    [cosmos, azurite, bus, identity] = await Promise.all([startCosmosEmulator({ tls }), startAzurite({ tls }), startFakeServiceBus({ tls }), startIdentityEndpoint()]);
    // what `azd provision` does before the app runs: the database and its containers exist
    // (from the adapter's one definition), and a domain with a user, made here with the key
    const seed = `
      const { CosmosMailStore } = require(${JSON.stringify(resolve(root, 'dist/adapters/azure/cosmos-mail-store.js'))});
      const store = new CosmosMailStore({ endpoint: process.env.ENDPOINT, key: process.env.KEY, database: ${JSON.stringify(DATABASE)} });
      store.setup({ domain: 'example.test', email: 'alice@example.test', name: 'Alice', passwordHash: 'not-a-real-hash' })
        .then(() => store.close()).then(() => console.log('seeded'));`;
    const seeded = await promisify(execFile)(process.execPath, ['-e', seed], { env: { PATH: process.env.PATH ?? '', NODE_EXTRA_CA_CERTS: CA_FILE, ENDPOINT: cosmos.endpoint, KEY: cosmos.key }, timeout: 30_000 });
    expect(seeded.stdout).toContain('seeded');
  }, 90_000);

  afterAll(async () => {
    if (edge && edge.exitCode === null) {
      const exited = new Promise((r) => edge!.once('exit', r));
      edge.kill('SIGTERM');
      await exited;
    }
    await Promise.all([cosmos?.stop(), azurite?.stop(), bus?.stop(), identity?.stop()]);
  });

  it('the edge container signs in to Cosmos DB, Blob Storage and Service Bus with its user-assigned identity: each asked for its own audience', async () => {
    const keyRequests = cosmos.authorizations.length; // the seeding above used the key
    edge = spawn(process.execPath, [resolve(root, 'dist/smtp-edge/main.js')], {
      env: {
        PATH: process.env.PATH ?? '',
        NODE_EXTRA_CA_CERTS: CA_FILE,
        ...identity.env,
        AZURE_CLIENT_ID: CLIENT_ID,
        NIMBUS_COSMOS_ENDPOINT: cosmos.endpoint,
        NIMBUS_COSMOS_DATABASE: DATABASE,
        NIMBUS_BLOB_ACCOUNT_URL: azurite.blobEndpoint,
        NIMBUS_BLOB_CONTAINER: 'mail',
        NIMBUS_SERVICEBUS_CONNECTION__fullyQualifiedNamespace: bus.namespace,
        NIMBUS_SERVICEBUS_QUEUE: 'inbound',
        NIMBUS_JWT_SECRET: 'test-secret-test-secret-test-secret-0123',
        NIMBUS_SETUP_TOKEN: 'test-setup-token-0123',
        NIMBUS_SMTP_HOST: '127.0.0.1',
        NIMBUS_SMTP_PORT: '0',
        NIMBUS_SUBMISSION_PORT: '0',
        NIMBUS_SUBMISSION_TLS_PORT: '0',
        NIMBUS_HOSTNAME: 'mx.test',
        NIMBUS_LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    edge.stdout!.on('data', (c: Buffer) => (output += c.toString()));
    edge.stderr!.on('data', (c: Buffer) => (output += c.toString()));
    const port = await waitFor(() => {
      if (edge!.exitCode !== null) throw new Error(`the edge exited (${edge!.exitCode}):\n${output}`);
      const line = output.split('\n').find((l) => l.includes('SMTP edge listening'));
      return line ? (JSON.parse(line) as { port: number }).port : undefined;
    }, 20_000);

    const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true });
    const info = await transport.sendMail({ from: 'bob@elsewhere.test', to: 'alice@example.test', subject: 'Signed in by identity', text: 'No key anywhere.' });
    transport.close();
    expect(info.accepted, output).toEqual(['alice@example.test']);

    // the queue message reached the Service Bus stand-in, and it points at a blob that azurite accepted under a bearer token
    const message = await waitFor(() => bus.messages.find((m) => (m.body as { envelope?: { rcptTo?: string[] } }).envelope?.rcptTo?.includes('alice@example.test')));
    expect(message.queue).toBe('inbound');
    expect((message.body as { rawBlobKey: string }).rawBlobKey).toMatch(/\S/);

    // every token came from the managed identity endpoint, for this identity, one audience per service
    const resources = [...new Set(identity.requests.map((r) => r.resource))].sort();
    expect(resources).toEqual([cosmos.endpoint, 'https://servicebus.azure.net/', 'https://storage.azure.com'].sort());
    expect(identity.requests.length).toBeGreaterThan(0);
    for (const r of identity.requests) expect(r.clientId).toBe(CLIENT_ID);

    // Cosmos DB saw only Entra tokens from the edge (type=aad), for the account's own audience
    const edgeAuth = cosmos.authorizations.slice(keyRequests);
    expect(edgeAuth.length).toBeGreaterThan(0);
    for (const header of edgeAuth) {
      expect(header).toMatch(/^type=aad&ver=1\.0&sig=/);
      expect(jwtAudience(header.replace(/^type=aad&ver=1\.0&sig=/, ''))).toBe(cosmos.endpoint);
    }
    // Service Bus: a JWT put-token (never a SAS token) for the Service Bus audience
    expect(bus.tokens.length).toBeGreaterThan(0);
    for (const t of bus.tokens) {
      expect(t.type).toBe('jwt');
      expect(jwtAudience(t.token)).toBe('https://servicebus.azure.net/');
    }
  }, 60_000);
});
