// Cosmos DB (NoSQL API): the account, the database and its containers. The containers are exactly
// those of adapters/azure/cosmos-containers.ts (test/infra.test.ts compares them): with a managed
// identity the app cannot create containers, so they are made here. Keys are off (disableLocalAuth):
// the apps sign in with their identities (data-plane roles in roles.bicep).
@description('Name of the account (3-44 lower-case letters, digits and hyphens).')
@minLength(3)
@maxLength(44)
param accountName string

@description('Name of the database (NIMBUS_COSMOS_DATABASE).')
param databaseName string

@description('Region of the account.')
param location string

@description('Tags of the account.')
param tags object

@description('serverless: pay per request. provisioned: throughput RU/s shared by the database.')
@allowed([
  'serverless'
  'provisioned'
])
param capacityMode string

@description('RU/s of the database when provisioned.')
@minValue(400)
@maxValue(100000)
param throughput int

// one source of truth: adapters/azure/cosmos-containers.ts (compared by test/infra.test.ts)
var containers = [
  {
    id: 'directory'
    partitionKey: {
      paths: [
        '/id'
      ]
      kind: 'Hash'
      version: 2
    }
  }
  {
    id: 'mail'
    partitionKey: {
      paths: [
        '/userId'
      ]
      kind: 'Hash'
      version: 2
    }
    indexingPolicy: {
      indexingMode: 'consistent'
      automatic: true
      includedPaths: [
        {
          path: '/*'
        }
      ]
      excludedPaths: [
        {
          path: '/summary/*'
        }
        {
          path: '/auth/*'
        }
        {
          path: '/draft/*'
        }
        {
          path: '/delivery/*'
        }
        {
          path: '/"_etag"/?'
        }
      ]
      compositeIndexes: [
        [
          {
            path: '/mailboxId'
            order: 'ascending'
          }
          {
            path: '/receivedAt'
            order: 'descending'
          }
          {
            path: '/id'
            order: 'descending'
          }
        ]
        [
          {
            path: '/receivedAt'
            order: 'descending'
          }
          {
            path: '/id'
            order: 'descending'
          }
        ]
      ]
    }
  }
]

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {
  name: accountName
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: false
      }
    ]
    capabilities: capacityMode == 'serverless'
      ? [
          {
            name: 'EnableServerless'
          }
        ]
      : []
    disableLocalAuth: true
    minimalTlsVersion: 'Tls12'
    publicNetworkAccess: 'Enabled'
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-11-15' = {
  parent: account
  name: databaseName
  properties: {
    resource: {
      id: databaseName
    }
    options: capacityMode == 'provisioned'
      ? {
          throughput: throughput
        }
      : {}
  }
}

resource sqlContainers 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = [
  for container in containers: {
    parent: database
    name: container.id
    properties: {
      resource: union(
        {
          id: container.id
          partitionKey: container.partitionKey
        },
        container.?indexingPolicy == null ? {} : { indexingPolicy: container.?indexingPolicy }
      )
    }
  }
]

@description('Name of the account.')
output accountName string = account.name

@description('https://<account>.documents.azure.com:443/ (NIMBUS_COSMOS_ENDPOINT).')
output endpoint string = account.properties.documentEndpoint

@description('Names of the containers made.')
output containerNames string[] = [for (container, i) in containers: sqlContainers[i].name]
