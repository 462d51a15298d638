// Builds miniprogram_npm/ from node_modules the way WeChat DevTools' "构建 npm" does: each
// runtime dependency's "miniprogram" folder (package.json field) is copied to
// miniprogram_npm/<name>/. Run by `npm ci` (postinstall) so tests and DevTools see the same files.
const fs = require('fs')
const path = require('path')

const root = __dirname
const pkg = require(path.join(root, 'package.json'))

for (const name of Object.keys(pkg.dependencies || {})) {
  const dir = path.join(root, 'node_modules', name)
  const meta = require(path.join(dir, 'package.json'))
  const source = path.join(dir, meta.miniprogram || 'miniprogram_dist')
  const target = path.join(root, 'miniprogram_npm', name)
  fs.rmSync(target, { recursive: true, force: true })
  fs.cpSync(source, target, { recursive: true })
  console.log(`miniprogram_npm/${name} <- ${path.relative(root, source)}`)
}
