// The image a container app runs now, so that `azd provision` after `azd deploy` keeps it
// (azd passes SERVICE_<NAME>_RESOURCE_EXISTS). Empty when the app does not exist yet.
@description('Name of the container app.')
param name string

@description('Whether the container app exists.')
param exists bool

resource existingApp 'Microsoft.App/containerApps@2024-03-01' existing = if (exists) {
  name: name
}

@description('The image of the existing app\'s first container, or empty.')
output image string = exists ? existingApp!.properties.template.containers[0].image : ''
