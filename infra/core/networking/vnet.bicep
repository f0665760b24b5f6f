// The virtual network of the Container Apps environment: external TCP ingress (the edge's port 25)
// needs an environment on a VNet of your own. Workload-profile environments need a /27 or larger
// subnet delegated to Microsoft.App/environments.
@description('Name of the virtual network.')
param name string

@description('Region of the network.')
param location string

@description('Tags of the network.')
param tags object

@description('Address space of the network.')
param addressPrefix string = '10.40.0.0/16'

@description('The Container Apps environment\'s subnet (at least /27).')
param edgeSubnetPrefix string = '10.40.0.0/23'

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        addressPrefix
      ]
    }
    subnets: [
      {
        name: 'container-apps'
        properties: {
          addressPrefix: edgeSubnetPrefix
          delegations: [
            {
              name: 'container-apps'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
        }
      }
    ]
  }
}

@description('Resource id of the Container Apps subnet.')
output edgeSubnetId string = vnet.properties.subnets[0].id
