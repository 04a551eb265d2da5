import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An HTTP server on a loopback address (127.0.0.1 unless told; every
 * 127.x.y.z is a host of its own to a client) and a spare port, for the
 * suites' stand-ins of outside hosts.
 */
export async function startLoopbackServer(
  handle: (request: IncomingMessage, response: ServerResponse) => Promise<void>,
  address = '127.0.0.1',
): Promise<{ server: Server; baseUrl: string }> {
  const server = createServer((request, response) => void handle(request, response));
  await new Promise<void>((resolve) => server.listen(0, address, resolve));
  return { server, baseUrl: `http://${address}:${(server.address() as AddressInfo).port}` };
}

/** Closes the server without waiting for clients that hold connections open. */
export async function stopLoopbackServer(server: Server | undefined): Promise<void> {
  if (!server) return;
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}
