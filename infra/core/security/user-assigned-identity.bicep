// A user-assigned managed identity: the apps sign in as it (AZURE_CLIENT_ID), roles are granted to its principal.
@description('Name of the identity.')
param name string

@description('Region of the identity.')
param location string

@description('Tags of the identity.')
param tags object

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

@description('Resource id, for the apps\' identity blocks.')
output id string = identity.id

@description('Object id of its service principal, for role assignments.')
output principalId string = identity.properties.principalId

@description('Client id, the value of AZURE_CLIENT_ID.')
output clientId string = identity.properties.clientId
