import { Worker } from 'node:worker_threads';

/**
 * A thread that does nothing but empty one UDP socket. UDP cannot slow its
 * sender: every moment the kernel's receive buffer is not read, datagrams
 * pile up in it, and once it is full they are lost. On the main thread the
 * filters, a ban written to SQLite or a garbage collection can each hold the
 * event loop for tens of milliseconds, and at 100,000 messages/s the few
 * thousand small datagrams a 4 MiB buffer holds (the kernel charges far more
 * than the payload per datagram) are gone in that time. This thread keeps
 * reading meanwhile.
 *
 * It hands the datagrams over through a ring in shared memory, not through
 * messages: a message per batch cost the thread more than reading the
 * socket (at 20,000 datagrams/s a batch holds a handful of them, and each
 * was serialised, posted, woken for and acknowledged). Now the thread copies
 * a datagram into the ring and moves the ring's tail; the main thread reads
 * from its head whenever it likes, as much as has arrived, straight out of
 * shared memory, and wakes on `Atomics.waitAsync` only when the ring was
 * empty. A busy main thread thus takes ever larger batches at no extra cost.
 *
 * The ring holds records, each starting with a u16 tag:
 *   N (1..MAX_ADDRESS)  sender address of N latin1 bytes, u32 length, datagram
 *   0                   same sender as the record before, u32 length, datagram
 *   STAMP               f64: ms since the epoch when the datagrams after it arrived
 *   WRAP                the rest of the ring is unused; go on at offset 0
 *                       (also implied when fewer than 2 bytes are left)
 * Records never wrap, so the main thread decodes each datagram in place.
 *
 * The ring's size caps the bytes waiting for a main thread that stalls:
 * when it is full the thread drops datagrams and reports how many per
 * sender (overload), so memory never grows without end and nothing is lost
 * in silence.
 *
 * The thread's code is plain JavaScript in a string, so it runs the same
 * from the built package, under tsx and under the test runner.
 */
/** Nice value the receive thread asks for (needs CAP_SYS_NICE; the service's other threads keep theirs). */
const RECEIVE_NICE = -10;
/** A turn of the thread's event loop that read fewer datagrams than this (libuv reads at most 32 per wake-up) is followed by a 1 ms nap. */
const NAP_BELOW = 32;

const THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const dgram = require('node:dgram');
const { host, port, type, recvBufferSize, ring, control } = workerData;
const HEAD = ${0}, TAIL = ${1}, SEQ = ${2};
const SAME = 0, STAMP = ${0xfffe}, WRAP = ${0xffff};
const buf = Buffer.from(ring);
const ctl = new Int32Array(control);
const size = buf.length;

const socket = dgram.createSocket({ type, recvBufferSize });

// This thread's work is small and bounded (a copy per datagram), but it must
// never be late: on a busy host the scheduler can leave it waiting longer than
// the kernel's buffer lasts. It asks for a higher priority for itself alone
// (its thread id, not the process); without the privilege it stays as it is.
let nice = null;
try {
  const os = require('node:os');
  const tid = Number(require('node:fs').readlinkSync('/proc/thread-self').split('/').pop());
  try { os.setPriority(tid, ${RECEIVE_NICE}); } catch {}
  nice = os.getPriority(tid);
} catch {}

// A higher priority wakes it for every datagram; napping a millisecond after a
// turn that found the socket nearly empty lets the kernel gather the next ones
// (a millisecond is a few hundred datagrams at most, far below the buffer).
const nap = new Int32Array(new SharedArrayBuffer(4));
let inTurn = 0;
let tail = 0;             // only this thread moves it; published in ctl[TAIL]
let lastAddr = '';
let stampDue = true;      // the first datagram of each event-loop turn is preceded by its arrival time
let dropped = null;       // sender -> datagrams dropped for a full ring, since the last report
let scheduled = false;

/** Offset where \`need\` bytes fit, moving the tail past a WRAP, or -1 when the ring is full. */
function reserve(need) {
  const head = Atomics.load(ctl, HEAD);
  if (tail >= head) {
    // Free: [tail, size) and [0, head - 1). The tail may reach the end only if the head has left 0 (else full looks empty).
    if (tail + need < size || (tail + need === size && head !== 0)) return tail;
    if (need >= head) return -1;
    if (tail + 2 <= size) buf.writeUInt16LE(WRAP, tail);
    tail = 0;
    return 0;
  }
  return tail + need < head ? tail : -1;
}

function advance(to) {
  tail = to === size ? 0 : to;
  Atomics.store(ctl, TAIL, tail);
}

socket.on('message', (msg, rinfo) => {
  inTurn++;
  if (stampDue) {
    const at = reserve(10);
    if (at >= 0) {
      buf.writeUInt16LE(STAMP, at);
      buf.writeDoubleLE(Date.now(), at + 2);
      advance(at + 10);
      stampDue = false;
    }
  }
  const addr = rinfo.address;
  const same = addr === lastAddr;
  const need = 6 + (same ? 0 : addr.length) + msg.length;
  const at = reserve(need);
  if (at < 0) {
    if (dropped === null) dropped = new Map();
    dropped.set(addr, (dropped.get(addr) || 0) + 1);
  } else {
    let p = at + 2;
    if (same) buf.writeUInt16LE(SAME, at);
    else {
      buf.writeUInt16LE(addr.length, at);
      buf.latin1Write(addr, p);
      p += addr.length;
      lastAddr = addr;
    }
    buf.writeUInt32LE(msg.length, p);
    msg.copy(buf, p + 4);
    advance(p + 4 + msg.length);
  }
  if (!scheduled) {
    scheduled = true;
    setImmediate(endOfTurn);
  }
});

/** After what one turn of the event loop read: wake the main thread if it waits, report drops. */
function endOfTurn() {
  scheduled = false;
  stampDue = true;
  const read = inTurn;
  inTurn = 0;
  Atomics.add(ctl, SEQ, 1);
  Atomics.notify(ctl, SEQ);
  if (dropped !== null) {
    parentPort.postMessage({ type: 'dropped', counts: Object.fromEntries(dropped) });
    dropped = null;
  }
  if (read < ${NAP_BELOW}) Atomics.wait(nap, 0, 0, 1);
}

parentPort.on('message', (m) => {
  if (m.type === 'rcvbuf') {
    try {
      socket.setRecvBufferSize(m.bytes);
      parentPort.postMessage({ type: 'rcvbuf', granted: socket.getRecvBufferSize() });
    } catch (err) {
      parentPort.postMessage({ type: 'warning', message: String(err && err.message) });
    }
  } else if (m.type === 'close') {
    socket.close(() => {
      if (scheduled) endOfTurn();
      parentPort.close();
    });
  }
});

socket.once('error', (err) => parentPort.postMessage({ type: 'error', code: err.code, message: err.message }));
socket.bind({ address: host, port, exclusive: true }, () => {
  socket.removeAllListeners('error');
  socket.on('error', (err) => parentPort.postMessage({ type: 'warning', message: err.message }));
  parentPort.postMessage({ type: 'listening', port: socket.address().port, granted: socket.getRecvBufferSize(), nice });
});
`;

const HEAD = 0;
const TAIL = 1;
const SEQ = 2;
const SAME = 0;
const STAMP = 0xfffe;
const WRAP = 0xffff;

/** Visits one datagram: its bytes are `buf[start, end)`, valid only during the call (the ring reuses them after). */
export type DatagramVisitor = (buf: Buffer, start: number, end: number, from: string, received: number) => void;

export interface UdpReceiveThreadOptions {
  host: string;
  port: number;
  type: 'udp4' | 'udp6';
  recvBufferSize: number;
  /** Size of the ring: the bytes (datagrams with 6 to 52 bytes of framing each) that may wait for a stalled main thread. */
  maxPendingBytes: number;
}

export interface UdpReceiveThreadEvents {
  /** Datagrams wait in the ring (once per `arm`; `read` them, then `arm` again). */
  onReadable: () => void;
  /** Datagrams the thread dropped for a full ring, by sender address as the socket reported it. */
  onDropped: (counts: Record<string, number>) => void;
  onWarning: (message: string) => void;
}

/** Bytes of datagrams (with their addresses) that may wait for a stalled main thread: about two seconds at 100,000 messages/s. */
export const DEFAULT_MAX_PENDING_BYTES = 32 * 1024 * 1024;

type FromThread =
  | { type: 'listening'; port: number; granted: number; nice: number | null }
  | { type: 'error'; code?: string; message: string }
  | { type: 'warning'; message: string }
  | { type: 'rcvbuf'; granted: number }
  | { type: 'dropped'; counts: Record<string, number> };

/** Atomics.waitAsync (Node 16 and later); the project's TypeScript library predates its declaration. */
const waitAsync = (Atomics as unknown as {
  waitAsync(a: Int32Array, index: number, value: number): { async: false; value: string } | { async: true; value: Promise<string> };
}).waitAsync;

/** The main thread's side of one receive thread: the reader of its ring. */
export class UdpReceiveThread {
  private readonly worker: Worker;
  private exited: Promise<void>;
  private closing = false;
  private readonly buf: Buffer;
  private readonly ctl: Int32Array;
  private head = 0;
  private from = '';
  private received = Date.now();
  private armed = false;
  /** Called when the thread ended without being asked to (it cannot, short of a bug; the listener then starts a new one). */
  onUnexpectedExit: (() => void) | undefined;
  port = 0;
  /** What the kernel reports for SO_RCVBUF: twice the bytes it grants (the rest is its bookkeeping). */
  reportedRecvBuffer = 0;
  /** The receive thread's nice value (RECEIVE_NICE when it was allowed to raise its priority), null where unknown. */
  nice: number | null = null;

  private constructor(
    opts: UdpReceiveThreadOptions,
    private readonly events: UdpReceiveThreadEvents,
  ) {
    const ring = new SharedArrayBuffer(opts.maxPendingBytes);
    const control = new SharedArrayBuffer(4 * Int32Array.BYTES_PER_ELEMENT);
    this.buf = Buffer.from(ring);
    this.ctl = new Int32Array(control);
    // No inherited flags: the thread is plain CommonJS, whatever loader or input type started the process.
    this.worker = new Worker(THREAD_SOURCE, { eval: true, workerData: { ...opts, ring, control }, execArgv: [] });
    this.exited = new Promise((resolve) =>
      this.worker.once('exit', () => {
        resolve();
        if (!this.closing) this.onUnexpectedExit?.();
      }),
    );
  }

  /** Starts the thread and binds; rejects with the socket's error (its `code` kept) when binding fails. */
  static start(opts: UdpReceiveThreadOptions, events: UdpReceiveThreadEvents): Promise<UdpReceiveThread> {
    const t = new UdpReceiveThread(opts, events);
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      t.worker.once('error', onError);
      t.worker.on('message', (m: FromThread) => {
        switch (m.type) {
          case 'listening':
            t.port = m.port;
            t.reportedRecvBuffer = m.granted;
            t.nice = m.nice;
            t.worker.off('error', onError);
            t.worker.on('error', (err) => events.onWarning(`udp receive thread failed: ${err.message}`));
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
            events.onWarning(m.message);
            break;
          case 'rcvbuf':
            t.reportedRecvBuffer = m.granted;
            break;
          case 'dropped':
            events.onDropped(m.counts);
            break;
        }
      });
    });
  }

  /**
   * Visits up to `max` datagrams in arrival order and frees their room in
   * the ring; returns how many it visited (fewer than `max`: the ring is
   * empty for now).
   */
  read(max: number, visit: DatagramVisitor): number {
    const { buf, ctl } = this;
    const size = buf.length;
    const tail = Atomics.load(ctl, TAIL);
    let head = this.head;
    let n = 0;
    try {
      while (head !== tail && n < max) {
        if (head + 2 > size) {
          head = 0;
          continue;
        }
        const tag = buf.readUInt16LE(head);
        if (tag === WRAP) {
          head = 0;
          continue;
        }
        if (tag === STAMP) {
          this.received = buf.readDoubleLE(head + 2);
          head += 10;
          continue;
        }
        let at = head + 2;
        if (tag !== SAME) {
          this.from = buf.toString('latin1', at, at + tag);
          at += tag;
        }
        const len = buf.readUInt32LE(at);
        at += 4;
        // Past the datagram before the visit: a visitor that throws loses only its own datagram.
        head = at + len;
        n++;
        visit(buf, at, at + len, this.from, this.received);
      }
    } finally {
      this.head = head === size ? 0 : head;
      Atomics.store(ctl, HEAD, this.head);
    }
    return n;
  }

  /** Calls `onReadable` once datagrams wait (at once if some do already). */
  arm(): void {
    if (this.armed) return;
    this.armed = true;
    const seen = Atomics.load(this.ctl, SEQ);
    const fire = () => {
      this.armed = false;
      this.events.onReadable();
    };
    if (Atomics.load(this.ctl, TAIL) !== this.head) {
      setImmediate(fire);
      return;
    }
    const w = waitAsync(this.ctl, SEQ, seen);
    if (w.async) void w.value.then(fire);
    else setImmediate(fire);
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

  /** Closes the socket and ends the thread; what it had read stays in the ring for `read`. */
  async close(): Promise<void> {
    this.closing = true;
    this.worker.postMessage({ type: 'close' });
    const timer = setTimeout(() => void this.worker.terminate(), 2000);
    await this.exited;
    clearTimeout(timer);
  }
}
