// A TCP proxy in front of the real backend, to take the backend away mid-journey the way a
// phone sees it: refused connections (down), a server that never answers (hang), or a gateway
// answering for a dead backend (502) or a rate limit (429).
const net = require('net')

async function startProxy (backendUrl) {
  const target = new URL(backendUrl)
  const state = { mode: 'up', sockets: new Set() }
  let server = null

  function handle (client) {
    state.sockets.add(client)
    client.on('close', () => state.sockets.delete(client))
    client.on('error', () => {})
    if (state.mode === 'hang') return
    if (state.mode === 'gateway' || state.mode === 'limited') {
      client.once('data', () => {
        const body = state.mode === 'gateway'
          ? '<html><body>502 Bad Gateway</body></html>'
          : JSON.stringify({ error: { code: 'rate_limited', message: '操作过于频繁，请稍后再试', details: {} } })
        const head = state.mode === 'gateway'
          ? 'HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\n'
          : 'HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nRetry-After: 30\r\n'
        client.end(head + `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n` + body)
      })
      return
    }
    const upstream = net.connect(Number(target.port), target.hostname)
    upstream.on('error', () => client.destroy())
    client.pipe(upstream).pipe(client)
  }

  function listen (port) {
    return new Promise(resolve => {
      server = net.createServer(handle)
      server.listen(port || 0, '127.0.0.1', () => resolve(server.address().port))
    })
  }

  const port = await listen(0)
  return {
    url: `http://127.0.0.1:${port}`,
    // down: nothing listens on the port any more (connection refused).
    async set (mode) {
      if (mode === 'down') {
        await new Promise(resolve => server.close(resolve))
        for (const s of state.sockets) s.destroy()
      } else if (state.mode === 'down') {
        await listen(port)
      }
      state.mode = mode
    },
    async stop () {
      for (const s of state.sockets) s.destroy()
      if (state.mode !== 'down') await new Promise(resolve => server.close(resolve))
    }
  }
}

module.exports = { startProxy }
