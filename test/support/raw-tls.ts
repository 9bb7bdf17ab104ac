// Raw mutual-TLS connections to an HTTPS listener on loopback, for tests of its connection
// limits (the node's sessions, the signer's connectionsMax): a connection is opened and held
// without an HTTP client's pooling, and requests are written on it by hand (also broken ones,
// for the listeners' answers to requests that never arrive whole).
import { once } from 'node:events';
import { connect, type TLSSocket } from 'node:tls';

export type RawTlsTarget = {
  readonly port: number;
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
  readonly servername: string;
};

/**
 * Opens a mutual-TLS connection; resolves once its handshake is done, rejects if it is closed
 * first (e.g. dropped by the listener's hard limit). `opened`, when given, holds the socket
 * until it closes, for the test to destroy what is left.
 */
export function openTls(target: RawTlsTarget, opened?: Set<TLSSocket>): Promise<TLSSocket> {
  const { port, ...tls } = target;
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ...tls });
    opened?.add(socket);
    socket.once('secureConnect', () => {
      resolve(socket);
    });
    socket.once('error', reject);
    socket.once('close', () => {
      opened?.delete(socket);
      reject(new Error('the connection closed before its TLS handshake finished'));
    });
  });
}

export type RawReply = {
  readonly status: number;
  readonly headers: ReadonlyMap<string, string>;
  readonly body: Record<string, unknown>;
};

/** The answer in `text` (status line, headers, body), or undefined while it is not whole yet. */
export function replyOf(text: string): RawReply | undefined {
  const split = text.indexOf('\r\n\r\n');
  if (split < 0) return undefined;
  const [statusLine = '', ...lines] = text.slice(0, split).split('\r\n');
  const headers = new Map(
    lines.map((line) => {
      const colon = line.indexOf(':');
      return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()] as const;
    }),
  );
  const body = text.slice(split + 4);
  if (Buffer.byteLength(body) < Number(headers.get('content-length'))) return undefined;
  return {
    status: Number(statusLine.split(' ')[1]),
    headers,
    body: JSON.parse(body) as Record<string, unknown>,
  };
}

/** Sends GET `route` on `socket` as HTTP/1.1 and reads one JSON answer (content-length framed). */
export function getOver(socket: TLSSocket, route: string): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    let text = '';
    const finish = (): boolean => {
      const reply = replyOf(text);
      if (reply === undefined) return false;
      socket.off('data', onData);
      resolve(reply);
      return true;
    };
    const onData = (chunk: Buffer): void => {
      text += chunk.toString('utf8');
      finish();
    };
    socket.on('data', onData);
    socket.once('close', () => {
      if (!finish()) reject(new Error(`closed before a whole answer: ${text}`));
    });
    socket.write(`GET ${route} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n`);
  });
}

/** Everything `socket` receives until it is closed, as text. */
export async function textUntilClosed(socket: TLSSocket): Promise<string> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  if (!socket.destroyed) await once(socket, 'close');
  return Buffer.concat(chunks).toString('utf8');
}

/** Resolves once `socket` is closed (true), or false after 5 s. */
export function closedSoon(socket: TLSSocket): Promise<boolean> {
  if (socket.destroyed) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      resolve(false);
    }, 5000);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}
