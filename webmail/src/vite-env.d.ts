/// <reference types="vite/client" />

interface ImportMetaEnv {
  /** The API's base URL when it is on another origin (the Function App behind a Static Web App); unset: /api on this origin. */
  readonly VITE_NIMBUS_API_URL?: string;
}
