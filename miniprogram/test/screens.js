/** @jest-environment jsdom */
// Renders the main page of each role, with real data from the backend, to PNG at 375 px wide
// (the simulated page's markup with its WXSS, rpx converted, in headless Chromium):
//
//     npx jest --testMatch '<rootDir>/test/screens.js'     # → ../docs/screenshots/*.png
//
// Not part of `npx jest` (it needs Chromium and writes files); the journeys test the pages.
const fs = require('fs')
const os = require('os')
const path = require('path')
const { spawnSync } = require('child_process')
const { PHOTO, ROOT, backend, phone, open } = require('./harness.js')
const { call, staffToken, fileComplaint, uploadRaw } = require('./api.js')

const OUT = process.env.SCREENSHOT_DIR || path.resolve(ROOT, '..', 'docs', 'screenshots')
const WORK = fs.mkdtempSync(path.join(os.tmpdir(), 'wd-screens-'))
const PYTHON = process.env.WAGEDISPUTE_PYTHON || path.resolve(ROOT, '..', '.venv', 'bin', 'python')

// WXSS → CSS: rpx at 375 px (750 rpx = the screen), `page` is the document.
function css (text) {
  return text
    .replace(/@import[^;]+;/g, '')
    .replace(/(-?\d*\.?\d+)rpx/g, (_, n) => `${(Number(n) / 2).toFixed(2)}px`)
    .replace(/(^|[\s,}])page(?=[\s,{.:[])/g, '$1body')
}

function styles (route) {
  const weui = fs.readFileSync(path.join(ROOT, 'miniprogram_npm/weui-miniprogram/weui-wxss/dist/style/weui.wxss'), 'utf8')
  const app = fs.readFileSync(path.join(ROOT, 'app.wxss'), 'utf8')
  const own = fs.readFileSync(path.join(ROOT, route + '.wxss'), 'utf8')
  // The WeUI components a page uses bring their own styles.
  const using = JSON.parse(fs.readFileSync(path.join(ROOT, route + '.json'), 'utf8')).usingComponents || {}
  const components = Object.values(using).map(rel => {
    const file = path.join(ROOT, path.dirname(route), rel + '.wxss')
    return fs.existsSync(file) ? css(fs.readFileSync(file, 'utf8')) : ''
  })
  return css(weui) + '\n' + components.join('\n') + '\n' + css(app) + '\n' + css(own)
}

// What an input shows: its value, else its placeholder (taken from the page's WXML).
function inputText (page, node, wxml) {
  const d = page.data
  const field = node.getAttribute('data-field')
  const index = node.getAttribute('data-index')
  const key = node.getAttribute('data-key')
  let value = ''
  if (field) value = (d.form && d.form[field] !== undefined ? d.form[field] : d[field]) || ''
  else if (index !== null && key) value = ((d.payments || d.instalments || [])[index] || {})[key] || ''
  else if (index !== null && d.form) value = (d.form.employers[index] || {}).name || ''
  const attr = field ? `data-field="${field}"` : key ? `data-key="${key}"` : 'data-index="{{index}}" bindinput'
  const element = wxml.split(/(?=<(?:input|textarea))/).find(part => part.includes(attr)) || ''
  const placeholder = (/placeholder="([^"]*)"/.exec(element) || [])[1] || ''
  return value ? { text: String(value), empty: false } : { text: placeholder.includes('{{') ? '' : placeholder, empty: true }
}

function html (page, title) {
  const wxml = fs.readFileSync(path.join(ROOT, page.route + '.wxml'), 'utf8')
  const dom = page.comp.dom.cloneNode(true)
  const live = page.comp.dom.querySelectorAll('wx-input, wx-textarea')
  dom.querySelectorAll('wx-input, wx-textarea').forEach((node, i) => {
    const shown = inputText(page, live[i], wxml)
    node.textContent = shown.text
    if (shown.empty) node.setAttribute('data-empty', '')
  })
  dom.querySelectorAll('wx-switch').forEach(node => { node.innerHTML = '<i></i>' })
  let body = dom.innerHTML
    .replace(/class="([^"]*)"/g, (_, names) => `class="${names.split(/\s+/).map(n => n.replace(/^[\w-]+?--/, '')).join(' ')}"`)
    .replace(/<(\/?)wx-text\b/g, '<$1span')
    .replace(/<(\/?)(wx-[a-z-]+|mp-[a-z-]+)\b/g, (_, slash, tag) => `<${slash}div data-tag="${tag}"`)
    .replace(/<\/div data-tag="[^"]*"/g, '</div')
  return `<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<style>${styles(page.route)}
body { margin: 0; font-family: "WenQuanYi Micro Hei", sans-serif; }
.nav { background: #1a56a8; color: #fff; text-align: center; font-size: 17px; height: 44px; line-height: 44px; }
[data-tag="wx-input"], [data-tag="wx-textarea"] { display: flex; align-items: center; }
[data-tag="wx-textarea"] { align-items: flex-start; }
[data-empty] { color: #9aa0a6; }
[data-tag="wx-button"] { display: flex; align-items: center; justify-content: center; }
[data-tag="wx-switch"] i { display: inline-block; width: 52px; height: 32px; border-radius: 16px; background: #e5e7eb; position: relative; }
[data-tag="wx-switch"] i::after { content: ""; position: absolute; left: 2px; top: 2px; width: 28px; height: 28px; border-radius: 14px; background: #fff; box-shadow: 0 1px 3px rgba(0,0,0,.3); }
[data-tag="wx-image"] { display: inline-block; }
</style></head><body><div class="nav">${title}</div>${body}</body></html>`
}

const shots = []
afterAll(() => fs.rmSync(WORK, { recursive: true, force: true }))
function keep (page, name, title) {
  const file = path.join(WORK, name + '.html')
  fs.writeFileSync(file, html(page, title))
  shots.push(file)
}

test('render the main pages of each role', async () => {
  const { foremen, members, revoked } = backend()
  const foreman = foremen.find(f => f.name === '陈海燕')
  const member = members.find(m => m.street_id === foreman.street_id)

  const wx = phone('o-screens-worker')
  const card = await open('/pages/report/index?scene=' + revoked.old)
  keep(card, 'worker-1-revoked-code', '工长名片')
  const form = await open('/pages/worker/complaint/index?token=' + foreman.qr_token)
  await form.type('#name', '王小明')
  await form.type('#amount', '18000')
  await form.type('#workers', '3')
  await form.change('#month-start', '2026-09')
  await form.change('#month-end', '2026-11')
  await form.tap('#submit')
  keep(form, 'worker-2-complaint-form', '填写投诉')

  const filed = await fileComplaint('o-screens-lead', foreman.qr_token)
  await fileComplaint('o-screens-lead-2', foreman.qr_token, { workers_affected: 2, amount_owed_fen: 960000, description: '两个月工资没发' })
  const foremanToken = await staffToken(foreman, 'o-screens-foreman')
  phone('o-screens-foreman')
  wx.setStorageSync('wd_role', 'foreman')
  global.wx.setStorageSync('wd_token', foremanToken)
  global.wx.setStorageSync('wd_role', 'foreman')
  const queue = await open('/pages/foreman/queue/index')
  keep(queue, 'foreman-1-queue', '待处理线索')
  const lead = await open('/pages/foreman/case/index?number=' + filed.number)
  keep(lead, 'foreman-2-lead', '线索处理')

  await call('POST', `/api/v1/foreman/cases/${filed.number}/dispatch`, { team_id: member.team_id, urgency: 'critical' }, foremanToken)
  const memberToken = await staffToken(member, 'o-screens-member')
  await call('POST', `/api/v1/team/cases/${filed.number}/accept`, undefined, memberToken)
  await call('POST', `/api/v1/team/cases/${filed.number}/notes`, { text: '已到现场，约总包明早核对工资表', contacted_worker: true, worker_visible: true }, memberToken)
  phone('o-screens-member')
  global.wx.setStorageSync('wd_token', memberToken)
  global.wx.setStorageSync('wd_role', 'team_member')
  const teamCase = await open('/pages/team/case/index?number=' + filed.number)
  keep(teamCase, 'team-1-case', '案件处置')
  const resolve = await open('/pages/team/resolve/index?number=' + filed.number)
  await resolve.tap('#outcome-paid_in_full')
  await resolve.type('#summary', '总包代发 12 人全部欠薪')
  await resolve.type('#payment-worker-0', '李大强')
  await resolve.type('#payment-amount-0', '30000')
  keep(resolve, 'team-2-resolve', '办结案件')

  const proof = await uploadRaw(`/api/v1/team/cases/${filed.number}/evidence`, fs.readFileSync(PHOTO), memberToken)
  await call('POST', `/api/v1/team/cases/${filed.number}/resolve`, {
    outcome: 'paid_in_full', summary: '总包代发 12 人全部欠薪', proof_evidence_ids: [proof.data.id],
    payments: [{ worker: '李大强', amount_fen: 3000000 }, { worker: '其余 11 人', amount_fen: 33000000 }]
  }, memberToken)
  phone('o-screens-lead')
  const outcome = await open('/pages/worker/case/index?number=' + filed.number)
  keep(outcome, 'worker-3-outcome', '案件进度')

  const run = spawnSync(PYTHON, [path.join(__dirname, 'screenshot.py'), OUT, ...shots], { encoding: 'utf8' })
  if (run.status !== 0) throw new Error(run.stderr)
  expect(run.stdout.trim().split('\n')).toHaveLength(shots.length)
})
