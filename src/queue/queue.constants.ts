/** Every queue, job name and payload in one place; call sites never spell them. */
export enum QueueName {
  Images = 'images',
  Requests = 'requests',
}

export enum JobName {
  ProcessImage = 'process-image',
  FinalizeRequest = 'finalize-request',
}

export interface ProcessImageJob {
  imageId: string;
  requestId: string;
}

export interface FinalizeRequestJob {
  requestId: string;
}
