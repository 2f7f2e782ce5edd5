// What the server has saved of this browser's changes, and what it refused. The server
// relays an update to everyone, its sender included, only once it is committed to the
// store, and its sync step 1 carries the state it holds: either tells how far this
// browser's changes are saved. A refusal (a locked board, a viewer link) arrives as the
// Yjs permission-denied message and, for clients that said hello, an application error.
import * as decoding from "lib0/decoding";
import type { WebsocketProvider } from "y-websocket";
import * as Y from "yjs";
import type { AppChannel } from "./app-channel";

/** What Delivery reads of the board (board.ts builds it, so it cannot import `Board`). */
export interface DeliverySource {
  doc: Y.Doc;
  provider: WebsocketProvider;
  app: AppChannel;
}

type MessageHandler = (encoder: unknown, decoder: decoding.Decoder, provider: unknown, emitSynced: boolean, messageType: number) => void;

const MSG_SYNC = 0;
const MSG_AUTH = 2;
const SYNC_STEP1 = 0;

export class Delivery {
  readonly #board: DeliverySource;
  /** Clock of this document's own client up to which the server holds its changes. */
  #saved = 0;
  /** The server's reason for refusing this browser's changes, until they are saved. */
  refusal = "";
  #listeners = new Set<() => void>();

  constructor(board: DeliverySource) {
    this.#board = board;
    const handlers = board.provider.messageHandlers as unknown as MessageHandler[];
    const sync = handlers[MSG_SYNC];
    handlers[MSG_SYNC] = (encoder, decoder, provider, emitSynced, type) => {
      this.#peek(decoding.clone(decoder));
      sync(encoder, decoder, provider, emitSynced, type);
      this.#emit();
    };
    // Replaces y-websocket's handler, which only writes the reason to the console.
    handlers[MSG_AUTH] = (_encoder, decoder) => {
      const kind = decoding.readVarUint(decoder);
      if (kind === 0) this.#refused(decoding.readVarString(decoder));
    };
    board.app.on("error", (m) => {
      // The server's refusal of document changes (a lock, a viewer link) says they are
      // not saved; other refusals (a command of the facilitator's) are not about them.
      if (m.code === "forbidden" && /not saved/.test(m.message) && this.unsaved() > 0) this.#refused(m.message);
    });
    board.app.on("board_state", () => this.#emit());
    board.doc.on("afterTransaction", (tr: Y.Transaction) => {
      if (tr.local) this.#emit();
    });
  }

  /** Clock of this browser's changes now (what `saved` must reach). */
  clock(): number {
    return Y.getState(this.#board.doc.store, this.#board.doc.clientID);
  }

  /** Whether every change of this browser up to `clock` is saved on the server. */
  saved(clock: number): boolean {
    return this.#saved >= clock;
  }

  /** How many of this browser's changes (Yjs clock ticks) the server does not hold yet. */
  unsaved(): number {
    return Math.max(0, this.clock() - this.#saved);
  }

  onChange(fn: () => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  #emit(): void {
    if (this.refusal && this.unsaved() === 0) this.refusal = "";
    for (const fn of this.#listeners) fn();
  }

  #refused(reason: string): void {
    this.refusal = reason;
    console.info(`Commonboard: change refused: ${reason}`);
    this.#emit();
  }

  /** Reads how far the server holds this client's changes from a sync message. */
  #peek(d: decoding.Decoder): void {
    try {
      const kind = decoding.readVarUint(d);
      const payload = decoding.readVarUint8Array(d);
      const me = this.#board.doc.clientID;
      const held = kind === SYNC_STEP1 ? Y.decodeStateVector(payload).get(me) : Y.parseUpdateMeta(payload).to.get(me);
      if (held !== undefined && held > this.#saved) this.#saved = held;
    } catch {
      /* y-websocket reports a malformed message itself */
    }
  }
}
