// One of the worker's cases: the timeline, the outcome with amounts and proof, and what the
// worker can do now (confirm or dispute a resolution, rate, add photos, withdraw).
const api = require('../../../request.js')
const format = require('../../../format.js')
const subscribe = require('../../../subscribe.js')

const OPEN = ['received', 'dispatched', 'accepted', 'in_progress', 'returned', 'reopened']

function outcomeView (outcome) {
  if (!outcome) return null
  return Object.assign({}, outcome, {
    paidText: format.yuan(outcome.amount_paid_fen),
    payments: (outcome.payments || []).map(p => Object.assign({}, p, { amountText: format.yuan(p.amount_fen) })),
    instalments: (outcome.instalments || []).map(p => Object.assign({}, p, { amountText: format.yuan(p.amount_fen) })),
    proof: outcome.proof || []
  })
}

Component({
  data: {
    loading: false,
    error: '',
    notice: '',
    item: null,
    outcome: null,
    timeline: [],
    amountText: '',
    periodText: '',
    open: false,
    canRate: false,
    score: 0,
    disputeReason: '',
    busy: false
  },
  methods: {
    onLoad (query) {
      this.number = query.number
      if (query.submitted) {
        const failed = Number(query.photos_failed || 0)
        this.setData({
          notice: failed
            ? `投诉已提交，案件编号 ${query.number}。有 ${failed} 张照片没传上去，请在下方重新上传。`
            : `投诉已提交，案件编号 ${query.number}。工长会尽快处理。`
        })
      }
      subscribe.load()
      return this.reload()
    },
    async reload () {
      this.setData({ loading: true, error: '' })
      try {
        const item = await api.request('GET', '/api/v1/complaints/' + encodeURIComponent(this.number), null, { role: 'complainant' })
        this.show(item)
      } catch (err) {
        this.setData({ loading: false, error: err.message })
      }
    },
    show (item) {
      const start = format.monthLabel(item.period_start)
      const end = format.monthLabel(item.period_end)
      this.setData({
        loading: false,
        item,
        outcome: outcomeView(item.outcome),
        timeline: item.timeline.map(t => Object.assign({}, t, { atText: format.when(t.at) })).reverse(),
        amountText: format.yuan(item.amount_owed_fen),
        periodText: start && end && start !== end ? `${start} 至 ${end}` : (start || end),
        open: OPEN.indexOf(item.status) >= 0,
        canRate: item.status === 'closed' && !item.rating
      })
    },
    pickScore (e) {
      this.setData({ score: Number(e.currentTarget.dataset.score) })
    },
    onField (e) {
      this.setData({ [e.currentTarget.dataset.field]: e.detail.value })
    },
    async act (path, body, done) {
      this.setData({ busy: true, error: '' })
      try {
        await api.request('POST', `/api/v1/complaints/${encodeURIComponent(this.number)}/${path}`, body, { role: 'complainant' })
        this.setData({ busy: false, notice: done })
        await this.reload()
        return true
      } catch (err) {
        this.setData({ busy: false, error: err.message })
        return false
      }
    },
    confirm () {
      const body = this.data.score ? { score: this.data.score } : {}
      return this.act('confirm', body, '已确认结案，谢谢您的反馈。')
    },
    dispute () {
      const reason = this.data.disputeReason.trim()
      if (!reason) {
        this.setData({ error: '请写下有异议的原因。' })
        return Promise.resolve(false)
      }
      // A message follows when the case moves again: ask for consent from the tap.
      const consent = subscribe.ask('complainant')
      const body = { reason }
      if (this.data.score) body.score = this.data.score
      return consent.then(choice => subscribe.record(choice))
        .then(() => this.act('dispute', body, '已提交异议，案件将重新处理，区信访局会督办。'))
    },
    rate () {
      return this.act('rating', { score: this.data.score }, '评价已提交，谢谢！')
    },
    withdraw () {
      return new Promise(resolve => {
        wx.showModal({
          title: '撤回投诉',
          content: '撤回后案件不再处理，确定撤回吗？',
          confirmText: '撤回',
          cancelText: '不撤回',
          success: (res) => {
            if (!res.confirm) return resolve(false)
            resolve(this.act('withdraw', {}, '投诉已撤回。'))
          },
          fail: () => resolve(false)
        })
      })
    },
    addPhoto () {
      return new Promise(resolve => {
        wx.chooseMedia({
          count: 9,
          mediaType: ['image'],
          sourceType: ['camera', 'album'],
          sizeType: ['compressed'],
          success: async (res) => {
            this.setData({ busy: true, error: '' })
            let sent = 0
            for (const file of res.tempFiles) {
              try {
                await api.upload(`/api/v1/complaints/${encodeURIComponent(this.number)}/evidence`, file.tempFilePath, { role: 'complainant' })
                sent += 1
              } catch (err) {
                this.setData({ error: err.message })
              }
            }
            this.setData({ busy: false, notice: sent ? `已上传 ${sent} 张照片。` : this.data.notice })
            resolve(sent)
          },
          fail: () => resolve(0)
        })
      })
    },
    openProof (e) {
      const id = e.currentTarget.dataset.id
      const path = `/api/v1/complaints/${encodeURIComponent(this.number)}/evidence/${id}`
      wx.downloadFile({
        url: require('../../../config.js').apiBaseUrl + path,
        header: { Authorization: 'Bearer ' + api.getToken() },
        success: (res) => {
          if (res.statusCode !== 200) {
            this.setData({ error: '凭证暂时打不开，请稍后再试。' })
            return
          }
          wx.previewImage({ urls: [res.tempFilePath] })
        },
        fail: () => this.setData({ error: api.MESSAGES.network })
      })
    }
  }
})
