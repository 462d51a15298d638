/** @jest-environment jsdom */
// A worker's journey, page by page, against the real backend: scan → foreman card →
// complaint with a photo → my cases → timeline → outcome with amounts and proof → confirm → rate.
const fs = require('fs')
const { PHOTO, backend, phone, open, follow, lastNavigation } = require('./harness.js')
const { call, staffToken, uploadRaw } = require('./api.js')

// The foreman and team handle the case the way their own journeys show, over HTTP.
async function handleToResolution (number, foreman, member) {
  const foremanToken = await staffToken(foreman, 'o-wj-foreman-' + foreman.id)
  const memberToken = await staffToken(member, 'o-wj-member-' + member.id)
  const dispatched = await call('POST', `/api/v1/foreman/cases/${number}/dispatch`,
    { team_id: member.team_id, urgency: 'urgent', urgency_reason: '临近春节' }, foremanToken)
  expect(dispatched.status).toBe(200)
  expect((await call('POST', `/api/v1/team/cases/${number}/accept`, undefined, memberToken)).status).toBe(200)
  const proof = await uploadRaw(`/api/v1/team/cases/${number}/evidence`, fs.readFileSync(PHOTO), memberToken)
  expect(proof.status).toBe(201)
  const resolved = await call('POST', `/api/v1/team/cases/${number}/resolve`, {
    outcome: 'paid_in_full',
    summary: '总包代发全部欠薪',
    proof_evidence_ids: [proof.data.id],
    payments: [{ worker: '王小明', amount_fen: 900000 }, { worker: '工人乙', amount_fen: 900000 }]
  }, memberToken)
  expect(resolved.status).toBe(200)
  return proof.data.id
}

test('worker journey: scan, report, follow, confirm the outcome and rate it', async () => {
  const { foremen, members } = backend()
  const foreman = foremen[0]
  const member = members.find(m => m.street_id === foreman.street_id)
  const wx = phone('o-worker-journey')

  // The ordinary QR link arrives as `q`, URL-encoded by WeChat.
  const link = encodeURIComponent(`${backend().url}/q/${foreman.qr_token}`)
  const card = await open(`/pages/report/index?q=${link}`)
  expect(card.text).toContain(foreman.name)
  expect(card.text).toContain(foreman.street)
  expect(card.text).toMatch(/\*\*\*\*/)
  await card.tap('.btn')
  expect(lastNavigation()).toBe('/pages/worker/complaint/index?token=' + foreman.qr_token)

  const form = await follow()
  await form.type('#name', '王小明')
  await form.event('#phone', 'getphonenumber', wx.getPhoneNumber('13800138000').detail)
  expect(form.data.form.mobile).toBe('13800138000')
  await form.type('#amount', '18000')
  await form.type('#workers', '2')
  await form.change('#month-start', '2026-09')
  await form.change('#month-end', '2026-10')
  await form.type('#site', '海景花园二期工地')
  await form.type('#employer-0', '深圳市某建筑劳务有限公司')
  await form.type('#description', '木工班组两人，9月到10月工资没发')
  wx.__state.media.push(PHOTO)
  await form.tap('#camera')
  expect(form.data.photos).toHaveLength(1)
  await form.tap('#submit')

  // The consent sheet opened from the tap with the server's template ids.
  expect(wx.__state.consents.length).toBe(1)
  expect(wx.__state.consents[0].length).toBeGreaterThan(0)
  const receipt = lastNavigation()
  expect(receipt).toMatch(/^\/pages\/worker\/case\/index\?number=YT-\d{4}-\d{6}&submitted=1$/)
  const number = /number=([^&]+)/.exec(receipt)[1]
  expect(wx.getStorageSync('wd_draft:' + foreman.qr_token)).toBe('')

  const submitted = await follow()
  expect(submitted.text).toContain('投诉已提交')
  expect(submitted.text).toContain('18,000')
  expect(submitted.text).toContain('2026年9月 至 2026年10月')
  expect(submitted.data.item.status).toBe('received')

  const mine = await open('/pages/worker/cases/index')
  expect(mine.data.cases.map(c => c.number)).toEqual([number])

  const proofId = await handleToResolution(number, foreman, member)

  const outcome = await open('/pages/worker/case/index?number=' + number)
  expect(outcome.data.item.status).toBe('resolved')
  expect(outcome.text).toContain('处理结果：已全额支付')
  expect(outcome.text).toContain('总包代发全部欠薪')
  expect(outcome.text).toContain('18,000')
  expect(outcome.data.outcome.proof.map(p => p.id)).toEqual([proofId])
  expect(outcome.text).toMatch(/已分派/)

  // The proof opens: the worker downloads it from their own case.
  await outcome.tap('#outcome .tap')
  const download = wx.__state.downloads[0]
  expect(download.statusCode).toBe(200)
  expect(fs.readFileSync(download.file).subarray(1, 4).toString()).toBe('PNG')

  await outcome.tap('#confirm')
  expect(outcome.data.error).toBe('')
  expect(outcome.data.item.status).toBe('closed')
  expect(outcome.text).toContain('已确认结案')

  // Closed without a score: the worker may still rate it once.
  expect(outcome.has('#rate')).toBe(true)
  expect(outcome.comp.querySelectorAll('.star')).toHaveLength(5)
  await outcome.tapNth('.star', 3)
  expect(outcome.data.score).toBe(4)
  await outcome.tap('#send-rating')
  expect(outcome.data.error).toBe('')
  expect(outcome.data.item.rating).toEqual({ score: 4, comment: null })
  expect(outcome.has('#rate')).toBe(false)
})

test('a notification link opens the worker\'s own case page', async () => {
  phone('o-worker-journey-link')
  const router = await open('/pages/case/index?delivery=7&number=YT-2026-000001')
  expect(lastNavigation()).toBe('/pages/worker/case/index?number=YT-2026-000001')
  expect(router.text).toContain('正在打开')
})
