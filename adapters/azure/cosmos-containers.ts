import { PartitionKeyDefinitionVersion, PartitionKeyKind, type ContainerRequest, type IndexingPolicy } from '@azure/cosmos';

/** One Cosmos DB container as the Cosmos adapter needs it. */
export interface CosmosContainerDefinition {
  id: string;
  /** Hash partitioning on one path, large partition keys (version 2), as the SDK and Bicep both spell it. */
  partitionKey: { paths: string[]; kind: 'Hash'; version: 2 };
  /** Absent: the service's default policy (everything indexed, consistent). */
  indexingPolicy?: IndexingPolicy;
}

/**
 * The containers of the Nimbus database: the one definition that the Cosmos adapter
 * creates on an emulator (key auth) and that infra/app/cosmos.bicep deploys in Azure
 * (test/infra.test.ts compares the two, so they cannot drift).
 *
 * - `directory`, partition `/id`: domains, addresses and users, read by point reads.
 * - `mail`, partition `/userId`: a user's folders, folder-name claims and messages.
 *   The composite indexes serve the list orders (keyset pages newest first); summary,
 *   auth results, draft fields and a sent copy's delivery states are only read back, so they are not indexed.
 */
export const COSMOS_CONTAINERS: ReadonlyArray<CosmosContainerDefinition> = [
  { id: 'directory', partitionKey: { paths: ['/id'], kind: 'Hash', version: 2 } },
  {
    id: 'mail',
    partitionKey: { paths: ['/userId'], kind: 'Hash', version: 2 },
    indexingPolicy: {
      indexingMode: 'consistent',
      automatic: true,
      includedPaths: [{ path: '/*' }],
      excludedPaths: [{ path: '/summary/*' }, { path: '/auth/*' }, { path: '/draft/*' }, { path: '/delivery/*' }, { path: '/"_etag"/?' }],
      compositeIndexes: [
        [
          { path: '/mailboxId', order: 'ascending' },
          { path: '/receivedAt', order: 'descending' },
          { path: '/id', order: 'descending' },
        ],
        [
          { path: '/receivedAt', order: 'descending' },
          { path: '/id', order: 'descending' },
        ],
      ],
    },
  },
];

/** A definition as the SDK's create request. */
export function containerRequest(def: CosmosContainerDefinition): ContainerRequest {
  return {
    id: def.id,
    partitionKey: { paths: def.partitionKey.paths, kind: PartitionKeyKind.Hash, version: PartitionKeyDefinitionVersion.V2 },
    ...(def.indexingPolicy ? { indexingPolicy: def.indexingPolicy } : {}),
  };
}
