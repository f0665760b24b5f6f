// One storage account: the Functions host (AzureWebJobsStorage: blobs, queues and tables, also Durable
// Functions' task hub), the Flex Consumption deployment package, and the mail blobs. Keys are off:
// every client signs in with a managed identity.
@description('Name of the account (3-24 lower-case letters and digits).')
@minLength(3)
@maxLength(24)
param name string

@description('Region of the account.')
param location string

@description('Tags of the account.')
param tags object

@description('Redundancy.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_RAGRS'
])
param sku string

@description('Blob containers to create.')
param containerNames string[]

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: sku
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
  }

  resource blobService 'blobServices' = {
    name: 'default'

    resource containers 'containers' = [
      for containerName in containerNames: {
        name: containerName
        properties: {
          publicAccess: 'None'
        }
      }
    ]
  }
}

@description('Name of the account.')
output name string = account.name

@description('Blob endpoint, https://<account>.blob.core.windows.net/ (NIMBUS_BLOB_ACCOUNT_URL).')
output blobEndpoint string = account.properties.primaryEndpoints.blob

@description('Queue endpoint (the Functions host).')
output queueEndpoint string = account.properties.primaryEndpoints.queue

@description('Table endpoint (the Functions host, Durable Functions).')
output tableEndpoint string = account.properties.primaryEndpoints.table
