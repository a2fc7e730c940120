import { Worker } from 'node:worker_threads';

/**
 * A thread that does nothing but empty one UDP socket. UDP cannot slow its
 * sender: every moment the kernel's receive buffer is not read, datagrams
 * pile up in it, and once it is full they are lost. On the main thread the
 * filters, a ban written to SQLite or a garbage collection can each hold the
 * event loop for tens of milliseconds, and at 100,000 messages/s the few
 * thousand small datagrams a 4 MiB buffer holds (the kernel charges far more
 * than the payload per datagram) are gone in that time. This thread keeps
 * reading meanwhile and hands the datagrams over in batches.
 *
 * A batch is one transferred buffer of records
 *   u16 address length | address (latin1) | u32 datagram length | datagram
 * and the main thread acknowledges each batch's bytes once it has taken them.
 * Unacknowledged bytes are capped: beyond the cap the thread drops datagrams
 * and reports how many per sender (overload), so a main thread that stalls
 * for good cannot grow memory without end.
 *
 * The thread's code is plain JavaScript in a string, so it runs the same
 * from the built package, under tsx and under the test runner.
 */
const THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const dgram = require('node:dgram');
const { host, port, type, recvBufferSize, maxPendingBytes } = workerData;

const socket = dgram.createSocket({ type, recvBufferSize });
let scratch = Buffer.allocUnsafeSlow(256 * 1024);
let used = 0;
let records = 0;
let pending = 0;          // bytes handed over and not acknowledged yet
let dropped = new Map();  // sender -> datagrams dropped since the last batch
let scheduled = false;

socket.on('message', (msg, rinfo) => {
  const addr = rinfo.address;
  const need = 6 + addr.length + msg.length;
  if (pending + used + need > maxPendingBytes) {
    dropped.set(addr, (dropped.get(addr) || 0) + 1);
  } else {
    if (used + need > scratch.length) {
      const bigger = Buffer.allocUnsafeSlow(Math.max(scratch.length * 2, used + need));
      scratch.copy(bigger, 0, 0, used);
      scratch = bigger;
    }
    scratch.writeUInt16LE(addr.length, used);
    scratch.latin1Write(addr, used + 2);
    used += 2 + addr.length;
    scratch.writeUInt32LE(msg.length, used);
    msg.copy(scratch, used + 4);
    used += 4 + msg.length;
    records++;
  }
  // Hand over what one turn of the event loop read.
  if (!scheduled) {
    scheduled = true;
    setImmediate(flush);
  }
});

function flush() {
  scheduled = false;
  const data = new Uint8Array(used);
  data.set(scratch.subarray(0, used));
  pending += used;
  const drops = dropped.size ? Object.fromEntries(dropped) : null;
  parentPort.postMessage({ type: 'batch', data, records, received: Date.now(), dropped: drops }, [data.buffer]);
  used = 0;
  records = 0;
  if (drops) dropped = new Map();
  // Give the scratch buffer back to its usual size after a burst.
  if (scratch.length > 4 * 1024 * 1024) scratch = Buffer.allocUnsafeSlow(256 * 1024);
}

parentPort.on('message', (m) => {
  if (m.type === 'ack') pending -= m.bytes;
  else if (m.type === 'rcvbuf') {
    try {
      socket.setRecvBufferSize(m.bytes);
      parentPort.postMessage({ type: 'rcvbuf', granted: socket.getRecvBufferSize() });
    } catch (err) {
      parentPort.postMessage({ type: 'warning', message: String(err && err.message) });
    }
  } else if (m.type === 'close') {
    socket.close(() => parentPort.close());
  }
});

socket.once('error', (err) => parentPort.postMessage({ type: 'error', code: err.code, message: err.message }));
socket.bind({ address: host, port, exclusive: true }, () => {
  socket.removeAllListeners('error');
  socket.on('error', (err) => parentPort.postMessage({ type: 'warning', message: err.message }));
  parentPort.postMessage({ type: 'listening', port: socket.address().port, granted: socket.getRecvBufferSize() });
});
`;

export interface UdpBatch {
  /** Records as described above; a view of the transferred buffer. */
  data: Buffer;
  records: number;
  /** When the thread handed the batch over, ms since the epoch. */
  received: number;
  /** Datagrams the thread dropped since the last batch, by sender address as the socket reported it. */
  dropped: Record<string, number> | null;
}

export interface UdpReceiveThreadOptions {
  host: string;
  port: number;
  type: 'udp4' | 'udp6';
  recvBufferSize: number;
  /** Cap on bytes handed over and not yet taken by the main thread. */
  maxPendingBytes: number;
}

/** Bytes of datagrams (with their addresses) that may wait for a stalled main thread: about two seconds at 100,000 messages/s. */
export const DEFAULT_MAX_PENDING_BYTES = 32 * 1024 * 1024;

type FromThread =
  | { type: 'listening'; port: number; granted: number }
  | { type: 'error'; code?: string; message: string }
  | { type: 'warning'; message: string }
  | { type: 'rcvbuf'; granted: number }
  | ({ type: 'batch'; data: Uint8Array } & Omit<UdpBatch, 'data'>);

/** The main thread's side of one receive thread. */
export class UdpReceiveThread {
  private readonly worker: Worker;
  private exited: Promise<void>;
  private closing = false;
  /** Called when the thread ended without being asked to (it cannot, short of a bug; the listener then starts a new one). */
  onUnexpectedExit: (() => void) | undefined;
  port = 0;
  /** What the kernel reports for SO_RCVBUF: twice the bytes it grants (the rest is its bookkeeping). */
  reportedRecvBuffer = 0;

  private constructor(
    opts: UdpReceiveThreadOptions,
    private readonly onBatch: (batch: UdpBatch) => void,
    private readonly onWarning: (message: string) => void,
  ) {
    // No inherited flags: the thread is plain CommonJS, whatever loader or input type started the process.
    this.worker = new Worker(THREAD_SOURCE, { eval: true, workerData: opts, execArgv: [] });
    this.exited = new Promise((resolve) =>
      this.worker.once('exit', () => {
        resolve();
        if (!this.closing) this.onUnexpectedExit?.();
      }),
    );
  }

  /** Starts the thread and binds; rejects with the socket's error (its `code` kept) when binding fails. */
  static start(
    opts: UdpReceiveThreadOptions,
    onBatch: (batch: UdpBatch) => void,
    onWarning: (message: string) => void,
  ): Promise<UdpReceiveThread> {
    const t = new UdpReceiveThread(opts, onBatch, onWarning);
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      t.worker.once('error', onError);
      t.worker.on('message', (m: FromThread) => {
        switch (m.type) {
          case 'listening':
            t.port = m.port;
            t.reportedRecvBuffer = m.granted;
            t.worker.off('error', onError);
            t.worker.on('error', (err) => onWarning(`udp receive thread failed: ${err.message}`));
            resolve(t);
            break;
          case 'error': {
            const err = new Error(m.message) as NodeJS.ErrnoException;
            err.code = m.code;
            t.closing = true;
            void t.worker.terminate();
            reject(err);
            break;
          }
          case 'warning':
            t.onWarning(m.message);
            break;
          case 'rcvbuf':
            t.reportedRecvBuffer = m.granted;
            break;
          case 'batch':
            t.onBatch({ data: Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength), records: m.records, received: m.received, dropped: m.dropped });
            t.worker.postMessage({ type: 'ack', bytes: m.data.byteLength });
            break;
        }
      });
    });
  }

  setRecvBufferSize(bytes: number): Promise<number> {
    return new Promise((resolve) => {
      const onMessage = (m: FromThread) => {
        if (m.type !== 'rcvbuf' && m.type !== 'warning') return;
        this.worker.off('message', onMessage);
        resolve(this.reportedRecvBuffer);
      };
      this.worker.on('message', onMessage);
      this.worker.postMessage({ type: 'rcvbuf', bytes });
    });
  }

  /** Closes the socket and ends the thread. */
  async close(): Promise<void> {
    this.closing = true;
    this.worker.postMessage({ type: 'close' });
    const timer = setTimeout(() => void this.worker.terminate(), 2000);
    await this.exited;
    clearTimeout(timer);
  }
}
