import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ConfigError, HOST_SETTINGS, SETTING_NAMES, loadConfig, maskedConfig } from './config';

describe('config', () => {
  it('defaults: embedded local mode on loopback', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ NIMBUS_MODE: 'local', NIMBUS_SMTP_HOST: '127.0.0.1', NIMBUS_SMTP_PORT: 2525, NIMBUS_HTTP_PORT: 3000, NIMBUS_DATA_DIR: './data', NIMBUS_MAX_MESSAGE_BYTES: 26214400 });
  });

  it('a bad value is named, with every other bad value', () => {
    try {
      loadConfig({ NIMBUS_SMTP_PORT: 'seventy', NIMBUS_JWT_SECRET: 'short', NIMBUS_LOG_LEVEL: 'loud' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const names = (err as ConfigError).problems.map((p) => p.variable).sort();
      expect(names).toEqual(['NIMBUS_JWT_SECRET', 'NIMBUS_LOG_LEVEL', 'NIMBUS_SMTP_PORT']);
      expect((err as Error).message).not.toContain('short'); // the secret's value is not echoed
    }
  });

  it('a bad value says what was typed and what is expected (secrets are not repeated)', () => {
    const problems = (env: Record<string, string>) => {
      try {
        loadConfig(env);
        return [];
      } catch (err) {
        return (err as ConfigError).problems;
      }
    };
    expect(problems({ NIMBUS_SMTP_PORT: 'abc' })).toEqual([{ variable: 'NIMBUS_SMTP_PORT', problem: '"abc" is not valid; expected a number' }]);
    expect(problems({ NIMBUS_SMTP_PORT: '70000' })).toEqual([{ variable: 'NIMBUS_SMTP_PORT', problem: '"70000" is not valid; expected a number of at most 65535' }]);
    expect(problems({ NIMBUS_LOG_LEVEL: 'loud' })[0].problem).toBe('"loud" is not valid; expected one of "fatal", "error", "warn", "info", "debug", "trace", "silent"');
    expect(problems({ NIMBUS_TRUSTED_NETWORKS: '10.0.0.0/8, my-office' })[0].problem).toContain('a comma-separated list of IP addresses or CIDR ranges');
    expect(problems({ NIMBUS_JWT_SECRET: 'short-secret' })).toEqual([{ variable: 'NIMBUS_JWT_SECRET', problem: 'the value given is not valid; expected at least 32 characters' }]);
    expect(problems({ NIMBUS_MODE: 'azure' }).map((p) => p.variable)).toContain('NIMBUS_SETUP_TOKEN');
  });

  it('address lists: CIDR ranges and addresses; "none" for an empty list; azurite\'s UseDevelopmentStorage=true is a blob connection string', () => {
    expect(loadConfig({}).NIMBUS_TRUSTED_NETWORKS).toEqual(['127.0.0.0/8', '::1/128']);
    expect(loadConfig({ NIMBUS_TRUSTED_NETWORKS: 'none' }).NIMBUS_TRUSTED_NETWORKS).toEqual([]);
    expect(loadConfig({ NIMBUS_TRUSTED_PROXIES: '10.0.0.1, fd00::/8' }).NIMBUS_TRUSTED_PROXIES).toEqual(['10.0.0.1', 'fd00::/8']);
    expect(loadConfig({ NIMBUS_BLOB_CONNECTION_STRING: 'UseDevelopmentStorage=true' }).NIMBUS_BLOB_CONNECTION_STRING).toBe('UseDevelopmentStorage=true');
  });

  it('the orphan sweeper: 24 h grace, hourly, removing; a grace under an hour, a negative interval or a dry run that is no yes/no are named', () => {
    expect(loadConfig({})).toMatchObject({ NIMBUS_ORPHAN_GRACE_HOURS: 24, NIMBUS_SWEEP_INTERVAL_MINUTES: 60, NIMBUS_SWEEP_DRY_RUN: false });
    expect(loadConfig({ NIMBUS_ORPHAN_GRACE_HOURS: '1.5', NIMBUS_SWEEP_INTERVAL_MINUTES: '0', NIMBUS_SWEEP_DRY_RUN: 'true' })).toMatchObject({ NIMBUS_ORPHAN_GRACE_HOURS: 1.5, NIMBUS_SWEEP_INTERVAL_MINUTES: 0, NIMBUS_SWEEP_DRY_RUN: true });
    try {
      loadConfig({ NIMBUS_ORPHAN_GRACE_HOURS: '0.5', NIMBUS_SWEEP_INTERVAL_MINUTES: '-5', NIMBUS_SWEEP_DRY_RUN: 'maybe' });
      expect.unreachable();
    } catch (err) {
      expect((err as ConfigError).problems.map((p) => p.variable).sort()).toEqual(['NIMBUS_ORPHAN_GRACE_HOURS', 'NIMBUS_SWEEP_DRY_RUN', 'NIMBUS_SWEEP_INTERVAL_MINUTES']);
    }
  });

  it('local.settings.example.json lists exactly the variables the config reads', () => {
    const example = JSON.parse(readFileSync(resolve(__dirname, '..', 'local.settings.example.json'), 'utf8')).Values as Record<string, string>;
    const names = Object.keys(example).filter((k) => !HOST_SETTINGS.includes(k)).sort();
    expect(names).toEqual([...SETTING_NAMES].sort());
    expect(() => loadConfig(example)).not.toThrow();
  });

  describe('azure mode: each service by key or by managed identity, one complete form', () => {
    const base = { NIMBUS_MODE: 'azure', NIMBUS_JWT_SECRET: 'x'.repeat(40), NIMBUS_SETUP_TOKEN: 's'.repeat(20) };
    const keys = { NIMBUS_COSMOS_ENDPOINT: 'https://acct.documents.azure.com:443/', NIMBUS_COSMOS_KEY: 'a2V5', NIMBUS_BLOB_CONNECTION_STRING: 'AccountName=a;AccountKey=a2V5', NIMBUS_SERVICEBUS_CONNECTION: 'Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=n;SharedAccessKey=k' };
    const identity = {
      NIMBUS_COSMOS_ENDPOINT: 'https://acct.documents.azure.com:443/',
      NIMBUS_BLOB_ACCOUNT_URL: 'https://acct.blob.core.windows.net',
      NIMBUS_SERVICEBUS_CONNECTION__fullyQualifiedNamespace: 'ns.servicebus.windows.net',
      NIMBUS_SERVICEBUS_CONNECTION__credential: 'managedidentity',
      NIMBUS_SERVICEBUS_CONNECTION__clientId: '6b1f3c0e-2f4d-4e7a-9c1b-0a5d8e2f7c34',
      AZURE_CLIENT_ID: '6B1F3C0E-2F4D-4E7A-9C1B-0A5D8E2F7C34',
    };
    const problems = (env: Record<string, string>) => {
      try {
        loadConfig(env);
        return [];
      } catch (err) {
        return (err as ConfigError).problems.map((p) => `${p.variable}: ${p.problem}`);
      }
    };

    it('the key form and the identity form each stand alone', () => {
      expect(problems({ ...base, ...keys })).toEqual([]);
      expect(problems({ ...base, ...identity })).toEqual([]);
      const { NIMBUS_SERVICEBUS_CONNECTION__credential: _c, NIMBUS_SERVICEBUS_CONNECTION__clientId: _i, AZURE_CLIENT_ID: _a, ...systemAssigned } = identity;
      expect(problems({ ...base, ...systemAssigned })).toEqual([]); // system-assigned identity or `az login`
    });

    it('with neither form, each service is named', () => {
      const found = problems(base);
      expect(found).toHaveLength(3);
      expect(found[0]).toMatch(/^NIMBUS_COSMOS_ENDPOINT: required when NIMBUS_MODE=azure/);
      expect(found[1]).toMatch(/^NIMBUS_BLOB_CONNECTION_STRING: required when NIMBUS_MODE=azure \(or NIMBUS_BLOB_ACCOUNT_URL/);
      expect(found[2]).toMatch(/^NIMBUS_SERVICEBUS_CONNECTION: required when NIMBUS_MODE=azure \(or NIMBUS_SERVICEBUS_CONNECTION__fullyQualifiedNamespace/);
    });

    it('both forms at once, or half of one, is refused naming the setting', () => {
      expect(problems({ ...base, ...identity, NIMBUS_BLOB_CONNECTION_STRING: keys.NIMBUS_BLOB_CONNECTION_STRING })).toEqual(['NIMBUS_BLOB_ACCOUNT_URL: set either NIMBUS_BLOB_CONNECTION_STRING or NIMBUS_BLOB_ACCOUNT_URL, not both']);
      expect(problems({ ...base, ...identity, NIMBUS_SERVICEBUS_CONNECTION: keys.NIMBUS_SERVICEBUS_CONNECTION })[0]).toMatch(/^NIMBUS_SERVICEBUS_CONNECTION__fullyQualifiedNamespace: set either/);
      const { NIMBUS_SERVICEBUS_CONNECTION__fullyQualifiedNamespace: _n, ...noNamespace } = identity;
      expect(problems({ ...base, ...noNamespace, NIMBUS_SERVICEBUS_CONNECTION: keys.NIMBUS_SERVICEBUS_CONNECTION })).toEqual([expect.stringMatching(/^NIMBUS_SERVICEBUS_CONNECTION__fullyQualifiedNamespace: required with NIMBUS_SERVICEBUS_CONNECTION__credential/)]);
      const { NIMBUS_SERVICEBUS_CONNECTION__credential: _c, ...noCredential } = identity;
      expect(problems({ ...base, ...noCredential })).toEqual([expect.stringMatching(/^NIMBUS_SERVICEBUS_CONNECTION__credential: must be 'managedidentity'/)]);
      expect(problems({ ...base, ...identity, AZURE_CLIENT_ID: '00000000-0000-0000-0000-000000000001' })).toEqual([expect.stringMatching(/^NIMBUS_SERVICEBUS_CONNECTION__clientId: differs from AZURE_CLIENT_ID/)]);
    });

    it('bad identity values are named: a token never goes over plain HTTP, a namespace is a host name, a client id a GUID', () => {
      expect(problems({ ...base, ...identity, NIMBUS_BLOB_ACCOUNT_URL: 'http://acct.blob.core.windows.net' })).toEqual([expect.stringMatching(/^NIMBUS_BLOB_ACCOUNT_URL: "http:\/\/acct.blob.core.windows.net" is not valid; expected an https URL/)]);
      expect(problems({ ...base, ...identity, NIMBUS_SERVICEBUS_CONNECTION__fullyQualifiedNamespace: 'sb://ns.servicebus.windows.net/' })).toEqual([expect.stringMatching(/^NIMBUS_SERVICEBUS_CONNECTION__fullyQualifiedNamespace: "sb:\/\/ns.servicebus.windows.net\/" is not valid; expected a host name/)]);
      expect(problems({ ...base, ...identity, AZURE_CLIENT_ID: 'my-identity' })[0]).toMatch(/^AZURE_CLIENT_ID: "my-identity" is not valid; expected a client id/);
      expect(problems({ ...base, ...identity, NIMBUS_SERVICEBUS_CONNECTION__credential: 'connectionstring' })[0]).toMatch(/^NIMBUS_SERVICEBUS_CONNECTION__credential: /);
    });

    it('local mode ignores the Azure settings (half-configured or not)', () => {
      expect(problems({ NIMBUS_BLOB_ACCOUNT_URL: 'https://acct.blob.core.windows.net', NIMBUS_SERVICEBUS_CONNECTION__credential: 'managedidentity' })).toEqual([]);
    });
  });

  it('secrets are masked when printed', () => {
    const masked = maskedConfig(loadConfig({ NIMBUS_JWT_SECRET: 'x'.repeat(40) }));
    expect(masked.NIMBUS_JWT_SECRET).toBe('********');
    expect(JSON.stringify(masked)).not.toContain('x'.repeat(40));
  });

  it('npm run config prints every setting, the computed ones with where they come from, and no secret', async () => {
    const printer = resolve(__dirname, '..', 'dist', 'local', 'print-config.js');
    const { stdout } = await promisify(execFile)(process.execPath, [printer], { env: { ...process.env, NIMBUS_DATA_DIR: '/nonexistent/cfg', NIMBUS_SETUP_TOKEN: 'a-setup-token-nobody-sees' } });
    const printed = JSON.parse(stdout) as Record<string, unknown>;
    expect(Object.keys(printed).sort()).toEqual([...SETTING_NAMES].sort());
    expect(printed.NIMBUS_HOSTNAME).toMatch(/host name/);
    expect(printed.NIMBUS_JWT_SECRET).toBe('******** (kept in /nonexistent/cfg/jwt-secret, made on first start)');
    expect(printed.NIMBUS_COSMOS_ENDPOINT).toBe('(unset)');
    expect(stdout).not.toContain('a-setup-token-nobody-sees');
  });

  it('the server refuses to start on a bad variable, naming it (exit 2)', async () => {
    // runs the built entry point (npm test builds first)
    const main = resolve(__dirname, '..', 'dist', 'local', 'main.js');
    const err = await promisify(execFile)(process.execPath, [main], { env: { ...process.env, NIMBUS_HTTP_PORT: '99999', NIMBUS_DATA_DIR: '/nonexistent/never-created' } }).then(
      () => null,
      (e: { code: number; stderr: string }) => e,
    );
    expect(err).toMatchObject({ code: 2 });
    expect(err!.stderr).toContain('NIMBUS_HTTP_PORT');
  });

  it('npm start refuses NIMBUS_MODE=azure, saying where the Azure shape runs (exit 2)', async () => {
    const main = resolve(__dirname, '..', 'dist', 'local', 'main.js');
    const err = await promisify(execFile)(process.execPath, [main], { env: { ...process.env, NIMBUS_MODE: 'azure', NIMBUS_COSMOS_ENDPOINT: 'http://127.0.0.1:9', NIMBUS_COSMOS_KEY: 'k', NIMBUS_BLOB_CONNECTION_STRING: 'AccountName=a', NIMBUS_SERVICEBUS_CONNECTION: 'Endpoint=sb://x/', NIMBUS_JWT_SECRET: 'x'.repeat(40), NIMBUS_SETUP_TOKEN: 's'.repeat(20), NIMBUS_DATA_DIR: '/nonexistent/never-created' } }).then(
      () => null,
      (e: { code: number; stderr: string }) => e,
    );
    expect(err).toMatchObject({ code: 2 });
    expect(err!.stderr).toContain('NIMBUS_MODE');
    expect(err!.stderr).toContain('func start');
  });
});
