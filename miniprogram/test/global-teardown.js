// Stop the backend (it drops its database and empties its Redis database on the way out).
const fs = require('fs')

module.exports = async function globalTeardown () {
  const backend = globalThis.__WD_BACKEND__
  if (!backend) return
  const exited = new Promise(resolve => backend.child.on('exit', resolve))
  backend.child.kill('SIGTERM')
  const timer = setTimeout(() => backend.child.kill('SIGKILL'), 20000)
  await exited
  clearTimeout(timer)
  fs.rmSync(backend.file, { force: true })
}
