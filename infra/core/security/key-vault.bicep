// Key Vault for the app's secrets, read through Key Vault references by the Function App and the
// edge container (Key Vault Secrets User for their identities, app/roles.bicep). Azure RBAC, no access policies.
@description('Name of the vault (3-24 characters).')
@minLength(3)
@maxLength(24)
param name string

@description('Region of the vault.')
param location string

@description('Tags of the vault.')
param tags object

@secure()
@minLength(32)
@description('HS256 key for API tokens (NIMBUS_JWT_SECRET).')
param jwtSecret string

@secure()
@minLength(16)
@description('First-run setup code (NIMBUS_SETUP_TOKEN).')
param setupToken string

@secure()
@description('SendGrid API key (NIMBUS_SENDGRID_API_KEY). Empty: the secret is not written.')
param sendGridApiKey string

var jwtSecretName = 'nimbus-jwt-secret'
var setupTokenName = 'nimbus-setup-token'
var sendGridSecretName = 'nimbus-sendgrid-api-key'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    publicNetworkAccess: 'Enabled'
  }
}

resource jwt 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  // azd's secretOrRandomPassword reads this name back on the next provision, so the key stays the same
  name: jwtSecretName
  properties: {
    value: jwtSecret
    contentType: 'text/plain'
  }
}

resource setup 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  // read back by secretOrRandomPassword on the next provision; README shows how an operator reads it for first-run setup
  name: setupTokenName
  properties: {
    value: setupToken
    contentType: 'text/plain'
  }
}

resource sendGrid 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(sendGridApiKey)) {
  parent: vault
  name: sendGridSecretName
  properties: {
    value: sendGridApiKey
    contentType: 'text/plain'
  }
}

@description('Name of the vault.')
output name string = vault.name

@description('https://<vault>.vault.azure.net/')
output endpoint string = vault.properties.vaultUri

@description('Versionless URI of the JWT key (a reference follows its latest version).')
output jwtKeyUri string = '${vault.properties.vaultUri}secrets/${jwt.name}'

@description('Versionless URI of the first-run setup code.')
output setupTokenUri string = '${vault.properties.vaultUri}secrets/${setup.name}'

@description('Versionless URI of the SendGrid key (exists once sendGridApiKey was given).')
output sendGridKeyUri string = '${vault.properties.vaultUri}secrets/${sendGridSecretName}'
