// Start the real backend (Flask app, WeChat sandbox, a fresh PostgreSQL database, Redis) once
// for all test files; its JSON line (URL, QR tokens, binding codes) goes to a file the tests read.
const { spawn } = require('child_process')
const fs = require('fs')
const os = require('os')
const path = require('path')

const REPO = path.resolve(__dirname, '..', '..')

module.exports = async function globalSetup () {
  const python = process.env.WAGEDISPUTE_PYTHON || path.join(REPO, '.venv', 'bin', 'python')
  const log = path.join(os.tmpdir(), `wagedispute-miniprogram-backend-${process.pid}.log`)
  const child = spawn(python, [path.join(__dirname, 'backend.py')], {
    cwd: REPO,
    stdio: ['pipe', 'pipe', fs.openSync(log, 'w')]
  })
  const line = await new Promise((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error(`backend did not start in 90 s; see ${log}`)), 90000)
    child.stdout.on('data', chunk => {
      out += chunk
      const end = out.indexOf('\n')
      if (end >= 0) {
        clearTimeout(timer)
        resolve(out.slice(0, end))
      }
    })
    child.on('exit', code => {
      clearTimeout(timer)
      reject(new Error(`backend exited with ${code}; see ${log}`))
    })
  })
  const file = path.join(os.tmpdir(), `wagedispute-miniprogram-backend-${process.pid}.json`)
  fs.writeFileSync(file, line)
  process.env.WD_BACKEND_FILE = file
  globalThis.__WD_BACKEND__ = { child, file, log }
}
