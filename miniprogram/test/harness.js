// Load mini-program pages in miniprogram-simulate against the real backend, and act on them
// as a person would: type into inputs, tap buttons, follow navigations.
const fs = require('fs')
const path = require('path')
const simulate = require('miniprogram-simulate')
const { createWx, removeScratch } = require('./wx.js')

const ROOT = path.resolve(__dirname, '..')
const PHOTO = path.join(__dirname, 'fixtures', 'payslip.png')
const LOADED = {}

// Each test file that uses the harness removes the files its pages downloaded.
afterAll(removeScratch)

function backend () {
  return JSON.parse(fs.readFileSync(process.env.WD_BACKEND_FILE, 'utf8'))
}

// A fresh phone: its own storage and openid; the request module's base URL set to `url`.
function phone (openid, url) {
  global.wx = createWx({ openid })
  require('../config.js').apiBaseUrl = url || backend().url
  require('../subscribe.js').reset()
  return global.wx
}

// Wait until every request the page started (and the ones they led to) has finished.
async function settle (limitMs = 30000) {
  const started = Date.now()
  let quiet = 0
  while (quiet < 5) {
    await new Promise(resolve => setTimeout(resolve, 2))
    quiet = global.wx.__state.pending === 0 ? quiet + 1 : 0
    if (Date.now() - started > limitMs) throw new Error('the page kept waiting for the network')
  }
}

class Page {
  constructor (url) {
    const [route, qs] = url.split('?')
    this.route = route.replace(/^\//, '')
    this.query = Object.fromEntries(new URLSearchParams(qs || ''))
    // Jest keeps a page's module after the first load (the simulator's require-cache trick
    // does not apply), so each page is registered once and rendered afresh every time.
    if (!LOADED[this.route]) {
      LOADED[this.route] = simulate.load(path.join(ROOT, this.route), { rootPath: ROOT })
    }
    this.comp = simulate.render(LOADED[this.route])
    this.comp.attach(document.createElement('parent-wrapper'))
  }

  get data () { return this.comp.instance.data }
  get text () { return this.comp.dom.textContent.replace(/\s+/g, ' ') }
  get html () { return this.comp.dom.innerHTML }

  async load () {
    await this.comp.instance.onLoad(this.query)
    await settle()
    return this
  }

  find (selector) {
    const node = this.comp.querySelector(selector)
    if (!node) throw new Error(`${this.route}: nothing matches ${selector}`)
    return node
  }

  has (selector) {
    return !!this.comp.querySelector(selector)
  }

  async tap (selector) {
    this.find(selector).dispatchEvent('tap')
    await settle()
  }

  // Tap the n-th element matching a class selector (the stars of a rating, one of a list).
  async tapNth (selector, n) {
    const nodes = this.comp.querySelectorAll(selector)
    if (!nodes[n]) throw new Error(`${this.route}: no ${selector} number ${n}`)
    nodes[n].dispatchEvent('tap')
    await settle()
  }

  async type (selector, value) {
    this.find(selector).dispatchEvent('input', { detail: { value } })
    await settle()
  }

  async change (selector, value) {
    this.find(selector).dispatchEvent('change', { detail: { value } })
    await settle()
  }

  async event (selector, name, detail) {
    this.find(selector).dispatchEvent(name, { detail })
    await settle()
  }

  async call (method, ...args) {
    const out = await this.comp.instance[method](...args)
    await settle()
    return out
  }
}

async function open (url) {
  return new Page(url).load()
}

// Where the last navigation went (a page URL), and the page it leads to.
function lastNavigation () {
  const navs = global.wx.__state.navigations
  return navs.length ? navs[navs.length - 1].url : ''
}

async function follow () {
  return open(lastNavigation())
}

module.exports = { ROOT, PHOTO, backend, phone, settle, open, follow, lastNavigation, Page }
