// The webmail's static files on Azure Static Web Apps (Free): a global edge, TLS and a custom domain at
// no cost, no function executions or cold starts for static files. The browser calls the API on the
// Function App (its CORS allows this site's origin; the API uses bearer tokens, no cookies). README
// "Webmail hosting" explains why not the Function App itself.
@description('Name of the static web app.')
param name string

@description('Region (Static Web Apps are offered in a few regions only).')
@allowed([
  'centralus'
  'eastasia'
  'eastus2'
  'westeurope'
  'westus2'
])
param location string

@description('Tags (azd-service-name is added).')
param tags object

resource site 'Microsoft.Web/staticSites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'webmail' })
  sku: {
    name: 'Free'
    tier: 'Free'
  }
  properties: {}
}

@description('Name of the static web app.')
output name string = site.name

@description('https://<name>.azurestaticapps.net, the origin the API allows.')
output url string = 'https://${site.properties.defaultHostname}'
