// Commonboard's application messages (JSON on message type 100) on the board's socket,
// next to the Yjs sync protocol: `hello` on every (re)connection, typed send and receive.
import * as decoding from "lib0/decoding";
import * as encoding from "lib0/encoding";
import type { WebsocketProvider } from "y-websocket";
import { APP_PROTOCOL_VERSION, MSG_APP, type ClientMessage, type ServerMessage } from "./generated/protocol";

export type ServerOf<T extends ServerMessage["type"]> = Extract<ServerMessage, { type: T }>;
type Handler = (m: ServerMessage) => void;
type MessageHandler = (
  encoder: encoding.Encoder,
  decoder: decoding.Decoder,
  provider: WebsocketProvider,
  emitSynced: boolean,
  messageType: number,
) => void;

export class AppChannel {
  #provider: WebsocketProvider;
  #handlers = new Map<string, Set<Handler>>();
  /** Server clock minus this browser's clock, in milliseconds (from the last `welcome`). */
  offsetMs = 0;

  constructor(provider: WebsocketProvider) {
    this.#provider = provider;
    const handlers = provider.messageHandlers as unknown as MessageHandler[];
    const read: MessageHandler = (encoder, decoder, p, emitSynced) => {
      this.#receive(decoding.readVarUint8Array(decoder));
      // Several messages may share a frame: y-websocket reads only the first one.
      while (decoding.hasContent(decoder)) {
        const type = decoding.readVarUint(decoder);
        const next = handlers[type];
        if (!next) return;
        next(encoder, decoder, p, emitSynced, type);
      }
    };
    handlers[MSG_APP] = read;
    provider.on("status", (e) => {
      if (e.status === "connected") this.send({ type: "hello", version: APP_PROTOCOL_VERSION });
    });
    if (provider.wsconnected) this.send({ type: "hello", version: APP_PROTOCOL_VERSION });
    this.on("welcome", (m) => {
      this.offsetMs = m.server_time_ms - Date.now();
    });
  }

  /** Server time now, in milliseconds since the Unix epoch. */
  serverNow(): number {
    return Date.now() + this.offsetMs;
  }

  /** Sends one message; false when the socket is not open (the message is dropped). */
  send(msg: ClientMessage): boolean {
    const ws = this.#provider.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    const enc = encoding.createEncoder();
    encoding.writeVarUint(enc, MSG_APP);
    encoding.writeVarUint8Array(enc, new TextEncoder().encode(JSON.stringify(msg)));
    ws.send(encoding.toUint8Array(enc));
    return true;
  }

  on<T extends ServerMessage["type"]>(type: T, handler: (m: ServerOf<T>) => void): () => void {
    let set = this.#handlers.get(type);
    if (!set) this.#handlers.set(type, (set = new Set()));
    set.add(handler as Handler);
    return () => set.delete(handler as Handler);
  }

  #receive(bytes: Uint8Array): void {
    let msg: ServerMessage;
    try {
      msg = JSON.parse(new TextDecoder().decode(bytes)) as ServerMessage;
    } catch {
      return;
    }
    if (!msg || typeof msg.type !== "string") return;
    for (const h of this.#handlers.get(msg.type) ?? []) {
      try {
        h(msg);
      } catch (err) {
        console.error(err);
      }
    }
  }
}
