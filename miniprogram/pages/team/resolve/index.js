// Resolve with the outcome: paid outcomes need proof photos and the amount each worker got,
// an instalment plan its instalments, "unsubstantiated" a summary (the server checks the same).
const api = require('../../../request.js')
const format = require('../../../format.js')

const OUTCOMES = [
  { value: 'paid_in_full', label: '已全额支付' },
  { value: 'paid_in_part', label: '已部分支付' },
  { value: 'instalment_plan', label: '达成分期支付协议' },
  { value: 'transferred_inspection', label: '移交劳动监察' },
  { value: 'transferred_arbitration', label: '引导申请劳动仲裁' },
  { value: 'transferred_court', label: '引导向法院起诉' },
  { value: 'unsubstantiated', label: '经核查投诉不属实' }
]
const PAID = ['paid_in_full', 'paid_in_part']
const TRANSFER = ['transferred_inspection', 'transferred_arbitration', 'transferred_court']

Component({
  data: {
    outcomes: OUTCOMES,
    outcome: '',
    paid: false,
    transfer: false,
    summary: '',
    payments: [{ worker: '', yuan: '' }],
    instalments: [{ due_date: '', yuan: '' }],
    transferReference: '',
    photos: [],
    proofIds: [],
    paidText: '0',
    today: format.localToday(),
    error: '',
    busy: false
  },
  methods: {
    onLoad (query) {
      this.number = query.number
    },
    path (action) {
      return `/api/v1/team/cases/${encodeURIComponent(this.number)}/${action}`
    },
    pickOutcome (e) {
      const outcome = e.currentTarget.dataset.value
      this.setData({
        outcome,
        paid: PAID.indexOf(outcome) >= 0,
        transfer: TRANSFER.indexOf(outcome) >= 0,
        error: ''
      })
    },
    onField (e) {
      this.setData({ [e.currentTarget.dataset.field]: e.detail.value })
    },
    onPayment (e) {
      const { index, key } = e.currentTarget.dataset
      this.setData({ [`payments[${index}].${key}`]: e.detail.value })
      const total = this.data.payments.reduce((sum, p) => sum + (format.fenFromYuan(p.yuan) || 0), 0)
      this.setData({ paidText: format.yuan(total) })
    },
    addPayment () {
      this.setData({ payments: this.data.payments.concat([{ worker: '', yuan: '' }]) })
    },
    onInstalment (e) {
      const { index, key } = e.currentTarget.dataset
      this.setData({ [`instalments[${index}].${key}`]: e.detail.value })
    },
    addInstalment () {
      this.setData({ instalments: this.data.instalments.concat([{ due_date: '', yuan: '' }]) })
    },
    takePhoto () {
      return new Promise(resolve => {
        wx.chooseMedia({
          count: 9,
          mediaType: ['image'],
          sourceType: ['camera'],
          sizeType: ['compressed'],
          success: (res) => {
            this.setData({ photos: this.data.photos.concat(res.tempFiles.map(f => f.tempFilePath)) })
            resolve(res.tempFiles.length)
          },
          fail: () => resolve(0)
        })
      })
    },
    // The body, or a Chinese reason why it is not complete yet.
    body () {
      const d = this.data
      const body = { outcome: d.outcome, summary: d.summary.trim() }
      if (d.paid) {
        const payments = d.payments.filter(p => p.worker.trim() || p.yuan)
        if (!payments.length) return '请填写每名工人实收的金额。'
        for (const p of payments) {
          if (!p.worker.trim() || !format.fenFromYuan(p.yuan)) return '每一行都要填工人和金额。'
        }
        if (!d.photos.length && !d.proofIds.length) return '已支付的案件必须拍支付凭证。'
        body.payments = payments.map(p => ({ worker: p.worker.trim(), amount_fen: format.fenFromYuan(p.yuan) }))
      }
      if (d.outcome === 'instalment_plan') {
        const rows = d.instalments.filter(i => i.due_date || i.yuan)
        if (!rows.length || rows.some(i => !i.due_date || !format.fenFromYuan(i.yuan))) {
          return '请填写每一期的日期和金额。'
        }
        body.instalments = rows.map(i => ({ due_date: i.due_date, amount_fen: format.fenFromYuan(i.yuan) }))
      }
      if (d.transfer && d.transferReference.trim()) body.transfer_reference = d.transferReference.trim()
      if (d.outcome === 'unsubstantiated' && !body.summary) return '请写明核查情况。'
      return body
    },
    async submit () {
      const body = this.body()
      if (typeof body === 'string') {
        this.setData({ error: body })
        return null
      }
      this.setData({ busy: true, error: '' })
      // Proof first; photos that arrived are not sent twice when the person retries.
      const left = []
      const ids = this.data.proofIds.slice()
      for (const photo of this.data.photos) {
        try {
          const out = await api.upload(this.path('evidence'), photo, { role: 'team_member' })
          ids.push(out.id)
        } catch (err) {
          left.push(photo)
          this.setData({ error: err.message })
        }
      }
      this.setData({ photos: left, proofIds: ids })
      if (left.length) {
        this.setData({ busy: false })
        return null
      }
      if (this.data.paid) body.proof_evidence_ids = ids
      try {
        const out = await api.request('POST', this.path('resolve'), body, { role: 'team_member' })
        this.setData({ busy: false })
        wx.redirectTo({ url: `/pages/team/case/index?number=${this.number}&resolved=1` })
        return out
      } catch (err) {
        this.setData({ busy: false, error: err.message })
        return null
      }
    }
  }
})
