// Container Apps environment on the VNet (external, so the edge's TCP ingress gets a public IP),
// with the consumption workload profile: pay per replica, no dedicated nodes.
@description('Name of the environment.')
param name string

@description('Region of the environment.')
param location string

@description('Tags of the environment.')
param tags object

@description('Log Analytics workspace that receives the containers\' logs.')
param logAnalyticsName string

@description('Subnet delegated to Microsoft.App/environments.')
param infrastructureSubnetId string

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: logAnalyticsName
}

resource environment 'Microsoft.App/managedEnvironments@2024-03-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    vnetConfiguration: {
      infrastructureSubnetId: infrastructureSubnetId
      internal: false
    }
    workloadProfiles: [
      {
        name: 'Consumption'
        workloadProfileType: 'Consumption'
      }
    ]
    appLogsConfiguration: {
      destination: 'log-analytics'
      logAnalyticsConfiguration: {
        customerId: logAnalytics.properties.customerId
        sharedKey: logAnalytics.listKeys().primarySharedKey
      }
    }
  }
}

@description('Resource id of the environment.')
output id string = environment.id

@description('Public IP of the environment: the A record of the MX host name.')
output staticIp string = environment.properties.staticIp
