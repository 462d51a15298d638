/** @jest-environment jsdom */
// The backend goes away while a worker fills in the form: refused connections, a timeout, a
// gateway's 502 and a 429 each show a Chinese message, nothing typed is lost (not even when
// the page is opened again), and once the backend is back the same submission files one case.
const { backend, phone, open, lastNavigation } = require('./harness.js')
const { startProxy } = require('./proxy.js')
const config = require('../config.js')
const api = require('../request.js')

let proxy

beforeEach(async () => {
  proxy = await startProxy(backend().url)
})

afterEach(async () => {
  config.timeoutSeconds = 15
  await proxy.stop()
})

async function fill (form) {
  await form.type('#name', '周小红')
  await form.type('#mobile', '13500135000')
  await form.type('#amount', '9600')
  await form.type('#workers', '1')
  await form.change('#month-start', '2026-08')
  await form.type('#site', '梅沙街道某酒店装修工地')
  await form.type('#description', '装修工，8月到现在的工资没结')
}

function expectKept (form) {
  expect(form.data.form.name).toBe('周小红')
  expect(form.data.form.mobile).toBe('13500135000')
  expect(form.data.form.amount_yuan).toBe('9600')
  expect(form.data.form.month_start).toBe('2026-08')
  expect(form.data.form.description).toBe('装修工，8月到现在的工资没结')
}

test('offline journey: the backend down mid-form loses nothing and files once when back', async () => {
  const { foremen } = backend()
  const foreman = foremen.find(f => f.name === '周丽萍')
  const wx = phone('o-offline-journey', proxy.url)
  // The worker signed in earlier (looked at "my cases"), then the network goes mid-form.
  await api.signInWorker()
  const form = await open('/pages/worker/complaint/index?token=' + foreman.qr_token)
  await fill(form)
  const key = wx.getStorageSync('wd_draft:' + foreman.qr_token).key

  await proxy.set('down')
  await form.tap('#submit')
  expect(form.text).toContain('网络连接失败，请检查手机网络后重试。您填写的内容已保留。')
  expect(form.data.submitting).toBe(false)
  expectKept(form)

  // The worker closes the page and opens it again: the draft and its key are still there.
  const reopened = await open('/pages/worker/complaint/index?token=' + foreman.qr_token)
  expectKept(reopened)
  expect(wx.getStorageSync('wd_draft:' + foreman.qr_token).key).toBe(key)

  await proxy.set('hang')
  config.timeoutSeconds = 1
  await reopened.tap('#submit')
  expect(reopened.data.error).toBe('网络太慢，请求超时，请稍后重试。您填写的内容已保留。')
  expectKept(reopened)

  await proxy.set('gateway')
  await reopened.tap('#submit')
  expect(reopened.data.error).toBe('服务器暂时出了问题，请稍后重试。您填写的内容已保留。')
  expectKept(reopened)

  await proxy.set('limited')
  await reopened.tap('#submit')
  expect(reopened.data.error).toBe('操作太频繁，请 30 秒后再试。')
  expectKept(reopened)

  // Back up: the same key files exactly one case, and the draft is gone.
  config.timeoutSeconds = 15
  await proxy.set('up')
  await reopened.tap('#submit')
  expect(reopened.data.error).toBe('')
  const number = /number=([^&]+)/.exec(lastNavigation())[1]
  expect(wx.getStorageSync('wd_draft:' + foreman.qr_token)).toBe('')
  const mine = await api.request('GET', '/api/v1/complaints', null, { role: 'complainant' })
  expect(mine.cases.map(c => c.number)).toEqual([number])
  // Every attempt carried the same Idempotency-Key.
  const posted = wx.__state.requests.filter(r => r.method === 'POST' && r.url.endsWith('/api/v1/complaints'))
  expect(posted).toHaveLength(5)
  expect(new Set(posted.map(r => r.headers['Idempotency-Key']))).toEqual(new Set([key]))

  // The wages came in the meantime: the worker adds a photo, then withdraws (after confirming).
  const page = await open('/pages/worker/case/index?number=' + number)
  wx.__state.media.push(require('./harness.js').PHOTO)
  await page.tap('#add-photo')
  expect(page.text).toContain('已上传 1 张照片')
  wx.__state.modalConfirms = false
  await page.tap('#withdraw')
  expect(page.data.item.status).toBe('received')
  wx.__state.modalConfirms = true
  await page.tap('#withdraw')
  expect(page.data.item.status).toBe('withdrawn')
  expect(page.text).toContain('投诉已撤回')
  expect(page.has('#withdraw')).toBe(false)
})

test('a refusal keeps the form and shows the server\'s words beside the field', async () => {
  const { foremen } = backend()
  const foreman = foremen.find(f => f.name === '周丽萍')
  phone('o-offline-refusal', proxy.url)
  const form = await open('/pages/worker/complaint/index?token=' + foreman.qr_token)
  await fill(form)
  await form.type('#mobile', '12345678901')
  await form.tap('#submit')
  expect(form.data.errors.mobile).toMatch(/手机号码/)
  expect(form.data.form.name).toBe('周小红')
  expect(form.text).toContain(form.data.errors.mobile)
})
