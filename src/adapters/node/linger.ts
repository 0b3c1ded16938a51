/**
 * @module
 * Lingering close for the Node server. An answer that closes the connection before the request
 * body was read (a 413 on a declared Content-Length) would otherwise be followed by a TCP reset
 * as soon as the client's unread bytes reach a closed socket, and a client still writing its body
 * then sees EPIPE or ECONNRESET instead of the answer. Like nginx's lingering_close, the server
 * sends its answer and a FIN, keeps reading and dropping what the client still sends, and closes
 * once the client closes its side or `lingerMs` has passed.
 */
import type { Server } from "node:http";
import type { Socket } from "node:net";

type ClosingSocket = Socket & { destroySoon?: () => void };

export function lingerBeforeClose(server: Server, lingerMs = 2000): void {
  server.on("connection", (socket: ClosingSocket) => {
    const destroySoon = socket.destroySoon;
    if (typeof destroySoon !== "function") return;
    // Node's HTTP server calls destroySoon() after the last answer on a connection.
    socket.destroySoon = function lingeringDestroy(this: ClosingSocket) {
      // Nothing more can arrive: Node's own end-then-destroy.
      if (this.destroyed || this.readableEnded) return destroySoon.call(this);
      const timer = setTimeout(() => this.destroy(), lingerMs);
      timer.unref();
      this.once("close", () => clearTimeout(timer));
      this.once("end", () => this.destroy());
      this.end();
      this.resume();
    };
  });
}
