/** The FlowLogStore a `cloud_flow_logs` source names. */
import { AzureBlobFlowLogStore } from './azure-blob-flow-log-store.js';
import type { CloudStoreSettings } from './cloud-config.js';
import type { FlowLogStore } from './flow-log-store.js';
import { GcsFlowLogStore } from './gcs-flow-log-store.js';
import { S3FlowLogStore } from './s3-flow-log-store.js';

export function createFlowLogStore(settings: CloudStoreSettings): FlowLogStore {
  switch (settings.type) {
    case 's3':
      return new S3FlowLogStore({
        bucket: settings.bucket,
        region: settings.region,
        endpoint: settings.endpoint,
        forcePathStyle: settings.forcePathStyle,
        credentials:
          settings.accessKeyId !== undefined && settings.secretAccessKey !== undefined
            ? { accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey, sessionToken: settings.sessionToken }
            : undefined,
      });
    case 'azure_blob':
      return new AzureBlobFlowLogStore({
        container: settings.container,
        connectionString: settings.connectionString,
        accountUrl: settings.accountUrl,
        sasToken: settings.sasToken,
      });
    case 'gcs':
      return new GcsFlowLogStore({
        bucket: settings.bucket,
        projectId: settings.projectId,
        apiEndpoint: settings.apiEndpoint,
        keyFilename: settings.keyFile,
      });
  }
}
