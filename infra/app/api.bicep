// The Function App on Flex Consumption (FC1): the HTTP API and the queue triggers, Node 22 (Node 20 is
// past its end of life; the project still builds and tests on 20). It signs in to everything with its
// user-assigned identity: the host's storage (AzureWebJobsStorage__*), the Service Bus trigger
// (NIMBUS_SERVICEBUS_CONNECTION__*), the app's adapters (AZURE_CLIENT_ID), Key Vault references,
// the deployment package and Application Insights.
@description('Name of the Function App.')
param name string

@description('Name of its Flex Consumption plan.')
param planName string

@description('Region of both.')
param location string

@description('Tags (azd-service-name is added).')
param tags object

@description('Resource id of the user-assigned identity.')
param identityId string

@description('Client id of that identity (AZURE_CLIENT_ID).')
param identityClientId string

@description('Storage account of the host state, the deployment package and the mail blobs.')
param storageAccountName string

@description('Blob container that holds the deployment package.')
param deploymentContainerName string

@description('Application Insights component.')
param applicationInsightsName string

@description('Memory of one instance.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int

@description('Most instances at once.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int

@description('Origins allowed to call the API from a browser (the webmail).')
param allowedOrigins string[]

@description('NIMBUS_HOSTNAME.')
param mailHostName string

@description('NIMBUS_COSMOS_ENDPOINT.')
param cosmosEndpoint string

@description('NIMBUS_COSMOS_DATABASE.')
param databaseName string

@description('NIMBUS_BLOB_ACCOUNT_URL.')
param blobAccountUrl string

@description('NIMBUS_BLOB_CONTAINER.')
param mailContainerName string

@description('NIMBUS_SERVICEBUS_CONNECTION__fullyQualifiedNamespace.')
param serviceBusNamespace string

@description('NIMBUS_SERVICEBUS_QUEUE.')
param inboundQueueName string

@description('NIMBUS_SERVICEBUS_OUTBOUND_QUEUE: outbound deliveries and their scheduled retries.')
param outboundQueueName string

@description('Versionless Key Vault URI of the SendGrid API key (NIMBUS_SENDGRID_API_KEY is a reference to it); empty: no key, NIMBUS_OUTBOUND_TRANSPORT=none (mail to other domains is held).')
param sendGridKeyUri string

@description('Versionless Key Vault URI of the JWT key (NIMBUS_JWT_SECRET is a reference to it).')
param jwtKeyUri string

@description('Versionless Key Vault URI of the first-run setup code (NIMBUS_SETUP_TOKEN is a reference to it).')
param setupTokenUri string

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Key Vault references (NIMBUS_JWT_SECRET) are resolved with this identity
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      cors: {
        allowedOrigins: allowedOrigins
        supportCredentials: false
      }
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'node'
        version: '22'
      }
    }
  }
}

// Every app setting, by the name the code (core/config.ts) or the Functions host reads; test/infra.test.ts
// checks both ways that this list and the config schema agree. A new setting is one line here.
resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: functionApp
  name: 'appsettings'
  properties: {
    // the Functions host: its storage (also Durable Functions' task hub) and telemetry, with the identity
    AzureWebJobsStorage__credential: 'managedidentity'
    AzureWebJobsStorage__clientId: identityClientId
    AzureWebJobsStorage__blobServiceUri: storage.properties.primaryEndpoints.blob
    AzureWebJobsStorage__queueServiceUri: storage.properties.primaryEndpoints.queue
    AzureWebJobsStorage__tableServiceUri: storage.properties.primaryEndpoints.table
    APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
    // the app (core/config.ts)
    NIMBUS_MODE: 'azure'
    NIMBUS_HOSTNAME: mailHostName
    AZURE_CLIENT_ID: identityClientId
    NIMBUS_COSMOS_ENDPOINT: cosmosEndpoint
    NIMBUS_COSMOS_DATABASE: databaseName
    NIMBUS_BLOB_ACCOUNT_URL: blobAccountUrl
    NIMBUS_BLOB_CONTAINER: mailContainerName
    NIMBUS_SERVICEBUS_CONNECTION__fullyQualifiedNamespace: serviceBusNamespace
    NIMBUS_SERVICEBUS_CONNECTION__credential: 'managedidentity'
    NIMBUS_SERVICEBUS_CONNECTION__clientId: identityClientId
    NIMBUS_SERVICEBUS_QUEUE: inboundQueueName
    NIMBUS_SERVICEBUS_OUTBOUND_QUEUE: outboundQueueName
    // Azure blocks outbound port 25: foreign mail leaves through SendGrid once its key is in Key Vault
    NIMBUS_OUTBOUND_TRANSPORT: empty(sendGridKeyUri) ? 'none' : 'sendgrid'
    NIMBUS_SENDGRID_API_KEY: empty(sendGridKeyUri) ? '' : '@Microsoft.KeyVault(SecretUri=${sendGridKeyUri})'
    NIMBUS_JWT_SECRET: '@Microsoft.KeyVault(SecretUri=${jwtKeyUri})'
    NIMBUS_SETUP_TOKEN: '@Microsoft.KeyVault(SecretUri=${setupTokenUri})'
  }
}

@description('Name of the Function App.')
output name string = functionApp.name

@description('Base URL of the HTTP API (routes under /api).')
output url string = 'https://${functionApp.properties.defaultHostName}/api'
