// Every role the identities hold, in one place, each at the narrowest scope that works:
//   api  (Function App): Cosmos DB data contributor; Storage Blob Data Owner, Queue and Table Data
//        Contributor on the account (the Functions host's AzureWebJobsStorage with an identity needs
//        them, Durable Functions' task hub too; the mail blobs live there); Service Bus data receiver
//        and sender on the namespace (inbound trigger, outbound queue); Key Vault Secrets User;
//        Monitoring Metrics Publisher on Application Insights (telemetry without the key).
//   edge (container app): Cosmos DB data contributor (recipient lookups, and for submissions the
//        sender's Sent copy and the hourly send count, which it writes); Storage Blob Data
//        Contributor on the mail container only; Service Bus data sender on the inbound and outbound queues only (submission);
//        Key Vault Secrets User; AcrPull on the registry.
//   the person running azd (optional): data access for `func start` against Azure, and Key Vault
//        Secrets User so that azd reads the JWT key back on the next provision.
@description('Principal id of the Function App\'s identity.')
param apiPrincipalId string

@description('Principal id of the edge container\'s identity.')
param edgePrincipalId string

@description('Object id of the person or pipeline running azd; empty grants nothing.')
param userPrincipalId string

@description('Kind of userPrincipalId.')
@allowed([
  'User'
  'ServicePrincipal'
])
param userPrincipalType string

@description('Storage account of the host state and the mail blobs.')
param storageAccountName string

@description('Blob container of the mail.')
param mailContainerName string

@description('Cosmos DB account.')
param cosmosAccountName string

@description('Service Bus namespace.')
param serviceBusNamespaceName string

@description('Queue the edge sends accepted mail to.')
param inboundQueueName string

@description('Queue the edge sends submitted mail for other domains to.')
param outboundQueueName string

@description('Key Vault of the secrets.')
param keyVaultName string

@description('Container registry of the edge image.')
param registryName string

@description('Application Insights component.')
param applicationInsightsName string

var role = {
  acrPull: '7f951dda-4ed3-4680-a7ca-43fe172d538d'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
  serviceBusDataOwner: '090c5cfd-751d-490a-894a-3ce6f1109419'
  serviceBusDataReceiver: '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'
  serviceBusDataSender: '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
}
// Cosmos DB's built-in data-plane roles (not Azure RBAC roles)
var cosmosDataContributor = '00000000-0000-0000-0000-000000000002'
var withUser = !empty(userPrincipalId)

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

resource mailContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: blobService
  name: mailContainerName
}

resource cosmos 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' existing = {
  name: cosmosAccountName
}

resource serviceBus 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = {
  name: serviceBusNamespaceName
}

resource inboundQueue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' existing = {
  parent: serviceBus
  name: inboundQueueName
}

resource outboundQueue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' existing = {
  parent: serviceBus
  name: outboundQueueName
}

resource keyVault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' existing = {
  name: registryName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// ---- the Function App
resource apiStorageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleId in [role.storageBlobDataOwner, role.storageQueueDataContributor, role.storageTableDataContributor]: {
    name: guid(storage.id, apiPrincipalId, roleId)
    scope: storage
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
      principalId: apiPrincipalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource apiServiceBusRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleId in [role.serviceBusDataReceiver, role.serviceBusDataSender]: {
    name: guid(serviceBus.id, apiPrincipalId, roleId)
    scope: serviceBus
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
      principalId: apiPrincipalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource apiKeyVaultRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(keyVault.id, apiPrincipalId, role.keyVaultSecretsUser)
  scope: keyVault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.keyVaultSecretsUser)
    principalId: apiPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource apiMonitoringRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, apiPrincipalId, role.monitoringMetricsPublisher)
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.monitoringMetricsPublisher)
    principalId: apiPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource apiCosmosRole 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = {
  parent: cosmos
  name: guid(cosmos.id, apiPrincipalId, cosmosDataContributor)
  properties: {
    roleDefinitionId: '${cosmos.id}/sqlRoleDefinitions/${cosmosDataContributor}'
    principalId: apiPrincipalId
    scope: cosmos.id
  }
}

// ---- the SMTP edge
resource edgeBlobRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(mailContainer.id, edgePrincipalId, role.storageBlobDataContributor)
  scope: mailContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.storageBlobDataContributor)
    principalId: edgePrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource edgeQueueRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(inboundQueue.id, edgePrincipalId, role.serviceBusDataSender)
  scope: inboundQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.serviceBusDataSender)
    principalId: edgePrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource edgeOutboundQueueRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(outboundQueue.id, edgePrincipalId, role.serviceBusDataSender)
  scope: outboundQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.serviceBusDataSender)
    principalId: edgePrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource edgeKeyVaultRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(keyVault.id, edgePrincipalId, role.keyVaultSecretsUser)
  scope: keyVault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.keyVaultSecretsUser)
    principalId: edgePrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource edgeAcrRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(registry.id, edgePrincipalId, role.acrPull)
  scope: registry
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.acrPull)
    principalId: edgePrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource edgeCosmosRole 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = {
  parent: cosmos
  name: guid(cosmos.id, edgePrincipalId, cosmosDataContributor)
  properties: {
    roleDefinitionId: '${cosmos.id}/sqlRoleDefinitions/${cosmosDataContributor}'
    principalId: edgePrincipalId
    scope: cosmos.id
  }
}

// ---- the person running azd
resource userStorageRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (withUser) {
  name: guid(storage.id, userPrincipalId, role.storageBlobDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.storageBlobDataContributor)
    principalId: userPrincipalId
    principalType: userPrincipalType
  }
}

resource userServiceBusRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (withUser) {
  name: guid(serviceBus.id, userPrincipalId, role.serviceBusDataOwner)
  scope: serviceBus
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.serviceBusDataOwner)
    principalId: userPrincipalId
    principalType: userPrincipalType
  }
}

resource userKeyVaultRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (withUser) {
  name: guid(keyVault.id, userPrincipalId, role.keyVaultSecretsUser)
  scope: keyVault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.keyVaultSecretsUser)
    principalId: userPrincipalId
    principalType: userPrincipalType
  }
}

resource userCosmosRole 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = if (withUser) {
  parent: cosmos
  name: guid(cosmos.id, userPrincipalId, cosmosDataContributor)
  properties: {
    roleDefinitionId: '${cosmos.id}/sqlRoleDefinitions/${cosmosDataContributor}'
    principalId: userPrincipalId
    scope: cosmos.id
  }
}
