// The SMTP edge on Azure Container Apps: external TCP ingress, port 25 on the environment's public IP to
// 2525 in the container (an unprivileged process cannot bind 25), and optionally the submission ports.
// One replica always runs (an MX host must answer at all hours); more start under connection load.
// It signs in with its user-assigned identity (AZURE_CLIENT_ID): image pull, Key Vault secret, Cosmos DB,
// Blob Storage and Service Bus.
@description('Name of the container app.')
param name string

@description('Region of the app.')
param location string

@description('Tags (azd-service-name is added).')
param tags object

@description('Resource id of the Container Apps environment (on a VNet: TCP ingress needs one).')
param environmentId string

@description('Resource id of the user-assigned identity.')
param identityId string

@description('Client id of that identity (AZURE_CLIENT_ID).')
param identityClientId string

@description('Login server of the registry azd pushes the image to.')
param registryLoginServer string

@description('Image to run; empty before the first `azd deploy` (a placeholder runs until then).')
param image string

@description('Most replicas.')
@minValue(1)
@maxValue(30)
param maxReplicas int

@description('Also map 587 -> 2587 and 465 -> 2465 (SMTP submission).')
param exposeSubmissionPorts bool

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

@description('NIMBUS_SERVICEBUS_OUTBOUND_QUEUE: where the submission listeners put mail for other domains.')
param outboundQueueName string

@description('Versionless Key Vault URI of the JWT key.')
param jwtKeyUri string

@description('Versionless Key Vault URI of the first-run setup code (azure mode requires it of every process).')
param setupTokenUri string

var smtpPort = 2525
var submissionPorts = exposeSubmissionPorts
  ? [
      {
        external: true
        targetPort: 2587
        exposedPort: 587
      }
      {
        external: true
        targetPort: 2465
        exposedPort: 465
      }
    ]
  : []

resource edge 'Microsoft.App/containerApps@2024-03-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'smtp-edge' })
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    environmentId: environmentId
    workloadProfileName: 'Consumption'
    configuration: {
      activeRevisionsMode: 'Single'
      ingress: {
        external: true
        transport: 'tcp'
        targetPort: smtpPort
        exposedPort: 25
        additionalPortMappings: submissionPorts
      }
      registries: [
        {
          server: registryLoginServer
          identity: identityId
        }
      ]
      secrets: [
        {
          name: 'jwt-secret'
          keyVaultUrl: jwtKeyUri
          identity: identityId
        }
        {
          name: 'setup-token'
          keyVaultUrl: setupTokenUri
          identity: identityId
        }
      ]
    }
    template: {
      containers: [
        {
          name: 'smtp-edge'
          image: !empty(image) ? image : 'mcr.microsoft.com/k8se/quickstart:latest'
          resources: {
            cpu: json('0.5')
            memory: '1Gi'
          }
          // Every setting by the name core/config.ts reads; test/infra.test.ts checks both ways that this
          // list and the config schema agree (NIMBUS_MODE, NIMBUS_SMTP_HOST and NIMBUS_SMTP_PORT come from
          // the Dockerfile). A new setting is one line here.
          env: [
            {
              name: 'NIMBUS_HOSTNAME'
              value: mailHostName
            }
            {
              name: 'AZURE_CLIENT_ID'
              value: identityClientId
            }
            {
              name: 'NIMBUS_COSMOS_ENDPOINT'
              value: cosmosEndpoint
            }
            {
              name: 'NIMBUS_COSMOS_DATABASE'
              value: databaseName
            }
            {
              name: 'NIMBUS_BLOB_ACCOUNT_URL'
              value: blobAccountUrl
            }
            {
              name: 'NIMBUS_BLOB_CONTAINER'
              value: mailContainerName
            }
            {
              name: 'NIMBUS_SERVICEBUS_CONNECTION__fullyQualifiedNamespace'
              value: serviceBusNamespace
            }
            {
              name: 'NIMBUS_SERVICEBUS_QUEUE'
              value: inboundQueueName
            }
            {
              name: 'NIMBUS_SERVICEBUS_OUTBOUND_QUEUE'
              value: outboundQueueName
            }
            {
              name: 'NIMBUS_JWT_SECRET'
              secretRef: 'jwt-secret'
            }
            {
              name: 'NIMBUS_SETUP_TOKEN'
              secretRef: 'setup-token'
            }
          ]
          probes: [
            {
              type: 'Liveness'
              tcpSocket: {
                port: smtpPort
              }
              initialDelaySeconds: 10
              periodSeconds: 30
            }
            {
              type: 'Readiness'
              tcpSocket: {
                port: smtpPort
              }
              periodSeconds: 10
            }
          ]
        }
      ]
      scale: {
        minReplicas: 1
        maxReplicas: maxReplicas
        rules: [
          {
            name: 'smtp-connections'
            tcp: {
              metadata: {
                concurrentConnections: '200'
              }
            }
          }
        ]
      }
    }
  }
}

@description('Name of the container app.')
output name string = edge.name
