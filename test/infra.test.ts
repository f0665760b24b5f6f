import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { COSMOS_CONTAINERS } from '../adapters/azure/cosmos-containers';
import { HOST_SETTINGS, SECRET_SETTINGS, SETTING_NAMES, loadConfig } from '../core/config';
import { INBOUND_TRIGGER } from '../functions/inbound-trigger';
import { isExpr, readModules, readOutputs, readParams, readResources, readVar, readVarNames, stripComments, type BicepValue } from './bicep-text';

/**
 * infra/ read as text (the Bicep CLI cannot be installed here; README says how to
 * run `az bicep build` and `az bicep lint`): the settings on the Function App and
 * the edge container agree with core/config.ts both ways, the Cosmos containers are
 * the adapter's, and the checks the linter would make that text can make (every
 * parameter described, used, given by its callers; typed outputs; secure secrets).
 */
const root = resolve(__dirname, '..');
const infra = join(root, 'infra');
const read = (file: string) => readFileSync(join(infra, file), 'utf8');

function bicepFiles(dir = infra): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? bicepFiles(join(dir, e.name)) : e.name.endsWith('.bicep') ? [relative(infra, join(dir, e.name))] : []));
}

/** A valid value for each setting the templates may set, to run the real config schema over their names. */
function sampleValues(): Record<string, string> {
  const example = JSON.parse(readFileSync(join(root, 'local.settings.example.json'), 'utf8')).Values as Record<string, string>;
  const samples: Record<string, string> = Object.fromEntries(Object.entries(example).filter(([, v]) => v !== ''));
  // the identity forms (empty in the example, which shows the key forms)
  Object.assign(samples, {
    NIMBUS_BLOB_ACCOUNT_URL: 'https://nimbusmail.blob.core.windows.net/',
    NIMBUS_SERVICEBUS_CONNECTION__fullyQualifiedNamespace: 'nimbus-mail.servicebus.windows.net',
    NIMBUS_SERVICEBUS_CONNECTION__credential: 'managedidentity',
    NIMBUS_SERVICEBUS_CONNECTION__clientId: '6b1f3c0e-2f4d-4e7a-9c1b-0a5d8e2f7c34',
    AZURE_CLIENT_ID: '6b1f3c0e-2f4d-4e7a-9c1b-0a5d8e2f7c34',
  });
  return samples;
}

/** Runs the config schema on the names an app gets, each with a valid value: a required setting the template lacks is named. */
function configProblems(names: string[], fixed: Record<string, string> = {}): string[] {
  const samples = sampleValues();
  const env: Record<string, string> = { ...fixed };
  for (const name of names) {
    if (!(name in samples)) return [`${name}: no sample value (give it one in local.settings.example.json)`];
    env[name] = samples[name];
  }
  try {
    loadConfig({ ...env, NIMBUS_MODE: 'azure' });
    return [];
  } catch (err) {
    return (err as { problems: Array<{ variable: string; problem: string }> }).problems.map((p) => `${p.variable}: ${p.problem}`);
  }
}

function functionAppSettings(): Record<string, BicepValue> {
  const configs = readResources(read('app/api.bicep'), 'Microsoft.Web/sites/config').filter((r) => r.body.name === 'appsettings');
  expect(configs).toHaveLength(1);
  const props = configs[0].body.properties;
  if (typeof props !== 'object' || props === null || Array.isArray(props) || isExpr(props)) throw new Error('appsettings properties are not an object literal');
  return props as Record<string, BicepValue>;
}

function edgeEnv(): Array<{ name: string; value?: BicepValue; secretRef?: string }> {
  const apps = readResources(read('app/edge.bicep'), 'Microsoft.App/containerApps').filter((r) => !r.body.parent);
  expect(apps).toHaveLength(1);
  const containers = ((apps[0].body.properties as Record<string, BicepValue>).template as Record<string, BicepValue>).containers as Array<Record<string, BicepValue>>;
  expect(containers).toHaveLength(1);
  return containers[0].env as Array<{ name: string; value?: BicepValue; secretRef?: string }>;
}

function dockerfileEnv(): Record<string, string> {
  const line = readFileSync(join(root, 'smtp-edge', 'Dockerfile'), 'utf8').split('\n').filter((l) => l.startsWith('ENV '));
  expect(line.length).toBeGreaterThan(0);
  return Object.fromEntries(line.flatMap((l) => l.slice(4).trim().split(/\s+/).map((kv) => kv.split('=') as [string, string])));
}

describe('infra/: app settings and the config schema cannot drift', () => {
  it('the Function App sets only settings the schema or the Functions host knows, and every setting azure mode requires', () => {
    const settings = functionAppSettings();
    const names = Object.keys(settings);
    expect(names.length).toBeGreaterThan(10);
    const known = new Set<string>([...SETTING_NAMES, ...HOST_SETTINGS]);
    expect(names.filter((n) => !known.has(n))).toEqual([]);
    expect(configProblems(names.filter((n) => !HOST_SETTINGS.includes(n)))).toEqual([]);
    // the host's storage and the queue trigger sign in with the identity too
    for (const host of ['AzureWebJobsStorage__credential', 'AzureWebJobsStorage__clientId', 'AzureWebJobsStorage__blobServiceUri', 'AzureWebJobsStorage__queueServiceUri', 'AzureWebJobsStorage__tableServiceUri']) expect(names).toContain(host);
    for (const suffix of ['fullyQualifiedNamespace', 'credential', 'clientId']) expect(names).toContain(`${INBOUND_TRIGGER.connection}__${suffix}`);
    expect(settings[`${INBOUND_TRIGGER.connection}__credential`]).toBe('managedidentity');
    expect(names).toContain('AZURE_CLIENT_ID');
  });

  it('the edge container sets only settings the schema knows, and with the Dockerfile\'s every one azure mode requires', () => {
    const env = edgeEnv();
    const names = env.map((e) => e.name);
    expect(names.length).toBeGreaterThan(5);
    expect(new Set(names).size).toBe(names.length);
    expect(names.filter((n) => !(SETTING_NAMES as string[]).includes(n))).toEqual([]);
    const docker = dockerfileEnv();
    expect(Object.keys(docker).filter((n) => n !== 'NODE_ENV' && !(SETTING_NAMES as string[]).includes(n))).toEqual([]);
    expect(configProblems(names, docker)).toEqual([]);
    expect(names).toContain('AZURE_CLIENT_ID');
  });

  it('the schema would notice a missing setting (the check above is not vacuous)', () => {
    const names = Object.keys(functionAppSettings()).filter((n) => !HOST_SETTINGS.includes(n) && n !== 'NIMBUS_COSMOS_ENDPOINT');
    expect(configProblems(names)).toEqual([expect.stringMatching(/^NIMBUS_COSMOS_ENDPOINT: required/)]);
  });

  it('no secret in the templates: keys and connection strings are never set, the JWT key and setup code are Key Vault references', () => {
    const settings = functionAppSettings();
    const env = edgeEnv();
    const fromKeyVault = ['NIMBUS_JWT_SECRET', 'NIMBUS_SETUP_TOKEN'];
    for (const secret of SECRET_SETTINGS.filter((s) => !fromKeyVault.includes(s) && s !== 'NIMBUS_SENDGRID_API_KEY')) {
      expect(Object.keys(settings)).not.toContain(secret);
      expect(env.map((e) => e.name)).not.toContain(secret);
    }
    for (const name of fromKeyVault) {
      const value = settings[name];
      expect(isExpr(value) && value.expr).toMatch(/^'@Microsoft\.KeyVault\(SecretUri=\$\{\w+\}\)'$/);
    }
    // the SendGrid key (sending): a Key Vault reference when one was provisioned, else empty (transport none)
    const sendGrid = settings.NIMBUS_SENDGRID_API_KEY;
    expect(isExpr(sendGrid) && sendGrid.expr).toBe("empty(sendGridKeyUri) ? '' : '@Microsoft.KeyVault(SecretUri=${sendGridKeyUri})'");
    expect(env.map((e) => e.name)).not.toContain('NIMBUS_SENDGRID_API_KEY');
    expect(env.find((e) => e.name === 'NIMBUS_JWT_SECRET')).toEqual({ name: 'NIMBUS_JWT_SECRET', secretRef: 'jwt-secret' });
    expect(env.find((e) => e.name === 'NIMBUS_SETUP_TOKEN')).toEqual({ name: 'NIMBUS_SETUP_TOKEN', secretRef: 'setup-token' });
    const secrets = readResources(read('app/edge.bicep'), 'Microsoft.App/containerApps')[0].body.properties as Record<string, Record<string, BicepValue>>;
    expect(secrets.configuration.secrets).toEqual([
      { name: 'jwt-secret', keyVaultUrl: { expr: 'jwtKeyUri' }, identity: { expr: 'identityId' } },
      { name: 'setup-token', keyVaultUrl: { expr: 'setupTokenUri' }, identity: { expr: 'identityId' } },
    ]);
  });
});

describe('infra/: Cosmos DB containers are the adapter\'s', () => {
  it('containers, partition keys and indexing policies in app/cosmos.bicep equal adapters/azure/cosmos-containers.ts', () => {
    const containers = readVar(read('app/cosmos.bicep'), 'containers');
    expect(Array.isArray(containers) && containers.length).toBe(COSMOS_CONTAINERS.length);
    expect(COSMOS_CONTAINERS.length).toBeGreaterThan(1);
    expect(containers).toEqual(JSON.parse(JSON.stringify(COSMOS_CONTAINERS)));
    // and the deployment loops over that very variable
    expect(stripComments(read('app/cosmos.bicep'))).toMatch(/for container in containers:/);
  });

  it('the comparison notices a difference (a changed path)', () => {
    const changed = read('app/cosmos.bicep').replace("'/userId'", "'/user'");
    expect(readVar(changed, 'containers')).not.toEqual(JSON.parse(JSON.stringify(COSMOS_CONTAINERS)));
  });

  it('both identities may write Cosmos DB data: the edge files submissions\' Sent copies and counts the hourly send limit', () => {
    const text = read('app/roles.bicep');
    const contributor = readVar(text, 'cosmosDataContributor');
    expect(contributor).toBe('00000000-0000-0000-0000-000000000002'); // Cosmos DB Built-in Data Contributor
    const assignments = readResources(text, 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments');
    for (const symbol of ['apiCosmosRole', 'edgeCosmosRole']) {
      const role = assignments.find((r) => r.symbol === symbol);
      expect(JSON.stringify(role?.body.properties), symbol).toContain('cosmosDataContributor');
    }
  });
});

describe('infra/: what az bicep build and lint would check, as far as text can', () => {
  const files = bicepFiles();

  it('finds the templates', () => {
    expect(files).toContain('main.bicep');
    expect(files.length).toBeGreaterThan(10);
  });

  it('every parameter has @description, is used, and a secret-looking one is @secure()', () => {
    let count = 0;
    for (const file of files) {
      const text = stripComments(read(file));
      for (const p of readParams(read(file))) {
        count++;
        expect(p.decorators.some((d) => d.startsWith('@description(')), `${file}: param ${p.name} has no @description`).toBe(true);
        const uses = text.match(new RegExp(`\\b${p.name}\\b`, 'g')) ?? [];
        expect(uses.length, `${file}: param ${p.name} is never used`).toBeGreaterThan(1);
        if (/secret|password|apikey/i.test(p.name) && p.type === 'string') expect(p.decorators, `${file}: ${p.name}`).toContain('@secure()');
      }
      for (const v of readVarNames(read(file))) {
        expect((text.match(new RegExp(`\\b${v}\\b`, 'g')) ?? []).length, `${file}: var ${v} is never used`).toBeGreaterThan(1);
      }
    }
    expect(count).toBeGreaterThan(50);
  });

  it('every output has a type, is declared once, and none is named like a secret', () => {
    for (const file of files) {
      const names = readOutputs(read(file)).map((o) => o.name);
      expect(names.filter((n, i) => names.indexOf(n) !== i), `${file}: outputs declared twice (Bicep refuses that)`).toEqual([]);
      for (const o of readOutputs(read(file))) {
        expect(['string', 'int', 'bool', 'object', 'array', 'string[]'], `${file}: output ${o.name}`).toContain(o.type);
        expect(o.name, `${file}`).not.toMatch(/secret|password/i);
      }
    }
  });

  it('each module call gives every required parameter of its file and none it lacks; every template is used', () => {
    const used = new Set<string>(['main.bicep']);
    for (const file of files) {
      for (const mod of readModules(read(file))) {
        const target = relative(infra, join(infra, dirname(file), mod.path));
        expect(existsSync(join(infra, target)), `${file}: module ${mod.symbol} → ${mod.path}`).toBe(true);
        used.add(target);
        const declared = readParams(read(target));
        const given = Object.keys(mod.params);
        expect(given.filter((g) => !declared.some((p) => p.name === g)), `${file}: module ${mod.symbol} gives unknown params`).toEqual([]);
        expect(declared.filter((p) => !p.hasDefault && !given.includes(p.name)).map((p) => p.name), `${file}: module ${mod.symbol} misses params`).toEqual([]);
        // outputs it reads exist
        const outputs = readOutputs(read(target)).map((o) => o.name);
        for (const m of stripComments(read(file)).matchAll(new RegExp(`\\b${mod.symbol}\\.outputs\\.(\\w+)`, 'g'))) expect(outputs, `${file}: ${mod.symbol}.outputs.${m[1]}`).toContain(m[1]);
      }
    }
    expect([...files].sort()).toEqual([...used].sort());
  });

  it('main.parameters.json gives main.bicep\'s required parameters, and only parameters it has', () => {
    const params = readParams(read('main.bicep'));
    const given = Object.keys(JSON.parse(read('main.parameters.json')).parameters);
    expect(given.filter((g) => !params.some((p) => p.name === g))).toEqual([]);
    expect(params.filter((p) => !p.hasDefault && !given.includes(p.name)).map((p) => p.name)).toEqual([]);
  });

  it('resource API versions are GA and recent (2022 or later; Application Insights components have had none since 2020-02-02), and the azd services are tagged', () => {
    let count = 0;
    for (const file of files) {
      for (const m of stripComments(read(file)).matchAll(/^resource \w+ '([^'@]+)@(\d{4})-\d\d-\d\d(-preview)?'/gm)) {
        count++;
        if (m[1] !== 'Microsoft.Insights/components') expect(Number(m[2]), `${file}: ${m[1]}@${m[2]}`).toBeGreaterThanOrEqual(2022);
        expect(m[3], `${file}: ${m[1]} preview API`).toBeUndefined();
      }
    }
    expect(count).toBeGreaterThan(20);
    for (const [file, service] of [['app/api.bicep', 'api'], ['app/edge.bicep', 'smtp-edge'], ['app/webmail.bicep', 'webmail']]) {
      expect(read(file), file).toContain(`'azd-service-name': '${service}'`);
    }
    const azureYaml = readFileSync(join(root, 'azure.yaml'), 'utf8');
    for (const service of ['api:', 'smtp-edge:', 'webmail:']) expect(azureYaml).toContain(`\n  ${service}\n`);
  });
});
