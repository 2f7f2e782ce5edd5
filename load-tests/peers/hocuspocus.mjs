// Starts a Hocuspocus server for `commonboard-load compare`, with no extensions (no
// persistence, no auth check), on HOST:PORT (default 127.0.0.1:1234). Only its own
// HTTP server is used, so that it listens on the given address and nowhere else.
import http from 'node:http'
import { WebSocketServer } from 'ws'
import { Hocuspocus } from '@hocuspocus/server'

const host = process.env.HOST || '127.0.0.1'
const port = Number(process.env.PORT || 1234)

const hocuspocus = new Hocuspocus({ quiet: true })
const server = http.createServer((_request, response) => {
  response.writeHead(200, { 'Content-Type': 'text/plain' })
  response.end('hocuspocus')
})
const sockets = new WebSocketServer({ noServer: true })
server.on('upgrade', (request, socket, head) => {
  sockets.handleUpgrade(request, socket, head, (ws) => {
    hocuspocus.handleConnection(ws, request)
  })
})
server.listen(port, host, () => {
  console.log(`listening on ws://${host}:${port}`)
})

const stop = () => {
  sockets.close()
  server.close(() => process.exit(0))
  setTimeout(() => process.exit(0), 2000).unref()
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
