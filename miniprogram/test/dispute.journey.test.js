/** @jest-environment jsdom */
// A worker disputes the outcome with a reason: the case reopens, goes back to the foreman's
// queue flagged to the bureau, and the worker's page says so.
const fs = require('fs')
const { PHOTO, backend, phone, open } = require('./harness.js')
const { call, staffToken, fileComplaint, uploadRaw } = require('./api.js')

test('dispute journey: a disputed outcome reopens the case and flags it to the bureau', async () => {
  const { foremen, members } = backend()
  const foreman = foremen.find(f => f.name === '赵永刚')
  const member = members.find(m => m.street_id === foreman.street_id)
  const complaint = await fileComplaint('o-dispute-journey', foreman.qr_token, { workers_affected: 1, amount_owed_fen: 500000 })
  const foremanToken = await staffToken(foreman, 'o-dj-foreman')
  const memberToken = await staffToken(member, 'o-dj-member')
  await call('POST', `/api/v1/foreman/cases/${complaint.number}/dispatch`,
    { team_id: member.team_id, urgency: 'normal', urgency_reason: '金额较小' }, foremanToken)
  await call('POST', `/api/v1/team/cases/${complaint.number}/accept`, undefined, memberToken)
  const proof = await uploadRaw(`/api/v1/team/cases/${complaint.number}/evidence`, fs.readFileSync(PHOTO), memberToken)
  const resolved = await call('POST', `/api/v1/team/cases/${complaint.number}/resolve`, {
    outcome: 'paid_in_part',
    summary: '老板先付了一半',
    proof_evidence_ids: [proof.data.id],
    payments: [{ worker: '李大强', amount_fen: 250000 }]
  }, memberToken)
  expect(resolved.status).toBe(200)

  const wx = phone('o-dispute-journey')
  const page = await open('/pages/worker/case/index?number=' + complaint.number)
  expect(page.text).toContain('处理结果：已部分支付')
  expect(page.text).toContain('2,500')

  await page.tap('#dispute')
  expect(page.data.error).toBe('请写下有异议的原因。')
  expect(page.data.item.status).toBe('resolved')
  await page.type('#dispute-reason', '只收到一半工资，剩下的老板说不给了')
  await page.tapNth('.star', 0)
  await page.tap('#dispute')
  expect(page.data.error).toBe('')
  expect(wx.__state.consents.length).toBe(1)
  expect(page.data.item.status).toBe('reopened')
  expect(page.text).toContain('已提交异议')
  expect(page.has('#followup')).toBe(false)

  const queue = await call('GET', '/api/v1/foreman/queue', undefined, foremanToken)
  const back = queue.data.cases.find(c => c.number === complaint.number)
  expect(back.status).toBe('reopened')
  expect(back.flagged_to_bureau).toBe(true)
})
