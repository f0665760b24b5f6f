// Nimbus Mail, the Azure shape: one resource group per azd environment.
// `azd up` provisions this file (with main.parameters.json) and deploys the services of azure.yaml.
// Check it without deploying: `az bicep build --file infra/main.bicep` and `az bicep lint --file infra/main.bicep`.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; with the subscription and location it makes the resource token in every name.')
param environmentName string

@minLength(1)
@description('Region of every resource but the webmail. Limited to regions with Flex Consumption (FC1) Function Apps, Container Apps and Cosmos DB serverless; `az functionapp list-flexconsumption-locations` lists the current ones.')
@allowed([
  'australiaeast'
  'brazilsouth'
  'canadacentral'
  'centralus'
  'eastasia'
  'eastus'
  'eastus2'
  'francecentral'
  'germanywestcentral'
  'japaneast'
  'northcentralus'
  'northeurope'
  'norwayeast'
  'southcentralus'
  'southeastasia'
  'swedencentral'
  'switzerlandnorth'
  'uksouth'
  'westeurope'
  'westus2'
  'westus3'
])
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Region of the webmail (Static Web Apps are offered in these five only; the files are served from a global edge anyway).')
@allowed([
  'centralus'
  'eastasia'
  'eastus2'
  'westeurope'
  'westus2'
])
param webmailLocation string = 'westeurope'

@description('Object id of the person or pipeline running azd (AZURE_PRINCIPAL_ID): gets data access to Cosmos DB, Blob Storage, Service Bus and the Key Vault secrets, for `func start` against Azure and for azd reading the JWT secret back. Empty: no such access.')
param principalId string = ''

@description('Kind of principalId.')
@allowed([
  'User'
  'ServicePrincipal'
])
param principalType string = 'User'

@minLength(3)
@maxLength(253)
@description('Public host name of the SMTP edge (NIMBUS_HOSTNAME): the name in the SMTP banner and Received headers, and the host your domains\' MX records point at (an A record to the output SMTP_EDGE_IP).')
param mailHostName string

@secure()
@minLength(15)
@description('HS256 key for API tokens. azd passes the one kept in Key Vault (secretOrRandomPassword), or 15 random characters on the first provision, which are then lengthened with jwtSecretPadding.')
param jwtSecret string

@secure()
@description('Random characters appended to a first, short jwtSecret so that the stored key has at least 32 characters (the app refuses shorter). Unused once Key Vault holds the key.')
param jwtSecretPadding string = newGuid()

@secure()
@minLength(15)
@description('First-run setup code (NIMBUS_SETUP_TOKEN): POST /api/setup needs it as "setupCode". azd passes the one kept in Key Vault (secretOrRandomPassword), or 15 random characters on the first provision, lengthened with setupTokenPadding.')
param setupToken string

@secure()
@description('Random characters appended to a first, short setupToken so that the stored code has at least 16 characters (the app refuses shorter). Unused once Key Vault holds it.')
param setupTokenPadding string = newGuid()

@secure()
@description('SendGrid API key for outbound mail (Azure blocks outbound port 25). Empty: no secret is written; set SENDGRID_API_KEY and provision again to add it.')
param sendGridApiKey string = ''

@description('Whether azd has deployed the edge container before (SERVICE_SMTP_EDGE_RESOURCE_EXISTS): then provisioning keeps its image instead of the placeholder.')
param smtpEdgeExists bool = false

@description('Cosmos DB capacity: serverless (pay per request, nothing at idle) or provisioned throughput shared by the database.')
@allowed([
  'serverless'
  'provisioned'
])
param cosmosCapacityMode string = 'serverless'

@description('Shared RU/s of the database when cosmosCapacityMode is provisioned (400 is the smallest Cosmos DB accepts).')
@minValue(400)
@maxValue(100000)
param cosmosThroughput int = 400

@description('Memory of one Function App instance (Flex Consumption offers these sizes).')
@allowed([
  512
  2048
  4096
])
param functionInstanceMemoryMB int = 2048

@description('Most Function App instances at once (Flex Consumption accepts 40 to 1000).')
@minValue(40)
@maxValue(1000)
param functionMaximumInstances int = 100

@description('Most replicas of the SMTP edge (one always runs: an MX host must always answer).')
@minValue(1)
@maxValue(30)
param edgeMaxReplicas int = 3

@description('Expose SMTP submission (587 -> 2587 with STARTTLS, 465 -> 2465 with implicit TLS) on the edge, for mail clients.')
param exposeSubmissionPorts bool = true

@description('Storage redundancy of the account holding the raw messages, the Functions host state and the deployment packages.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_RAGRS'
])
param storageSku string = 'Standard_LRS'

@description('Deliveries of a queue message before Service Bus dead-letters it (NIMBUS_QUEUE_MAX_DELIVERIES of the local shape).')
@minValue(1)
@maxValue(100)
param queueMaxDeliveryCount int = 10

var abbrs = loadJsonContent('abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }
var functionAppName = '${abbrs.webSitesFunctions}api-${resourceToken}'
var deploymentContainerName = 'app-package-${take(resourceToken, 20)}'
var mailContainerName = 'mail'
var databaseName = 'nimbus'
var inboundQueueName = 'inbound'
var outboundQueueName = 'outbound'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: '${abbrs.resourcesResourceGroups}${environmentName}'
  location: location
  tags: tags
}

// One user-assigned identity per workload: the roles each gets are in app/roles.bicep.
module apiIdentity 'core/security/user-assigned-identity.bicep' = {
  name: 'api-identity'
  scope: rg
  params: {
    name: '${abbrs.managedIdentityUserAssignedIdentities}api-${resourceToken}'
    location: location
    tags: tags
  }
}

module edgeIdentity 'core/security/user-assigned-identity.bicep' = {
  name: 'edge-identity'
  scope: rg
  params: {
    name: '${abbrs.managedIdentityUserAssignedIdentities}edge-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'core/monitor/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    applicationInsightsName: '${abbrs.insightsComponents}${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'core/storage/storage-account.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: '${abbrs.storageStorageAccounts}${resourceToken}'
    location: location
    tags: tags
    sku: storageSku
    containerNames: [
      deploymentContainerName
      mailContainerName
    ]
  }
}

module cosmos 'app/cosmos.bicep' = {
  name: 'cosmos'
  scope: rg
  params: {
    accountName: '${abbrs.documentDBDatabaseAccounts}${resourceToken}'
    databaseName: databaseName
    location: location
    tags: tags
    capacityMode: cosmosCapacityMode
    throughput: cosmosThroughput
  }
}

module serviceBus 'core/messaging/service-bus.bicep' = {
  name: 'service-bus'
  scope: rg
  params: {
    name: '${abbrs.serviceBusNamespaces}${resourceToken}'
    location: location
    tags: tags
    queueNames: [
      inboundQueueName
      outboundQueueName
    ]
    maxDeliveryCount: queueMaxDeliveryCount
  }
}

module keyVault 'core/security/key-vault.bicep' = {
  name: 'key-vault'
  scope: rg
  params: {
    name: '${abbrs.keyVaultVaults}${resourceToken}'
    location: location
    tags: tags
    jwtSecret: length(jwtSecret) >= 32 ? jwtSecret : '${jwtSecret}${jwtSecretPadding}'
    setupToken: length(setupToken) >= 16 ? setupToken : '${setupToken}${setupTokenPadding}'
    sendGridApiKey: sendGridApiKey
  }
}

module registry 'core/host/container-registry.bicep' = {
  name: 'registry'
  scope: rg
  params: {
    name: '${abbrs.containerRegistryRegistries}${resourceToken}'
    location: location
    tags: tags
  }
}

module network 'core/networking/vnet.bicep' = {
  name: 'network'
  scope: rg
  params: {
    name: '${abbrs.networkVirtualNetworks}${resourceToken}'
    location: location
    tags: tags
  }
}

module containerAppsEnvironment 'core/host/container-apps-environment.bicep' = {
  name: 'container-apps-environment'
  scope: rg
  params: {
    name: '${abbrs.appManagedEnvironments}${resourceToken}'
    location: location
    tags: tags
    logAnalyticsName: monitoring.outputs.logAnalyticsName
    infrastructureSubnetId: network.outputs.edgeSubnetId
  }
}

module roles 'app/roles.bicep' = {
  name: 'roles'
  scope: rg
  params: {
    apiPrincipalId: apiIdentity.outputs.principalId
    edgePrincipalId: edgeIdentity.outputs.principalId
    userPrincipalId: principalId
    userPrincipalType: principalType
    storageAccountName: storage.outputs.name
    mailContainerName: mailContainerName
    cosmosAccountName: cosmos.outputs.accountName
    serviceBusNamespaceName: serviceBus.outputs.name
    inboundQueueName: inboundQueueName
    outboundQueueName: outboundQueueName
    keyVaultName: keyVault.outputs.name
    registryName: registry.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
  }
}

module webmail 'app/webmail.bicep' = {
  name: 'webmail'
  scope: rg
  params: {
    name: '${abbrs.webStaticSites}${resourceToken}'
    location: webmailLocation
    tags: tags
  }
}

module api 'app/api.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: functionAppName
    planName: '${abbrs.webServerFarms}${resourceToken}'
    location: location
    tags: tags
    identityId: apiIdentity.outputs.id
    identityClientId: apiIdentity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    instanceMemoryMB: functionInstanceMemoryMB
    maximumInstanceCount: functionMaximumInstances
    allowedOrigins: [
      webmail.outputs.url
    ]
    mailHostName: mailHostName
    cosmosEndpoint: cosmos.outputs.endpoint
    databaseName: databaseName
    blobAccountUrl: storage.outputs.blobEndpoint
    mailContainerName: mailContainerName
    serviceBusNamespace: serviceBus.outputs.fullyQualifiedNamespace
    inboundQueueName: inboundQueueName
    outboundQueueName: outboundQueueName
    sendGridKeyUri: empty(sendGridApiKey) ? '' : keyVault.outputs.sendGridKeyUri
    jwtKeyUri: keyVault.outputs.jwtKeyUri
    setupTokenUri: keyVault.outputs.setupTokenUri
  }
  // the identity must hold its roles before the host starts reading storage and Service Bus
  dependsOn: [
    roles
  ]
}

module edgeImage 'core/host/container-app-image.bicep' = {
  name: 'smtp-edge-image'
  scope: rg
  params: {
    name: '${abbrs.appContainerApps}edge-${resourceToken}'
    exists: smtpEdgeExists
  }
}

module edge 'app/edge.bicep' = {
  name: 'smtp-edge'
  scope: rg
  params: {
    name: '${abbrs.appContainerApps}edge-${resourceToken}'
    location: location
    tags: tags
    environmentId: containerAppsEnvironment.outputs.id
    identityId: edgeIdentity.outputs.id
    identityClientId: edgeIdentity.outputs.clientId
    registryLoginServer: registry.outputs.loginServer
    image: edgeImage.outputs.image
    maxReplicas: edgeMaxReplicas
    exposeSubmissionPorts: exposeSubmissionPorts
    mailHostName: mailHostName
    cosmosEndpoint: cosmos.outputs.endpoint
    databaseName: databaseName
    blobAccountUrl: storage.outputs.blobEndpoint
    mailContainerName: mailContainerName
    serviceBusNamespace: serviceBus.outputs.fullyQualifiedNamespace
    inboundQueueName: inboundQueueName
    outboundQueueName: outboundQueueName
    jwtKeyUri: keyVault.outputs.jwtKeyUri
    setupTokenUri: keyVault.outputs.setupTokenUri
  }
  // AcrPull and the Key Vault role must exist before the first revision pulls its image and secret
  dependsOn: [
    roles
  ]
}

// azd conventions
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_CONTAINER_REGISTRY_ENDPOINT string = registry.outputs.loginServer
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_KEY_VAULT_ENDPOINT string = keyVault.outputs.endpoint
output SERVICE_API_NAME string = api.outputs.name
output SERVICE_SMTP_EDGE_NAME string = edge.outputs.name
output SERVICE_WEBMAIL_NAME string = webmail.outputs.name

// named as the settings the code reads: `azd env get-values` gives a workstation what the apps get
output NIMBUS_HOSTNAME string = mailHostName
output NIMBUS_COSMOS_ENDPOINT string = cosmos.outputs.endpoint
output NIMBUS_COSMOS_DATABASE string = databaseName
output NIMBUS_BLOB_ACCOUNT_URL string = storage.outputs.blobEndpoint
output NIMBUS_BLOB_CONTAINER string = mailContainerName
output NIMBUS_SERVICEBUS_CONNECTION__fullyQualifiedNamespace string = serviceBus.outputs.fullyQualifiedNamespace
output NIMBUS_SERVICEBUS_QUEUE string = inboundQueueName
output NIMBUS_SERVICEBUS_OUTBOUND_QUEUE string = outboundQueueName
output NIMBUS_JWT_KEY_URI string = keyVault.outputs.jwtKeyUri
output NIMBUS_SENDGRID_KEY_URI string = keyVault.outputs.sendGridKeyUri

// where things are: the API for the webmail's build (Vite exposes VITE_* to the browser code), the edge's address for DNS
output VITE_NIMBUS_API_URL string = api.outputs.url
output NIMBUS_API_URL string = api.outputs.url
output NIMBUS_WEBMAIL_URL string = webmail.outputs.url
output SMTP_EDGE_IP string = containerAppsEnvironment.outputs.staticIp
