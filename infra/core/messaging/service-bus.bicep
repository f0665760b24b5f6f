// Service Bus namespace and its queues, set as the code expects: the queue message id is the inbound
// message id, so duplicate detection drops a resend after an unknown outcome; a message that keeps
// failing is dead-lettered after maxDeliveryCount deliveries; the lock covers one filing (the host
// renews it up to host.json's maxAutoLockRenewalDuration). Standard tier: Basic has no duplicate
// detection. Shared access keys are off: the apps sign in with their identities.
@description('Name of the namespace.')
@minLength(6)
@maxLength(50)
param name string

@description('Region of the namespace.')
param location string

@description('Tags of the namespace.')
param tags object

@description('Queues to create (inbound mail; outbound mail for sending).')
param queueNames string[]

@description('Deliveries before a message is dead-lettered.')
@minValue(1)
@maxValue(100)
param maxDeliveryCount int

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
  }

  resource queues 'queues' = [
    for queueName in queueNames: {
      name: queueName
      properties: {
        lockDuration: 'PT1M'
        maxDeliveryCount: maxDeliveryCount
        requiresDuplicateDetection: true
        duplicateDetectionHistoryTimeWindow: 'PT1H'
        deadLetteringOnMessageExpiration: true
        defaultMessageTimeToLive: 'P14D'
        maxSizeInMegabytes: 1024
        enablePartitioning: false
        requiresSession: false
      }
    }
  ]
}

@description('Name of the namespace.')
output name string = namespace.name

@description('<namespace>.servicebus.windows.net (NIMBUS_SERVICEBUS_CONNECTION__fullyQualifiedNamespace).')
output fullyQualifiedNamespace string = split(split(namespace.properties.serviceBusEndpoint, '//')[1], ':')[0]
